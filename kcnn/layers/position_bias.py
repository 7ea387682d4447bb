"""A bias with a separate value for every position of a feature map."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PositionBias"]


@keras.saving.register_keras_serializable(package="kcnn")
class PositionBias(keras.layers.Layer):
    """Adds a trainable bias of the input's full shape (per position and channel).

    The final layer of AlphaGo's policy network "convolves 1 filter of kernel size 1x1 with
    stride 1, with a different bias for each position" (Silver et al., Nature 529, 2016,
    Methods): a bias-free 1x1 convolution followed by ``PositionBias`` on its 19x19x1 output
    (361 parameters).

    Args:
        **kwargs: base layer arguments (``name``, ``dtype``).

    Input shape: ``(batch, *dims)`` with every dimension after the batch known; once built,
    the same dims (a bias learned for a 19x19 board has no value for a 13x13 one).
    Output shape: the input shape.
    """

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        if any(d is None for d in shape):
            raise ValueError("PositionBias needs every non-batch dimension to be known. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.bias = self.add_weight(name="bias", shape=shape, initializer="zeros")

    def call(self, inputs):
        shape = tuple(inputs.shape[1:])
        expected = tuple(self.bias.shape)
        if len(shape) != len(expected) or any(
                d is not None and d != e for d, e in zip(shape, expected)):
            raise ValueError(
                f"PositionBias {self.name!r} holds one bias per position of shape {expected} "
                f"and cannot be applied to inputs of shape {shape}: a network with a "
                f"per-position bias works on the board size it was built for (for another "
                f"size, build a new one, e.g. kcnn.build('alphago_policy', "
                f"board_size={shape[0] if shape else '...'})). "
                f"Received: inputs.shape={tuple(inputs.shape)}")
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
