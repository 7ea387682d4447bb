"""Weights for kcnn models: kcnn's own files and the publishers' ImageNet checkpoints.

- ``read_checkpoint(path)`` reads a file of any supported format into numpy arrays, the
  format detected from the file's content: keras.applications' legacy HDF5, torchvision's
  ``torch.save`` zip, ``.safetensors``, Caffe's ``.caffemodel``, kcnn's ``.keras`` /
  ``.weights.h5``.
- ``load_weights(model, path)`` loads such a file into a kcnn model exactly, after checking
  the model's variant and shapes.
"""

from kcnn.weights.kcnn_files import load_weights

__all__ = ["load_weights"]
