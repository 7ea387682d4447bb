"""``read_checkpoint``: any supported weights file as numpy arrays, its format detected from
its first bytes (not its suffix).

Formats:

- ``"keras_h5"``: keras.applications' legacy Keras 2 HDF5 (``layer_names`` and
  ``weight_names`` attributes, weight names ending in ``:0``);
- ``"torch_zip"``: ``torch.save``'s zip archive (torchvision's ``.pth`` files);
- ``"safetensors"``: Hugging Face's safetensors (timm's mirrors of torchvision);
- ``"caffe"``: a Caffe ``.caffemodel`` (a ``NetParameter`` protobuf, V1 or V2 layers);
- ``"kcnn"``: kcnn's own ``.keras`` model files and Keras 3 ``.weights.h5`` files.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile

__all__ = ["Checkpoint", "CheckpointError", "FORMATS", "detect_format", "read_checkpoint"]

FORMATS = ("keras_h5", "torch_zip", "safetensors", "caffe", "kcnn")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A weights file that cannot be read: damaged, truncated or of an unknown kind."""


@dataclasses.dataclass
class Checkpoint:
    """The tensors of a weights file.

    Attributes:
        format: one of ``FORMATS``.
        tensors: name -> numpy array, in the file's order and the publisher's layout (torch
            and Caffe kernels ``(out, in, h, w)``, Keras kernels ``(h, w, in, out)``).
        path: the file read.
        layers: for the layer-based formats ("keras_h5", "caffe"), layer name -> the names
            of its tensors in ``tensors``, in the layer's order; for the others None.
        layer_types: Caffe layer name -> layer type ("Convolution", "BatchNorm", ...).
        params: Caffe layer name -> the layer parameters kcnn reads (LRN ``k``,
            ``local_size``, ``alpha``, ``beta``; BatchNorm ``eps``).
    """

    format: str
    tensors: dict
    path: str
    layers: dict | None = None
    layer_types: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)

    def layer(self, name):
        """The tensors of layer ``name`` in order (layer-based formats)."""
        return [self.tensors[key] for key in (self.layers or {}).get(name, ())]


def _is_safetensors(head, size):
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= size - 8 and head[8:9] == b"{"


def _is_caffe(head):
    # NetParameter starts with one of its fields: name (1), layers (2, V1), input (3),
    # input_dim (4), force_backward (5), state (6), input_shape (8) or layer (100, V2).
    return bool(head) and (head[0] in (0x0A, 0x12, 0x1A, 0x20, 0x28, 0x32, 0x42)
                           or head[:2] == b"\xa2\x06")


def detect_format(path):
    """The format of the file at ``path``, from its content (see ``FORMATS``).

    Raises:
        CheckpointError: if the content is of none of the known formats.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(HDF5_MAGIC):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                legacy = "layer_names" in f.attrs or (
                    "model_weights" in f and "layer_names" in f["model_weights"].attrs)
        except OSError as e:
            raise CheckpointError(f"The HDF5 file {path!r} cannot be read (truncated or "
                                  f"damaged?): {e}") from None
        return "keras_h5" if legacy else "kcnn"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise CheckpointError(f"The zip archive {path!r} cannot be read (truncated or "
                                  f"damaged?): {e}") from None
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torch_zip"
        if "config.json" in names:
            return "kcnn"
        raise CheckpointError(f"{path!r} is a zip archive but neither a torch.save file "
                              "(no data.pkl) nor a .keras model (no config.json).")
    if head[:1] == b"\x80":
        raise CheckpointError(f"{path!r} is a bare pickle: torch.save's format before "
                              "PyTorch 1.6. Load it with torch and save it again with a recent "
                              "torch (zip format), or convert it to .safetensors.")
    if _is_safetensors(head, size):
        return "safetensors"
    if _is_caffe(head):
        return "caffe"
    raise CheckpointError(
        f"{path!r} is not a weights file kcnn reads: expected keras.applications HDF5, a "
        "torch.save zip (.pth), .safetensors, a Caffe .caffemodel or a kcnn .keras or "
        f".weights.h5 file (first bytes {head[:8]!r}).")


def read_checkpoint(path):
    """Reads a weights file of any supported format (see the module docstring).

    Args:
        path: the file.

    Returns:
        A ``Checkpoint``.

    Raises:
        CheckpointError (a ValueError): if the file is missing, truncated, damaged or of
            no known format; the message names the file and what is wrong.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path. Received: path={path!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"No such weights file. Received: path={path!r}")
    fmt = detect_format(path)
    if fmt == "keras_h5":
        from kcnn.weights.keras_h5 import read_keras_h5 as reader
    elif fmt == "torch_zip":
        from kcnn.weights.torch_zip import read_torch_zip as reader
    elif fmt == "safetensors":
        from kcnn.weights.safetensors import read_safetensors as reader
    elif fmt == "caffe":
        from kcnn.weights.caffe import read_caffemodel as reader
    else:
        from kcnn.weights.kcnn_files import read_kcnn_file as reader
    return reader(path)
