"""Loading weights saved from a kcnn model into a freshly built one (``weights=PATH``).

The format is read from the content (``kcnn.weights.checkpoint``), so the suffix does not
matter.

Two kinds of file are accepted:

- a ``.keras`` model file (``model.save(path)``): weights are matched by layer and variable
  name, so a file from a different architecture is reported layer by layer;
- a ``.weights.h5`` file (``model.save_weights(path)``): Keras matches it by structure; kcnn
  first compares the variable shapes and refuses a file that does not fit.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np

__all__ = ["load_kcnn_file", "read_kcnn_file"]


def _variables(model):
    return {v.path: v for v in model.weights}


def _layer_of(path):
    return path.rsplit("/", 1)[0]


def _describe_mismatch(target, source):
    """Human-readable differences between two {path: shape} maps, per layer."""
    lines = []
    for path, shape in target.items():
        if path not in source:
            lines.append(f"layer {_layer_of(path)!r}: variable {path!r} {shape} is missing "
                         "from the file")
        elif tuple(source[path]) != tuple(shape):
            lines.append(f"layer {_layer_of(path)!r}: variable {path!r} has shape "
                         f"{tuple(source[path])} in the file but {tuple(shape)} in the model")
    for path, shape in source.items():
        if path not in target:
            lines.append(f"layer {_layer_of(path)!r}: variable {path!r} {tuple(shape)} is in "
                         "the file but not in the model")
    return lines


def _load_keras_file(model, path):
    import keras

    source_model = keras.saving.load_model(path, compile=False)
    source = {v.path: v for v in source_model.weights}
    target = _variables(model)
    problems = _describe_mismatch({p: tuple(v.shape) for p, v in target.items()},
                                  {p: tuple(v.shape) for p, v in source.items()})
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError(f"`weights` file {path!r} does not match model {model.name!r}:\n  "
                         f"{shown}{more}")
    for p, variable in target.items():
        variable.assign(np.asarray(source[p].numpy()).astype(variable.dtype))


def _h5_shapes(path):
    import h5py

    shapes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: shapes.append(tuple(obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
    return shapes


def _load_h5_file(model, path):
    file_shapes = Counter(_h5_shapes(path))
    model_shapes = Counter(tuple(v.shape) for v in model.weights)
    if file_shapes != model_shapes:
        missing = model_shapes - file_shapes
        extra = file_shapes - model_shapes
        layers = sorted({_layer_of(v.path) for v in model.weights if tuple(v.shape) in missing})
        raise ValueError(
            f"`weights` file {path!r} does not match model {model.name!r}: the model's layers "
            f"{layers[:10]} need variables of shapes {sorted(missing)[:10]} that the file does "
            f"not have, and the file has unused shapes {sorted(extra)[:10]}. Save with "
            "`model.save(path)` (.keras) for a name-by-name comparison.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            model.load_weights(path)
        except (ValueError, UserWarning) as e:
            raise ValueError(f"`weights` file {path!r} does not match model {model.name!r}: "
                             f"{str(e).splitlines()[0]}") from None


def read_kcnn_file(path):
    """The variables of a kcnn ``.keras`` or ``.weights.h5`` file as a ``Checkpoint`` of
    format "kcnn", keyed by their HDF5 paths."""
    import io
    import zipfile

    import h5py

    from kcnn.weights.checkpoint import Checkpoint, CheckpointError

    tensors = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            tensors[name] = np.asarray(obj)

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                data = io.BytesIO(z.read("model.weights.h5"))
            with h5py.File(data, "r") as f:
                f.visititems(visit)
        else:
            with h5py.File(path, "r") as f:
                f.visititems(visit)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"The kcnn weights file {path!r} cannot be read (truncated or "
                              f"damaged?): {e}") from None
    return Checkpoint("kcnn", tensors, path)


def load_kcnn_file(model, path):
    """Loads a file saved from a kcnn model (``.keras`` or ``.weights.h5``) into ``model``
    after checking that they match.

    Raises:
        ValueError: if the file does not match the model; the message names the layers that
            differ.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        _load_keras_file(model, path)
    else:
        _load_h5_file(model, path)
    return model
