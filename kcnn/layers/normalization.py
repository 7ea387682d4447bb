"""Local response normalization across channels (AlexNet, GoogLeNet).

Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep convolutional neural
networks", NIPS 2012, section 3.3:

    b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a[j]^2) ^ beta

with ``N`` channels, "n adjacent kernel maps at the same spatial position" and the paper's
values ``k = 2, n = 5, alpha = 1e-4, beta = 0.75``. The paper multiplies the sum by ``alpha``
itself. Two conventions are in use:

- ``convention="paper"`` (default): ``alpha * sum``, the formula above. This is also what
  ``tf.nn.local_response_normalization(x, depth_radius=r, bias=k, alpha=alpha, beta=beta)``
  computes, with the half-width ``depth_radius = (n - 1) / 2`` (``n = 5`` -> ``r = 2``).
- ``convention="caffe"``: ``(alpha / n) * sum``, as in Caffe's ``LRN`` layer, PyTorch's
  ``nn.LocalResponseNorm`` and ONNX's ``LRN`` operator. A Caffe model's
  ``local_size: 5, alpha: 1e-4`` is this layer with ``size=5, alpha=1e-4,
  convention="caffe"``, and equals ``tf.nn.local_response_normalization`` with
  ``alpha=1e-4 / 5``. Caffe's default ``k`` is 1, not 2.

``tf.nn.local_response_normalization`` itself is not used: it fails to compile under XLA in
float16 and has no bfloat16 CPU kernel. This layer computes the squared sum in float32 (the
squares of float16 activations above ~256 overflow) and returns the compute dtype.
"""

from __future__ import annotations

import keras
from keras import ops

from kcnn._checks import check_choice, check_float, check_int

__all__ = ["LocalResponseNormalization"]

CONVENTIONS = ("paper", "caffe")


@keras.saving.register_keras_serializable(package="kcnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across the channel (last) axis.

    Computes ``x / (k + a * sum of x^2 over the size channels centred on each channel)^beta``
    where ``a = alpha`` (``convention="paper"``, AlexNet's formula) or ``a = alpha / size``
    (``convention="caffe"``: Caffe, PyTorch, ONNX). Near the first and last channels the
    window is cut off (zero padding), as in the paper's ``max(0, .)``/``min(N - 1, .)``.
    See the module docstring for the correspondence with
    ``tf.nn.local_response_normalization``'s ``depth_radius``.

    Args:
        size: number of adjacent channels ``n`` in the sum, odd (5 in AlexNet).
        alpha: scale of the sum (1e-4).
        beta: exponent (0.75).
        k: additive constant, > 0 (2 in AlexNet; 1 in Caffe's default).
        convention: "paper" (alpha multiplies the sum) or "caffe" (alpha / size does).
        **kwargs: base layer arguments (``name``, ``dtype``).

    The layer has no weights. Input: any rank >= 2, channels last; output: same shape.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, convention="paper", **kwargs):
        super().__init__(**kwargs)
        self.size = check_int("size", size, minimum=1)
        if self.size % 2 == 0:
            raise ValueError("`size` must be odd (a window centred on each channel). "
                             f"Received: size={size!r}")
        self.alpha = check_float("alpha", alpha, minimum=0.0)
        self.beta = check_float("beta", beta, minimum=0.0)
        self.k = check_float("k", k, minimum=0.0, min_inclusive=False)
        self.convention = check_choice("convention", convention, CONVENTIONS)
        self.supports_masking = True

    @property
    def effective_alpha(self):
        """The factor applied to the sum of squares (``alpha`` or ``alpha / size``)."""
        return self.alpha / self.size if self.convention == "caffe" else self.alpha

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError("LocalResponseNormalization expects inputs of rank >= 2 "
                             f"(channels last). Received: input_shape={input_shape}")
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        squares = ops.square(x)
        radius = self.size // 2
        if radius:
            rank = len(x.shape)
            pad = [[0, 0]] * (rank - 1) + [[radius, radius]]
            padded = ops.pad(squares, pad)
            channels = x.shape[-1] if x.shape[-1] is not None else ops.shape(x)[-1]
            window = padded[..., 0:channels]
            for offset in range(1, self.size):
                window = window + padded[..., offset:offset + channels]
        else:
            window = squares
        denominator = ops.power(self.k + self.effective_alpha * window, self.beta)
        return ops.cast(x / denominator, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k, "convention": self.convention}
