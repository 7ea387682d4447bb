"""The residual blocks of ResNet.

He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385), section 3 and Figure 5. A block computes ``y = relu(F(x) + shortcut(x))``:

- ``BasicBlock`` (Figure 5 left, ResNet-18/34 and the CIFAR ResNets): ``F`` is two 3x3
  convolutions; output channels ``filters`` (``expansion = 1``).
- ``BottleneckBlock`` (Figure 5 right, ResNet-50/101/152): ``F`` is 1x1 (reduce) - 3x3 -
  1x1 (expand to ``4 * filters``; ``expansion = 4``).

Every convolution is followed by batch normalization "right after each convolution and before
activation" (section 3.4), so the convolutions have no bias. Shortcuts (section 3.3):

- ``"A"``: identity; where the shape changes, the input is subsampled with the block's stride
  and padded with zero channels (the paper's option A, used for CIFAR-10 in section 4.2; the
  zero channels are appended after the input channels, as in fb.resnet.torch's
  ``shortcutType 'A'``). No parameters.
- ``"B"``: identity, or a 1x1 projection (convolution + BN) where the shape changes (the
  paper's ImageNet networks): the torchvision rule
  ``strides != 1 or in_channels != filters * expansion``.
- ``"C"``: a projection on every block.

Where the stride is 2 on a 3x3 convolution, the input is zero-padded by one pixel on each side
and convolved without further padding (sublayer ``1_pad``/``2_pad``), as Caffe, Torch and
torchvision do; Keras's ``padding="same"`` would pad only the bottom and right of even-sized
inputs and shift the sampling grid by one pixel against the shortcut's subsampling.

Batch normalization uses ``epsilon=1e-5`` and ``momentum=0.9`` (moving average keeps 90% of
the old value), the values of torchvision (``eps=1e-5``, ``momentum=0.1`` in its convention)
and of the Caffe/Torch releases; keras.applications uses ``epsilon=1.001e-5`` and
``momentum=0.99``.

Sublayers, as ``attribute (name)``, in the order they run:

- ``shortcut_conv`` (0_conv), ``shortcut_bn`` (0_bn): the projection of shortcut B/C where it
  applies, else None;
- ``shortcut_pad`` (0_pad): option A's ``ZeroPaddedIdentity`` where the shape changes, else
  None;
- ``pad1`` (1_pad, basic block) or ``pad2`` (2_pad, bottleneck): symmetric zero padding
  before a strided 3x3, else None;
- ``conv1``, ``bn1``, ``relu1`` (1_conv, 1_bn, 1_relu);
- ``conv2``, ``bn2`` (2_conv, 2_bn), and ``relu2`` (2_relu) in the bottleneck;
- ``conv3``, ``bn3`` (3_conv, 3_bn), bottleneck only;
- ``add`` (add): the residual sum; ``out`` (out): the final activation.

Weights are named after them: ``conv2_block1/1_conv/kernel``, ``conv2_block1/0_bn/gamma``.

``conv_bn_pairs()`` returns every (convolution, batch normalization) pair of a block, for
folding BN into the convolutions at inference; ``sublayer_shapes(input_shape)`` lists each
sublayer with the shapes it sees, for ``kcnn.summary``.
"""

from __future__ import annotations

import keras
from keras import ops

from kcnn import activations
from kcnn._checks import check_activation, check_bool, check_choice, check_float, check_int
from kcnn.initializers import HE_GAUSSIAN

__all__ = ["BasicBlock", "BottleneckBlock", "ZeroPaddedIdentity", "SHORTCUTS"]

SHORTCUTS = ("A", "B", "C")


def _serialize(value):
    """Strings and None as they are; objects and callables in Keras's serialized form."""
    if value is None or isinstance(value, (str, dict)):
        return value
    return keras.saving.serialize_keras_object(value)


@keras.saving.register_keras_serializable(package="kcnn")
class ZeroPaddedIdentity(keras.layers.Layer):
    """The parameter-free shortcut of option A: ``x[:, ::s, ::s, :]`` followed by
    ``filters - channels`` zero channels appended after the input's channels.

    Args:
        filters: number of output channels (at least the number of input channels).
        strides: spatial subsampling step.
        **kwargs: base layer arguments.
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        self.strides = check_int("strides", strides, minimum=1)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels > self.filters:
            raise ValueError(
                f"The option A shortcut {self.name!r} pads channels with zeros and cannot "
                f"reduce {channels} input channels to filters={self.filters}; use "
                "shortcut='B'. Received: input_shape="
                f"{tuple(input_shape)}")

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return x

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s),
                self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


class _ResidualBlock(keras.layers.Layer):
    """What both blocks share: arguments, shortcut choice, shapes, call."""

    expansion = 1

    def __init__(self, filters, strides=1, shortcut="B", zero_init_residual=False,
                 activation="relu", bn_momentum=0.9, bn_epsilon=1e-5,
                 kernel_initializer=HE_GAUSSIAN, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        self.strides = check_int("strides", strides, minimum=1)
        self.shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
        self.zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        if isinstance(activation, dict):  # a serialized callable, from get_config
            activation = keras.saving.deserialize_keras_object(activation)
        if activation is None or (isinstance(activation, str)
                                  and activation.lower() in activations.CUSTOM_LAYERS):
            raise ValueError("`activation` must be an activation without weights or training "
                             f"mode. Received: activation={activation!r}")
        check_activation("activation", activation)
        self.activation = activation
        self.bn_momentum = check_float("bn_momentum", bn_momentum, minimum=0.0, maximum=1.0,
                                       max_inclusive=False)
        self.bn_epsilon = check_float("bn_epsilon", bn_epsilon, minimum=0.0,
                                      min_inclusive=False)
        if isinstance(kernel_initializer, dict):
            kernel_initializer = keras.saving.deserialize_keras_object(kernel_initializer)
        keras.initializers.get(kernel_initializer)  # raises for an unknown name
        self.kernel_initializer = kernel_initializer
        self.shortcut_conv = self.shortcut_bn = self.shortcut_pad = None
        self.add = keras.layers.Add(dtype=self.dtype_policy, name="add")
        self.out = self._act("out")

    # === Sublayer factories ===
    def _conv(self, filters, size, name, strides=1):
        return keras.layers.Conv2D(
            filters, size, strides=strides, padding="valid" if strides > 1 else "same",
            use_bias=False, kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy, name=name)

    def _bn(self, name, zero_gamma=False):
        return keras.layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon,
            gamma_initializer="zeros" if zero_gamma else "ones", dtype=self.dtype_policy,
            name=name)

    def _act(self, name):
        return keras.layers.Activation(activations.get(self.activation), dtype=self.dtype_policy,
                                       name=name)

    def _pad(self, name):
        return keras.layers.ZeroPadding2D(1, dtype=self.dtype_policy, name=name)

    # === Structure ===
    @property
    def output_channels(self):
        """``filters * expansion``."""
        return self.filters * self.expansion

    def _residual_layers(self):
        """The layers of F(x), in order (None entries are skipped)."""
        raise NotImplementedError

    def _shortcut_layers(self):
        return [layer for layer in (self.shortcut_conv, self.shortcut_bn, self.shortcut_pad)
                if layer is not None]

    def conv_bn_pairs(self):
        """Every ``(Conv2D, BatchNormalization)`` pair of the block, shortcut first."""
        pairs = [(self.shortcut_conv, self.shortcut_bn)] if self.shortcut_conv else []
        layers = [layer for layer in self._residual_layers() if layer is not None]
        pairs += [(a, b) for a, b in zip(layers, layers[1:])
                  if isinstance(a, keras.layers.Conv2D)
                  and isinstance(b, keras.layers.BatchNormalization)]
        return pairs

    def _shapes(self, input_shape):
        input_shape = tuple(input_shape)
        rows = []
        shape = input_shape
        for layer in self._shortcut_layers():
            out = tuple(layer.compute_output_shape(shape))
            rows.append((layer, shape, out))
            shape = out
        shortcut_shape = shape
        shape = input_shape
        for layer in self._residual_layers():
            if layer is None:
                continue
            out = tuple(layer.compute_output_shape(shape))
            rows.append((layer, shape, out))
            shape = out
        rows.append((self.add, [shortcut_shape, shape], shape))
        rows.append((self.out, shape, shape))
        return rows

    def sublayer_shapes(self, input_shape):
        """Each sublayer with the shapes it sees, in execution order (shortcut first, as
        keras.applications numbers it ``0_``). Builds the block if needed.

        Args:
            input_shape: the block's input shape, batch dimension included.

        Returns:
            A list of ``(sublayer, input_shape, output_shape)`` tuples; the input shape of
            ``add`` is the list of its two input shapes.
        """
        if not self.built:
            self.build(input_shape)
        return self._shapes(input_shape)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (batch, height, "
                             f"width, channels). Received: input_shape={tuple(input_shape)}")
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(f"{type(self).__name__} needs a known number of input channels. "
                             f"Received: input_shape={tuple(input_shape)}")
        reshaped = self.strides != 1 or in_channels != self.output_channels
        if self.shortcut == "C" or (self.shortcut == "B" and reshaped):
            self.shortcut_conv = self._conv(self.output_channels, 1, "0_conv", self.strides)
            self.shortcut_bn = self._bn("0_bn")
        elif self.shortcut == "A" and reshaped:
            if in_channels > self.output_channels:
                raise ValueError(
                    f"Block {self.name!r}: shortcut 'A' pads channels with zeros and cannot "
                    f"reduce {in_channels} input channels to {self.output_channels}; use "
                    f"shortcut='B'. Received: input_shape={tuple(input_shape)}")
            self.shortcut_pad = ZeroPaddedIdentity(self.output_channels, self.strides,
                                                   dtype=self.dtype_policy, name="0_pad")
        for layer, in_shape, _ in self._shapes(input_shape):
            layer.build(in_shape)

    def call(self, inputs, training=None):
        shortcut = inputs
        for layer in self._shortcut_layers():
            shortcut = _apply(layer, shortcut, training)
        x = inputs
        for layer in self._residual_layers():
            if layer is not None:
                x = _apply(layer, x, training)
        return self.out(self.add([shortcut, x]))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s),
                self.output_channels)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "shortcut": self.shortcut, "zero_init_residual": self.zero_init_residual,
                "activation": _serialize(self.activation), "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
                "kernel_initializer": _serialize(self.kernel_initializer)}


def _apply(layer, x, training):
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer(x, training=training)
    return layer(x)


@keras.saving.register_keras_serializable(package="kcnn")
class BasicBlock(_ResidualBlock):
    """ResNet's basic block (Figure 5 left): 3x3 conv - BN - ReLU - 3x3 conv - BN, plus the
    shortcut, then ReLU. The stride is on the first 3x3 convolution. Output channels:
    ``filters`` (``expansion = 1``).

    Example, the first block of ResNet-34's second stage:

        >>> block = BasicBlock(128, strides=2, name="conv3_block1")

    Args:
        filters: channels of both 3x3 convolutions (64, 128, 256, 512 in ResNet-18/34;
            16, 32, 64 in the CIFAR ResNets).
        strides: stride of the first 3x3 convolution (and of the shortcut).
        shortcut: "A", "B" or "C" (module docstring); "B" by default.
        zero_init_residual: start the last BN's scale (gamma) at zero, so that every
            block starts as ``relu(shortcut(x))`` (Goyal et al. 2017, torchvision's
            ``zero_init_residual``).
        activation: activation after each BN and after the sum ("relu" in the paper); a
            Keras or kcnn name without weights.
        bn_momentum: moving-average momentum of every BN (0.9; keras.applications 0.99).
        bn_epsilon: epsilon of every BN (1e-5; keras.applications 1.001e-5).
        kernel_initializer: convolution kernel initializer: by default the untruncated
            Gaussian N(0, 2 / fan_in) of the paper's reference [13]
            (``kcnn.initializers.HeGaussian``); "he_normal" is Keras's truncated variant.
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    expansion = 1

    def __init__(self, filters, strides=1, shortcut="B", zero_init_residual=False,
                 activation="relu", bn_momentum=0.9, bn_epsilon=1e-5,
                 kernel_initializer=HE_GAUSSIAN, **kwargs):
        super().__init__(filters, strides=strides, shortcut=shortcut,
                         zero_init_residual=zero_init_residual, activation=activation,
                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                         kernel_initializer=kernel_initializer, **kwargs)
        # === Residual function F ===
        self.pad1 = self._pad("1_pad") if self.strides > 1 else None
        self.conv1 = self._conv(self.filters, 3, "1_conv", self.strides)
        self.bn1 = self._bn("1_bn")
        self.relu1 = self._act("1_relu")
        self.conv2 = self._conv(self.filters, 3, "2_conv")
        self.bn2 = self._bn("2_bn", zero_gamma=self.zero_init_residual)

    def _residual_layers(self):
        return [self.pad1, self.conv1, self.bn1, self.relu1, self.conv2, self.bn2]


@keras.saving.register_keras_serializable(package="kcnn")
class BottleneckBlock(_ResidualBlock):
    """ResNet's bottleneck block (Figure 5 right): 1x1 conv (``filters``) - BN - ReLU -
    3x3 conv (``filters``) - BN - ReLU - 1x1 conv (``4 * filters``) - BN, plus the shortcut,
    then ReLU. Output channels: ``4 * filters`` (``expansion = 4``).

    The paper's ResNet v1 (and keras.applications) put the stride on the first 1x1
    convolution; ``stride_in_3x3=True`` moves it to the 3x3 convolution ("ResNet v1.5",
    torchvision and the NVIDIA reference), which keeps the 1x1 from skipping three quarters of
    its input.

    Example, the first block of ResNet-50's third stage:

        >>> block = BottleneckBlock(128, strides=2, name="conv3_block1")  # 512 outputs

    Args:
        filters: channels of the 1x1 reduction and the 3x3 convolution (64, 128, 256, 512
            in ResNet-50/101/152).
        strides: stride of the block (on the first 1x1, or on the 3x3 with
            ``stride_in_3x3``, and on the shortcut).
        shortcut: "A", "B" or "C" (module docstring); "B" by default.
        stride_in_3x3: put the stride on the 3x3 convolution (v1.5); False by default (v1).
        zero_init_residual: start the last BN's scale (gamma) at zero.
        activation: activation after the first two BNs and after the sum ("relu").
        bn_momentum: moving-average momentum of every BN (0.9).
        bn_epsilon: epsilon of every BN (1e-5).
        kernel_initializer: convolution kernel initializer (``HE_GAUSSIAN``: He et al.'s
            Gaussian, as ``BasicBlock``).
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    expansion = 4

    def __init__(self, filters, strides=1, shortcut="B", stride_in_3x3=False,
                 zero_init_residual=False, activation="relu", bn_momentum=0.9,
                 bn_epsilon=1e-5, kernel_initializer=HE_GAUSSIAN, **kwargs):
        super().__init__(filters, strides=strides, shortcut=shortcut,
                         zero_init_residual=zero_init_residual, activation=activation,
                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                         kernel_initializer=kernel_initializer, **kwargs)
        self.stride_in_3x3 = check_bool("stride_in_3x3", stride_in_3x3)
        stride_1x1, stride_3x3 = (1, self.strides) if self.stride_in_3x3 else (self.strides, 1)
        # === Residual function F ===
        self.conv1 = self._conv(self.filters, 1, "1_conv", stride_1x1)
        self.bn1 = self._bn("1_bn")
        self.relu1 = self._act("1_relu")
        self.pad2 = self._pad("2_pad") if stride_3x3 > 1 else None
        self.conv2 = self._conv(self.filters, 3, "2_conv", stride_3x3)
        self.bn2 = self._bn("2_bn")
        self.relu2 = self._act("2_relu")
        self.conv3 = self._conv(self.output_channels, 1, "3_conv")
        self.bn3 = self._bn("3_bn", zero_gamma=self.zero_init_residual)

    def _residual_layers(self):
        return [self.conv1, self.bn1, self.relu1, self.pad2, self.conv2, self.bn2, self.relu2,
                self.conv3, self.bn3]

    def get_config(self):
        return {**super().get_config(), "stride_in_3x3": self.stride_in_3x3}
