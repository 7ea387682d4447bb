"""The input preprocessing each paper used, as a function and as a Keras layer.

Each registered network names its preprocessing in its spec (``kcnn.get_spec(name)
.preprocessing``); ``for_model(name)`` returns the matching layer, so raw images go in the
way the paper fed them:

=============  ===========================================================================
mode           what it does (raw input)
=============  ===========================================================================
lenet          ink intensity in [0, 1] -> background -0.1, ink 1.175 (LeCun et al. 1998,
               section II.A: "the mean input roughly 0, and the variance roughly 1")
imagenet_mean  RGB in [0, 255] minus the ImageNet training-set mean RGB
               (123.68, 116.779, 103.939): AlexNet "subtracting the mean activity over the
               training set from each pixel", VGG "subtracting the mean RGB value",
               GoogLeNet and ResNet (per-pixel mean subtraction) in their Caffe releases
cifar_mean     RGB in [0, 255] minus the CIFAR-10 training-set mean RGB
               (125.307, 122.950, 113.865), He et al. section 4.2 "per-pixel mean
               subtracted"
torch          RGB in [0, 255] scaled to [0, 1], minus mean (0.485, 0.456, 0.406), divided by
               std (0.229, 0.224, 0.225): torchvision's convention, for weights from there
unit_scale     [0, 255] -> [0, 1]
caffe          RGB in [0, 255] -> BGR minus the mean pixel (103.939, 116.779, 123.68) (BGR):
               keras.applications' "caffe" mode, the VGG team's and MSRA's Caffe models
caffe_bvlc     RGB -> BGR minus (104, 117, 123), the ``mean_value`` of BVLC GoogLeNet's
               train_val.prototxt
caffe_ilsvrc12 RGB -> BGR minus (104.007, 116.669, 122.679), the per-channel means of
               Caffe's ILSVRC-2012 mean image (BVLC AlexNet was trained minus the image
               itself; pass ``mean_image=`` to subtract it exactly)
=============  ===========================================================================

The ``caffe*`` modes output BGR, the channel order of the Caffe-trained weights: those
checkpoints keep their first convolution as published. The per-pixel mean image of the
papers is otherwise approximated by its per-channel mean, as keras.applications and the Caffe
model zoo do.

``for_model(name, weights=...)`` returns the preprocessing of a published checkpoint
(``kcnn.weights.sources``), and ``eval_sizes`` the resize and centre crop its publisher
evaluated with.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

from kcnn._checks import check_choice

__all__ = ["MODES", "BGR_MODES", "Preprocessing", "preprocess_input", "for_model",
           "mode_for", "eval_sizes", "load_mean_image"]

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
CIFAR10_MEAN_RGB = (125.307, 122.950, 113.865)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
# BGR order, as the Caffe models subtract them.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
BVLC_MEAN_BGR = (104.0, 117.0, 123.0)
ILSVRC12_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)

MODES = ("lenet", "imagenet_mean", "cifar_mean", "torch", "unit_scale", "caffe",
         "caffe_bvlc", "caffe_ilsvrc12")
BGR_MODES = ("caffe", "caffe_bvlc", "caffe_ilsvrc12")
_BGR_MEANS = {"caffe": CAFFE_MEAN_BGR, "caffe_bvlc": BVLC_MEAN_BGR,
              "caffe_ilsvrc12": ILSVRC12_MEAN_BGR}


def _scale_shift(mode):
    """Per-channel ``(scale, shift)`` with ``y = x * scale + shift``."""
    if mode == "lenet":
        return (1.275,), (-0.1,)
    if mode == "imagenet_mean":
        return (1.0, 1.0, 1.0), tuple(-m for m in IMAGENET_MEAN_RGB)
    if mode == "cifar_mean":
        return (1.0, 1.0, 1.0), tuple(-m for m in CIFAR10_MEAN_RGB)
    if mode in _BGR_MEANS:
        return (1.0, 1.0, 1.0), tuple(-m for m in _BGR_MEANS[mode])
    if mode == "torch":
        return (tuple(1.0 / (255.0 * s) for s in TORCH_STD),
                tuple(-m / s for m, s in zip(TORCH_MEAN, TORCH_STD)))
    return (1.0 / 255.0,), (0.0,)


def _as_float(x):
    x = ops.convert_to_tensor(x)
    if not str(x.dtype).startswith(("float", "bfloat")):
        x = ops.cast(x, "float32")
    return x


def _center(mean, height, width):
    """The centre ``height`` x ``width`` window of an (H, W, 3) mean image."""
    h, w = mean.shape[:2]
    if height is None or width is None or height > h or width > w:
        raise ValueError(f"The mean image is {h}x{w}; inputs must have a fixed size no "
                         f"larger. Received: input size {height}x{width}")
    top, left = (h - height) // 2, (w - width) // 2
    return mean[top:top + height, left:left + width]


def preprocess_input(x, mode, *, mean_image=None):
    """Applies the preprocessing ``mode`` (see the module docstring) to a batch ``x``.

    Args:
        x: images, channels last, RGB in [0, 255] for the image modes.
        mode: one of ``MODES``.
        mean_image: for the ``caffe*`` modes, an (H, W, 3) BGR mean image (see
            ``load_mean_image``) subtracted instead of the mean pixel; its centre window
            of the input's size is used, as Caffe subtracts the mean of the crop's place.
    """
    check_choice("mode", mode, MODES)
    scale, shift = _scale_shift(mode)
    x = _as_float(x)
    if len(scale) > 1 and x.shape[-1] != len(scale):
        raise ValueError(f"Preprocessing {mode!r} expects RGB images with 3 channels. "
                         f"Received: x.shape={tuple(x.shape)}")
    if mode in BGR_MODES:
        x = ops.flip(x, axis=-1)
        if mean_image is not None:
            mean = _center(np.asarray(mean_image, "float32"), x.shape[-3], x.shape[-2])
            return x - ops.cast(mean, x.dtype)
    elif mean_image is not None:
        raise ValueError(f"`mean_image` applies to the Caffe modes {BGR_MODES}. "
                         f"Received: mode={mode!r}")
    return x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)


def load_mean_image(path):
    """Caffe's mean image from a ``.npy`` file as (H, W, 3) float32, BGR.

    Accepts Caffe's layout (3, H, W), e.g. ``ilsvrc_2012_mean.npy`` of Caffe's python
    package, or (H, W, 3).
    """
    path = os.fspath(path)
    try:
        mean = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"`mean_image` must be a .npy file of shape (3, H, W) or (H, W, 3). "
                         f"Received: mean_image={path!r} ({e})") from e
    if mean.ndim == 4 and mean.shape[0] == 1:
        mean = mean[0]
    if mean.ndim == 3 and mean.shape[0] == 3 and mean.shape[-1] != 3:
        mean = np.transpose(mean, (1, 2, 0))
    if mean.ndim != 3 or mean.shape[-1] != 3:
        raise ValueError(f"`mean_image` must have shape (3, H, W) or (H, W, 3). "
                         f"Received: mean_image={path!r} with shape {mean.shape}")
    return mean.astype("float32")


@keras.saving.register_keras_serializable(package="kcnn")
class Preprocessing(keras.layers.Layer):
    """A layer applying ``preprocess_input(x, mode)``; put it first in a model or in a
    ``tf.data`` map. Computed in float32.

    Args:
        mode: one of ``MODES``.
        mean_image: optional path of a Caffe mean image (``.npy``, see
            ``load_mean_image``) for the ``caffe*`` modes.
        **kwargs: base layer arguments.
    """

    def __init__(self, mode, mean_image=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES)
        if mean_image is not None and self.mode not in BGR_MODES:
            raise ValueError(f"`mean_image` applies to the Caffe modes {BGR_MODES}. "
                             f"Received: mode={mode!r}")
        self.mean_image = None if mean_image is None else os.fspath(mean_image)
        self._mean = None if mean_image is None else load_mean_image(mean_image)

    def call(self, inputs):
        return preprocess_input(inputs, self.mode, mean_image=self._mean)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "mean_image": self.mean_image}


def mode_for(name, weights=None):
    """The preprocessing mode of network ``name``: its paper's (``weights=None``) or that of
    a published checkpoint (``weights="imagenet"`` or a source name, see
    ``kcnn.weights.sources``)."""
    from kcnn.registry import get_spec

    spec = get_spec(name)
    if spec.preprocessing is None:
        raise ValueError(f"{spec.name!r} takes no image preprocessing (its input is "
                         f"{spec.input_shape}). Received: name={name!r}")
    if weights is None:
        return spec.preprocessing
    return _source(spec.name, weights).preprocessing


def _source(name, weights):
    from kcnn.weights.sources import WeightSource, is_path, resolve

    if isinstance(weights, WeightSource):
        return weights
    if is_path(weights):
        raise ValueError(f"A weights file does not say how its images were preprocessed: "
                         f"pass the source it came from (e.g. weights='torchvision_v1') or a "
                         f"mode. Received: weights={weights!r}")
    return resolve(name, weights)


def eval_sizes(name, weights="imagenet"):
    """``(resize_size, crop_size)`` the publisher of ``weights`` evaluated ``name`` with:
    the shorter side is resized to ``resize_size``, then the centre ``crop_size`` square is
    the input (torchvision's V2 weights: 232 and 224; most others 256 and 224; BVLC
    AlexNet 256 and 227)."""
    source = _source(name, weights)
    return source.resize_size, source.crop_size


def for_model(name, weights=None, *, mean_image=None):
    """The preprocessing layer of the registered network ``name``.

    Args:
        name: a registered network.
        weights: None for the paper's preprocessing (the spec's), or "imagenet" / a source
            name / a ``WeightSource`` for the preprocessing that checkpoint was trained
            with (Caffe's BGR mean subtraction, torchvision's mean/std, ...).
        mean_image: for Caffe checkpoints, a ``.npy`` mean image subtracted instead of the
            mean pixel (BVLC AlexNet was trained minus Caffe's ``ilsvrc_2012_mean``).

    Raises:
        ValueError: if the network has no image preprocessing (AlphaGo's inputs are
            feature planes), or ``weights`` names no source of it.
    """
    from kcnn.registry import get_spec

    spec = get_spec(name)
    mode = mode_for(spec.name, weights)
    suffix = "" if weights is None else "_" + _source(spec.name, weights).name
    return Preprocessing(mode, mean_image=mean_image,
                         name=f"{spec.name}{suffix}_preprocessing")
