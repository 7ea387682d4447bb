"""Weights for kcnn models: kcnn's own files and the publishers' ImageNet checkpoints.

- ``read_checkpoint(path)`` reads a file of any supported format into numpy arrays, the
  format detected from the file's content: keras.applications' legacy HDF5, torchvision's
  ``torch.save`` zip, ``.safetensors``, Caffe's ``.caffemodel``, kcnn's ``.keras`` /
  ``.weights.h5`` (``kcnn.weights.checkpoint``).
- ``load_weights(model, path)`` loads such a file into a kcnn model exactly, after checking
  the model's variant and shapes (``kcnn.weights.loader``).
- ``fold_bias_into_bn`` and ``permute_flatten_chw_to_hwc``: the two conversions that make
  the publishers' layouts exact in Keras (``kcnn.weights.convert``).
- ``kcnn.weights.sources`` lists the published checkpoints and ``kcnn.weights.download``
  fetches them.
"""

from kcnn.weights.checkpoint import Checkpoint, CheckpointError, read_checkpoint
from kcnn.weights.convert import fold_bias_into_bn, permute_flatten_chw_to_hwc
from kcnn.weights.loader import load_weights
from kcnn.weights.plan import WeightsMismatchError
from kcnn.weights.variants import VariantError, model_variant

__all__ = ["Checkpoint", "CheckpointError", "read_checkpoint", "load_weights",
           "fold_bias_into_bn", "permute_flatten_chw_to_hwc", "WeightsMismatchError",
           "VariantError", "model_variant"]
