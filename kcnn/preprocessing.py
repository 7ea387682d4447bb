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
=============  ===========================================================================

The per-pixel mean image of the papers is approximated by its per-channel mean, as
keras.applications and the Caffe model zoo do.
"""

from __future__ import annotations

import keras
from keras import ops

from kcnn._checks import check_choice

__all__ = ["MODES", "Preprocessing", "preprocess_input", "for_model"]

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
CIFAR10_MEAN_RGB = (125.307, 122.950, 113.865)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

MODES = ("lenet", "imagenet_mean", "cifar_mean", "torch", "unit_scale")


def _scale_shift(mode):
    """Per-channel ``(scale, shift)`` with ``y = x * scale + shift``."""
    if mode == "lenet":
        return (1.275,), (-0.1,)
    if mode == "imagenet_mean":
        return (1.0, 1.0, 1.0), tuple(-m for m in IMAGENET_MEAN_RGB)
    if mode == "cifar_mean":
        return (1.0, 1.0, 1.0), tuple(-m for m in CIFAR10_MEAN_RGB)
    if mode == "torch":
        return (tuple(1.0 / (255.0 * s) for s in TORCH_STD),
                tuple(-m / s for m, s in zip(TORCH_MEAN, TORCH_STD)))
    return (1.0 / 255.0,), (0.0,)


def preprocess_input(x, mode):
    """Applies the preprocessing ``mode`` (see the module docstring) to a batch ``x``."""
    check_choice("mode", mode, MODES)
    scale, shift = _scale_shift(mode)
    x = ops.convert_to_tensor(x)
    if not str(x.dtype).startswith(("float", "bfloat")):
        x = ops.cast(x, "float32")
    if len(scale) > 1 and x.shape[-1] != len(scale):
        raise ValueError(f"Preprocessing {mode!r} expects RGB images with 3 channels. "
                         f"Received: x.shape={tuple(x.shape)}")
    return x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)


@keras.saving.register_keras_serializable(package="kcnn")
class Preprocessing(keras.layers.Layer):
    """A layer applying ``preprocess_input(x, mode)``; put it first in a model or in a
    ``tf.data`` map. Computed in float32.

    Args:
        mode: one of ``MODES``.
        **kwargs: base layer arguments.
    """

    def __init__(self, mode, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES)

    def call(self, inputs):
        return preprocess_input(inputs, self.mode)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def for_model(name):
    """The preprocessing layer of the registered network ``name``.

    Raises:
        ValueError: if the network has no image preprocessing (AlphaGo's inputs are
            feature planes).
    """
    from kcnn.registry import get_spec

    spec = get_spec(name)
    if spec.preprocessing is None:
        raise ValueError(f"{spec.name!r} takes no image preprocessing (its input is "
                         f"{spec.input_shape}). Received: name={name!r}")
    return Preprocessing(spec.preprocessing, name=f"{spec.name}_preprocessing")
