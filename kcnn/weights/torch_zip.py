"""``torch.save`` files (torchvision's ``.pth``) read without torch.

Since PyTorch 1.6 ``torch.save`` writes a zip archive: ``<prefix>/data.pkl`` pickles the
object (a state dict: an ``OrderedDict`` of tensors), each tensor a call
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` whose storage is a
persistent id ``("storage", torch.FloatStorage, key, location, numel)`` pointing at the raw
bytes of ``<prefix>/data/<key>``; ``<prefix>/byteorder`` says "little" (the default) or
"big". kcnn unpickles with an allow-list of exactly these callables and rebuilds each tensor
as a numpy array, so a file cannot run code. When torch is importable it is used instead
(``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np

from kcnn.weights.checkpoint import Checkpoint, CheckpointError

__all__ = ["read_torch_zip", "STORAGE_DTYPES"]

STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2",
    "BFloat16Storage": "bf16", "LongStorage": "i8", "IntStorage": "i4",
    "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor(storage, storage_offset, size, stride, *args, **kwargs):
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(storage[storage_offset])
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if min(size) > 0 and needed > storage.size:
        raise CheckpointError(f"A tensor of shape {size} needs {needed} values; its storage "
                              f"has {storage.size} (damaged file?).")
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=size,
                                           strides=[s * itemsize for s in stride])
    return np.array(view)


def _rebuild_parameter(data, *args, **kwargs):
    return data


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, *, archive, prefix, byteorder, path):
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path
        self.byteorder = "<" if byteorder == "little" else ">"
        self.storages = {}

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"{self.path!r} pickles {module}.{name}, which a weights file does not need; "
                "kcnn reads state dicts of tensors only (torch.save(model.state_dict(), "
                "path)).") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"{self.path!r} refers to an unknown persistent object "
                                  f"{pid!r}.")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise CheckpointError(f"{self.path!r} lacks the storage data/{key} (truncated "
                                      "archive?).") from None
            if storage_type.dtype == "bf16":
                from kcnn.weights.safetensors import bfloat16_to_float32

                array = bfloat16_to_float32(raw if self.byteorder == "<"
                                            else np.frombuffer(raw, ">u2").astype("<u2"))
            else:
                dtype = np.dtype(storage_type.dtype).newbyteorder(self.byteorder)
                array = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
            if array.size < numel:
                raise CheckpointError(f"Storage data/{key} of {self.path!r} has {array.size} "
                                      f"values, {numel} expected (truncated file?).")
            self.storages[key] = array
        return self.storages[key]


def _flatten(obj, prefix=""):
    """Nested dicts of arrays -> one flat dict with dotted keys (arrays only)."""
    out = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, np.ndarray):
            out[name] = value
    return out


def _state_dict(obj, path):
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if set(obj) == {wrapper} or (wrapper in obj and isinstance(obj[wrapper], dict)
                                         and len(obj) <= 3):
                obj = obj[wrapper]
                break
        tensors = _flatten(obj)
        if tensors:
            return tensors
    raise CheckpointError(f"{path!r} holds no state dict of tensors (found "
                          f"{type(obj).__name__}).")


def _read_with_torch(path):
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)

    def to_numpy(value):
        if isinstance(value, torch.Tensor):
            return value.detach().float().numpy() if value.dtype == torch.bfloat16 \
                else value.detach().numpy()
        if isinstance(value, dict):
            return {k: to_numpy(v) for k, v in value.items()}
        return value

    return _state_dict(to_numpy(state), path)


def read_torch_zip(path, *, use_torch=None):
    """Reads a ``torch.save`` zip archive into a ``Checkpoint`` of format "torch_zip".

    Args:
        path: the ``.pth`` file.
        use_torch: read with torch (True), with kcnn's restricted unpickler (False), or with
            torch when it is importable (None).
    """
    if use_torch is None:
        try:
            import torch  # noqa: F401

            use_torch = True
        except ImportError:
            use_torch = False
    try:
        if use_torch:
            return Checkpoint("torch_zip", _read_with_torch(path), path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickle_name = next(n for n in names if n == "data.pkl" or n.endswith("/data.pkl"))
            prefix = pickle_name[:-len("data.pkl")]
            byteorder = (archive.read(prefix + "byteorder").decode().strip()
                         if prefix + "byteorder" in names else "little")
            unpickler = _Unpickler(io.BytesIO(archive.read(pickle_name)), archive=archive,
                                   prefix=prefix, byteorder=byteorder, path=path)
            obj = unpickler.load()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, OSError, ValueError,
            StopIteration) as e:
        raise CheckpointError(f"The torch.save archive {path!r} cannot be read (truncated or "
                              f"damaged?): {type(e).__name__}: {e}") from None
    return Checkpoint("torch_zip", _state_dict(obj, path), path)
