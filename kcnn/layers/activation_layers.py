"""Activation layers from the lecture notes' table (seed 004) that Keras 3 lacks.

Keras already has ReLU, LeakyReLU, PReLU and ELU layers; kcnn adds:

======================  =========================================================  ======
name                    formula                                                    year
======================  =========================================================  ======
``Maxout``              ``y = max(W_1 x + b_1, ..., W_k x + b_k)``                 2013
``APL``                 ``y = max(x, 0) + sum_s a^s max(0, -x + b^s)``             2014
``RReLU``               ``y = max(x, alpha x)``, ``alpha ~ U(lower, upper)``       2015
======================  =========================================================  ======

``APL`` and ``RReLU`` have weights or a training mode, so they are layers; builders accept
them by name through ``kcnn.activations.layer("apl")`` / ``layer("rrelu")``. ``Maxout``
changes the number of channels (``k`` pieces per unit), so it is a layer with its own
``num_pieces`` argument placed after a convolution or dense layer with ``k`` times the units.
The elementwise functions (``centered_softplus``, ``vrelu``, ``lecun_tanh``) are in
:mod:`kcnn.activations`.
"""


from __future__ import annotations

import keras
from keras import ops

from kcnn import activations as _activations
from kcnn._checks import check_bool, check_float, check_int

__all__ = ["APL", "RReLU", "Maxout"]


# === Layers ===

@keras.saving.register_keras_serializable(package="kcnn")
class APL(keras.layers.Layer):
    """Adaptive piecewise linear unit with ``num_hinges`` learned hinges.

    Agostinelli, Hoffman, Sadowski and Baldi, "Learning activation functions to improve deep
    neural networks", ICLR 2015 workshop (arXiv:1412.6830)::

        h(x) = max(0, x) + sum_{s=1}^{S} a^s * max(0, -x + b^s)

    ``a^s`` (slopes) and ``b^s`` (hinge locations) are learned; ``S`` is a hyperparameter
    (the paper uses S = 5 on CIFAR-10, 2 on CIFAR-100, 1 on Higgs boson decays).

    Args:
        num_hinges: ``S``, the number of hinges.
        per_channel: True (default) learns one activation per channel, shared over the other
            axes (e.g. the spatial positions of a feature map); False learns one per unit
            (every element of the input's shape, as the paper's Caffe layer does), which
            needs a fully known input shape.
        a_initializer: initializer of the slopes ``a``; None uses the paper's code's
            ``uniform(-0.5 / S, 0.5 / S)``.
        b_initializer: initializer of the hinge locations ``b``; None uses the paper's
            code's ``normal(0, 0.5)``.
        a_regularizer, b_regularizer: optional regularizers (the paper applies an L2 penalty
            of 0.001 to both).
        **kwargs: base layer arguments (``name``, ``dtype``).

    Weights: ``a`` and ``b``, each of shape ``(num_hinges, channels)`` (per channel) or
    ``(num_hinges, *input_shape[1:])`` (per unit). Output: the input's shape.
    """

    def __init__(self, num_hinges=1, per_channel=True, a_initializer=None, b_initializer=None,
                 a_regularizer=None, b_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_hinges = check_int("num_hinges", num_hinges, minimum=1)
        self.per_channel = check_bool("per_channel", per_channel)
        self.a_initializer = (None if a_initializer is None
                              else keras.initializers.get(a_initializer))
        self.b_initializer = (None if b_initializer is None
                              else keras.initializers.get(b_initializer))
        self.a_regularizer = keras.regularizers.get(a_regularizer)
        self.b_regularizer = keras.regularizers.get(b_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError("APL expects inputs of rank >= 2 (batch first). "
                             f"Received: input_shape={input_shape}")
        if self.per_channel:
            if input_shape[-1] is None:
                raise ValueError("APL with `per_channel=True` needs a known number of "
                                 f"channels. Received: input_shape={input_shape}")
            units = (input_shape[-1],)
        else:
            if any(d is None for d in input_shape[1:]):
                raise ValueError("APL with `per_channel=False` needs every non-batch "
                                 f"dimension known. Received: input_shape={input_shape}")
            units = tuple(input_shape[1:])
        shape = (self.num_hinges, *units)
        bound = 0.5 / self.num_hinges
        a_init = self.a_initializer or keras.initializers.RandomUniform(-bound, bound)
        b_init = self.b_initializer or keras.initializers.RandomNormal(stddev=0.5)
        self.a = self.add_weight(name="a", shape=shape, initializer=a_init,
                                 regularizer=self.a_regularizer)
        self.b = self.add_weight(name="b", shape=shape, initializer=b_init,
                                 regularizer=self.b_regularizer)

    def call(self, inputs):
        x = ops.expand_dims(inputs, 1)  # (batch, 1, ...) against the hinges' (S, ...)
        a = ops.cast(self.a, inputs.dtype)
        b = ops.cast(self.b, inputs.dtype)
        if self.per_channel:  # (S, channels) -> (S, 1, ..., 1, channels)
            shape = (self.num_hinges,) + (1,) * (len(inputs.shape) - 2) + (-1,)
            a, b = ops.reshape(a, shape), ops.reshape(b, shape)
        hinges = ops.sum(ops.multiply(a, ops.relu(ops.subtract(b, x))), axis=1)
        return ops.add(ops.relu(inputs), hinges)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_hinges": self.num_hinges,
            "per_channel": self.per_channel,
            "a_initializer": (None if self.a_initializer is None
                              else keras.initializers.serialize(self.a_initializer)),
            "b_initializer": (None if self.b_initializer is None
                              else keras.initializers.serialize(self.b_initializer)),
            "a_regularizer": keras.regularizers.serialize(self.a_regularizer),
            "b_regularizer": keras.regularizers.serialize(self.b_regularizer),
        })
        return config


RRELU_LOWER = 1.0 / 8.0
RRELU_UPPER = 1.0 / 3.0


@keras.saving.register_keras_serializable(package="kcnn")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU: a random negative slope in training, its mean at inference.

    Xu, Wang, Chen and Li, "Empirical evaluation of rectified activations in convolutional
    network", 2015 (arXiv:1505.00853)::

        training:   y = x if x >= 0 else alpha * x,  alpha ~ U(lower, upper) per element
        inference:  y = x if x >= 0 else (lower + upper) / 2 * x

    The paper writes the slope as ``1 / a`` with ``a ~ U(3, 8)``; the defaults
    ``lower = 1/8, upper = 1/3`` are that range (and PyTorch's ``nn.RReLU`` defaults). Seed
    004's table gives ``alpha = random(0.1, 0.5)``: ``RReLU(lower=0.1, upper=0.5)``. At
    inference the layer uses the mean slope ``(lower + upper) / 2``, as PyTorch does (the
    paper divides by the mean of ``a``, a slope of 2/11 instead of 11/48).

    Args:
        lower: smallest slope, in [0, 1].
        upper: largest slope, in [lower, 1].
        seed: optional integer seed; with a seed the slopes drawn in training are reproducible.
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    def __init__(self, lower=RRELU_LOWER, upper=RRELU_UPPER, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.lower = check_float("lower", lower, minimum=0.0, maximum=1.0)
        self.upper = check_float("upper", upper, minimum=0.0, maximum=1.0)
        if self.upper < self.lower:
            raise ValueError("`upper` must be >= `lower`. "
                             f"Received: lower={lower!r}, upper={upper!r}")
        if seed is not None:
            check_int("seed", seed, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training and self.upper > self.lower:
            slope = keras.random.uniform(ops.shape(inputs), minval=self.lower,
                                         maxval=self.upper, dtype=self.compute_dtype,
                                         seed=self.seed_generator)
            slope = ops.cast(slope, inputs.dtype)
        else:
            slope = ops.cast((self.lower + self.upper) / 2.0, inputs.dtype)
        return ops.where(ops.greater_equal(inputs, 0), inputs, ops.multiply(slope, inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"lower": self.lower, "upper": self.upper, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="kcnn")
class Maxout(keras.layers.Layer):
    """Maxout: the maximum over ``num_pieces`` linear pieces per unit.

    Goodfellow, Warde-Farley, Mirza, Courville and Bengio, "Maxout networks", ICML 2013
    (arXiv:1302.4389): ``h_i(x) = max_j z_ij`` with ``z_ij = x W_ij + b_ij``, ``j = 1..k``.
    Place it after a ``Dense`` or ``Conv2D`` with ``k * units`` outputs: channel
    ``i * k + j`` (``j`` in ``0..k-1``) is piece ``j`` of unit ``i`` (consecutive channels
    form a unit), and the output has ``units`` channels.

    Args:
        num_pieces: ``k``, the number of pieces per unit (>= 1); the input's channel count
            must be a multiple of it.
        axis: the channel axis (default -1, channels last).
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    def __init__(self, num_pieces=2, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.num_pieces = check_int("num_pieces", num_pieces, minimum=1)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"`axis` must be an integer. Received: axis={axis!r}")
        self.axis = axis

    def _channel_axis(self, rank):
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"`axis` must name a non-batch axis of the {rank}-D input. "
                             f"Received: axis={self.axis}")
        return axis

    def build(self, input_shape):
        axis = self._channel_axis(len(input_shape))
        channels = input_shape[axis]
        if channels is None or channels % self.num_pieces:
            raise ValueError(
                f"Maxout needs a number of channels that is a multiple of num_pieces="
                f"{self.num_pieces}: put {self.num_pieces} times the units in the layer "
                f"before it. Received: input_shape={input_shape}")

    def call(self, inputs):
        rank = len(inputs.shape)
        axis = self._channel_axis(rank)
        shape = list(ops.shape(inputs))
        shape[0] = -1
        units = inputs.shape[axis] // self.num_pieces
        pieces = ops.reshape(inputs, shape[:axis] + [units, self.num_pieces] + shape[axis + 1:])
        return ops.max(pieces, axis=axis + 1)

    def compute_output_shape(self, input_shape):
        axis = self._channel_axis(len(input_shape))
        shape = list(input_shape)
        shape[axis] = None if shape[axis] is None else shape[axis] // self.num_pieces
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"num_pieces": self.num_pieces, "axis": self.axis})
        return config


# === Registration with kcnn.activations ===

_activations.CUSTOM_LAYERS.update({"apl": APL, "rrelu": RReLU})
