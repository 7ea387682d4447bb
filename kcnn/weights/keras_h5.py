"""keras.applications' weights files: the legacy Keras 2 HDF5 layout.

The file (or its ``model_weights`` group, in a full-model file) has an attribute
``layer_names``; the group of each layer has an attribute ``weight_names`` listing its
weights in order, each the path of a dataset below the layer's group, e.g.
``conv1_conv/kernel:0`` and ``conv1_conv/bias:0`` (Keras 2), or ``block1_conv1_W_1:0``
(the older files of Keras 1). Kernels are already in Keras's layout ``(h, w, in, out)``.
"""

from __future__ import annotations

import numpy as np

from kcnn.weights.checkpoint import Checkpoint, CheckpointError

__all__ = ["read_keras_h5"]


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path):
    """Reads a legacy Keras HDF5 weights file.

    Returns:
        A ``Checkpoint`` of format "keras_h5" whose tensors are keyed ``<layer>/<weight
        name>`` (e.g. ``conv1_conv/conv1_conv/kernel:0``) and whose ``layers`` lists each
        layer's keys in the file's order.
    """
    import h5py

    tensors, layers = {}, {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "layer_names" not in f.attrs else f
            for layer in (_text(n) for n in root.attrs["layer_names"]):
                group = root[layer]
                keys = []
                for weight in (_text(n) for n in group.attrs.get("weight_names", ())):
                    key = f"{layer}/{weight}"
                    tensors[key] = np.asarray(group[weight])
                    keys.append(key)
                layers[layer] = keys
    except (OSError, KeyError) as e:
        raise CheckpointError(f"The Keras HDF5 file {path!r} cannot be read (truncated or "
                              f"damaged?): {e}") from None
    return Checkpoint("keras_h5", tensors, path, layers=layers)
