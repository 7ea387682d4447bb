"""The Inception module of GoogLeNet.

Szegedy et al., "Going deeper with convolutions", CVPR 2015 (arXiv:1409.4842), Figure 2(b)
and Table 1. Four branches see the same input and are concatenated along channels:

- ``1x1``: a 1x1 convolution (table column "#1x1");
- ``3x3_reduce`` -> ``3x3``: a 1x1 reduction ("#3x3 reduce") then a 3x3 convolution ("#3x3");
- ``5x5_reduce`` -> ``5x5``: a 1x1 reduction ("#5x5 reduce") then a true 5x5 convolution
  ("#5x5"; Inception-v2 and torchvision's GoogLeNet use a 3x3 there instead);
- ``pool`` -> ``pool_proj``: 3x3 max pooling with stride 1 then a 1x1 projection
  ("pool proj").

"All the convolutions, including those inside the Inception modules, use rectified linear
activation" and have biases; the paper has no batch normalization (it came later). Output
channels: ``filters_1x1 + filters_3x3 + filters_5x5 + pool_proj`` (256 for inception (3a)).
"""

from __future__ import annotations

import keras
from keras import ops

from kcnn import activations
from kcnn._checks import check_activation, check_bool, check_int

__all__ = ["InceptionModule"]


@keras.saving.register_keras_serializable(package="kcnn")
class InceptionModule(keras.layers.Layer):
    """GoogLeNet's Inception module (Figure 2(b) of the paper), arguments named after the
    columns of its Table 1.

    Example, inception (3a):

        >>> block = InceptionModule(filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128,
        ...                         filters_5x5_reduce=16, filters_5x5=32, pool_proj=32,
        ...                         name="inception3a")

    Args:
        filters_1x1: filters of the 1x1 branch ("#1x1").
        filters_3x3_reduce: filters of the 1x1 reduction before the 3x3 ("#3x3 reduce").
        filters_3x3: filters of the 3x3 convolution ("#3x3").
        filters_5x5_reduce: filters of the 1x1 reduction before the 5x5 ("#5x5 reduce").
        filters_5x5: filters of the 5x5 convolution ("#5x5").
        pool_proj: filters of the 1x1 projection after 3x3/1 max pooling ("pool proj").
        activation: activation of every convolution ("relu" in the paper); a Keras or kcnn
            name without weights.
        use_bias: whether the convolutions have biases (True in the paper).
        kernel_initializer: initializer of the convolution kernels.
        **kwargs: base layer arguments (``name``, ``dtype``).

    Sublayers (attributes and names): ``1x1``, ``3x3_reduce``, ``3x3``, ``5x5_reduce``,
    ``5x5``, ``pool``, ``pool_proj``; ``sublayer_shapes`` lists them with their shapes for
    ``kcnn.summary``.
    """

    BRANCH_ARGS = ("filters_1x1", "filters_3x3_reduce", "filters_3x3", "filters_5x5_reduce",
                   "filters_5x5", "pool_proj")

    def __init__(self, filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce,
                 filters_5x5, pool_proj, activation="relu", use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        values = (filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce,
                  filters_5x5, pool_proj)
        for arg, value in zip(self.BRANCH_ARGS, values):
            check_int(arg, value, minimum=1)
        (self.filters_1x1, self.filters_3x3_reduce, self.filters_3x3,
         self.filters_5x5_reduce, self.filters_5x5, self.pool_proj) = (int(v) for v in values)
        if isinstance(activation, dict):  # a serialized callable, from get_config
            activation = keras.saving.deserialize_keras_object(activation)
        if isinstance(activation, str) and activation.lower() in activations.CUSTOM_LAYERS:
            raise ValueError("`activation` must be an activation without weights or training "
                             f"mode. Received: activation={activation!r}")
        check_activation("activation", activation)
        self.activation = activation
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = kernel_initializer

        act = activations.get(activation, argument="activation")

        def conv(filters, size, name):
            return keras.layers.Conv2D(
                filters, size, padding="same", activation=act, use_bias=use_bias,
                kernel_initializer=kernel_initializer, dtype=self.dtype_policy, name=name)

        # === Branches ===
        self.branch_1x1 = conv(self.filters_1x1, 1, "1x1")
        self.branch_3x3_reduce = conv(self.filters_3x3_reduce, 1, "3x3_reduce")
        self.branch_3x3 = conv(self.filters_3x3, 3, "3x3")
        self.branch_5x5_reduce = conv(self.filters_5x5_reduce, 1, "5x5_reduce")
        self.branch_5x5 = conv(self.filters_5x5, 5, "5x5")
        self.branch_pool = keras.layers.MaxPooling2D(3, strides=1, padding="same",
                                                     dtype=self.dtype_policy, name="pool")
        self.branch_pool_proj = conv(self.pool_proj, 1, "pool_proj")

    @property
    def output_channels(self):
        """``filters_1x1 + filters_3x3 + filters_5x5 + pool_proj``."""
        return self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.pool_proj

    def sublayer_shapes(self, input_shape):
        """Each sublayer with the shapes it sees, in branch order.

        Returns:
            A list of ``(sublayer, input_shape, output_shape)`` tuples.
        """
        input_shape = tuple(input_shape)
        base = input_shape[:-1]
        r3 = base + (self.filters_3x3_reduce,)
        r5 = base + (self.filters_5x5_reduce,)
        return [
            (self.branch_1x1, input_shape, base + (self.filters_1x1,)),
            (self.branch_3x3_reduce, input_shape, r3),
            (self.branch_3x3, r3, base + (self.filters_3x3,)),
            (self.branch_5x5_reduce, input_shape, r5),
            (self.branch_5x5, r5, base + (self.filters_5x5,)),
            (self.branch_pool, input_shape, input_shape),
            (self.branch_pool_proj, input_shape, base + (self.pool_proj,)),
        ]

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError("InceptionModule expects inputs of shape (batch, height, width, "
                             f"channels). Received: input_shape={input_shape}")
        if input_shape[-1] is None:
            raise ValueError("InceptionModule needs a known number of input channels. "
                             f"Received: input_shape={input_shape}")
        for layer, in_shape, _ in self.sublayer_shapes(input_shape):
            layer.build(in_shape)

    def call(self, inputs):
        branch_1x1 = self.branch_1x1(inputs)
        branch_3x3 = self.branch_3x3(self.branch_3x3_reduce(inputs))
        branch_5x5 = self.branch_5x5(self.branch_5x5_reduce(inputs))
        branch_pool = self.branch_pool_proj(self.branch_pool(inputs))
        return ops.concatenate([branch_1x1, branch_3x3, branch_5x5, branch_pool], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_channels,)

    def get_config(self):
        return {**super().get_config(), "filters_1x1": self.filters_1x1,
                "filters_3x3_reduce": self.filters_3x3_reduce, "filters_3x3": self.filters_3x3,
                "filters_5x5_reduce": self.filters_5x5_reduce, "filters_5x5": self.filters_5x5,
                "pool_proj": self.pool_proj, "activation": _serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": _serialize(self.kernel_initializer)}


def _serialize(value):
    """Strings and None as they are; objects and callables in Keras's serialized form."""
    if value is None or isinstance(value, (str, dict)):
        return value
    return keras.saving.serialize_keras_object(value)
