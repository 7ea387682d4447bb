"""The exact conversions between the publishers' layouts and Keras's.

- Convolution kernels: torch and Caffe store ``(out, in, h, w)``, Keras ``(h, w, in, out)``.
  Caffe's grouped convolutions (AlexNet's two towers) store ``(out, in / groups, h, w)`` with
  the outputs of group ``g`` contiguous, as Keras's ``Conv2D(groups=...)``: the same
  transpose applies.
- Fully connected kernels: torch and Caffe ``(out, in)``, Keras ``(in, out)``.
- The first fully connected layer after a feature map: torch and Caffe flatten it in
  ``(channels, height, width)`` order, Keras's ``Flatten`` in ``(height, width, channels)``
  order, so its input rows are permuted (``permute_flatten_chw_to_hwc``).
- A convolution bias followed by batch normalization (keras.applications' ResNets, MSRA's
  ResNet-50 conv1, torchvision's VGG-BN) folds exactly into the moving mean:
  ``BN(conv(x) + b) = gamma (conv(x) - (mean - b)) / sqrt(var + eps) + beta``
  (``fold_bias_into_bn``).
- Caffe's BatchNorm layer stores the running sums of mean and variance with a scale factor:
  the statistics are ``blob / factor`` (0 when the factor is 0), as Caffe's
  ``BatchNormLayer::Forward_cpu`` computes them (``caffe_batch_norm_statistics``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_kernel_from_oihw", "dense_kernel_from_out_in", "fold_bias_into_bn",
           "permute_flatten_chw_to_hwc", "caffe_batch_norm_statistics"]


def conv_kernel_from_oihw(weight):
    """``(out, in, h, w)`` (torch, Caffe) -> ``(h, w, in, out)`` (Keras)."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError("A convolution weight must have 4 dimensions (out, in, h, w). "
                         f"Received: weight.shape={weight.shape}")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def dense_kernel_from_out_in(weight):
    """``(out, in)`` (torch, Caffe; Caffe's legacy ``(1, 1, out, in)`` too) ->
    ``(in, out)``."""
    weight = np.asarray(weight)
    return np.ascontiguousarray(weight.reshape(weight.shape[-2], weight.shape[-1]).T)


def fold_bias_into_bn(bias, moving_mean):
    """The moving mean that absorbs a convolution bias before BN: ``mean - bias``."""
    bias, moving_mean = np.asarray(bias).ravel(), np.asarray(moving_mean).ravel()
    if bias.shape != moving_mean.shape:
        raise ValueError("The bias and the moving mean must have one value per channel. "
                         f"Received: bias.shape={bias.shape}, "
                         f"moving_mean.shape={moving_mean.shape}")
    return moving_mean - bias


def permute_flatten_chw_to_hwc(kernel, feature_shape):
    """Reorders the input rows of a dense kernel ``(in, out)`` from a channels-first
    flatten to Keras's channels-last flatten.

    Args:
        kernel: ``(channels * height * width, units)``, rows in ``(c, h, w)`` order.
        feature_shape: the flattened feature map's ``(height, width, channels)``.

    Returns:
        The kernel with rows in ``(h, w, c)`` order.
    """
    kernel = np.asarray(kernel)
    h, w, c = (int(d) for d in feature_shape)
    if kernel.ndim != 2 or kernel.shape[0] != h * w * c:
        raise ValueError(f"The kernel must have {h * w * c} input rows (= {h} x {w} x {c}). "
                         f"Received: kernel.shape={kernel.shape}, "
                         f"feature_shape={tuple(feature_shape)}")
    units = kernel.shape[1]
    return np.ascontiguousarray(
        kernel.reshape(c, h, w, units).transpose(1, 2, 0, 3).reshape(h * w * c, units))


def caffe_batch_norm_statistics(mean, variance, scale_factor):
    """Caffe BatchNorm blobs -> ``(moving_mean, moving_variance)``."""
    factor = float(np.asarray(scale_factor).ravel()[0])
    scale = 0.0 if factor == 0 else 1.0 / factor
    return (np.asarray(mean, np.float32).ravel() * scale,
            np.asarray(variance, np.float32).ravel() * scale)
