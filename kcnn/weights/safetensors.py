"""The safetensors format, read without the ``safetensors`` package.

Layout (https://github.com/huggingface/safetensors): an unsigned 64-bit little-endian header
length ``N``, ``N`` bytes of JSON mapping each tensor name to its ``dtype``, ``shape`` and
``data_offsets`` ``[begin, end)`` (relative to the end of the header), an optional
``__metadata__`` entry, then the tensors' bytes, little-endian and C-contiguous.
"""

from __future__ import annotations

import json
import os

import numpy as np

from kcnn.weights.checkpoint import Checkpoint, CheckpointError

__all__ = ["read_safetensors", "DTYPES"]

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bf16", "I64": "<i8",
          "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def bfloat16_to_float32(raw):
    """bfloat16 bits (little-endian uint16) as float32: the upper half of a float32."""
    return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """Reads a ``.safetensors`` file into a ``Checkpoint`` of format "safetensors"."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"The safetensors header of {path!r} is not valid JSON "
                                  f"(damaged file?): {e}") from None
        start = 8 + length
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = DTYPES.get(info.get("dtype"))
            begin, end = info["data_offsets"]
            shape = tuple(info["shape"])
            if dtype is None:
                raise CheckpointError(f"Tensor {name!r} of {path!r} has dtype "
                                      f"{info.get('dtype')!r}, which kcnn does not read.")
            if start + end > size:
                raise CheckpointError(f"{path!r} is truncated: tensor {name!r} ends at byte "
                                      f"{start + end} of a {size}-byte file.")
            f.seek(start + begin)
            raw = f.read(end - begin)
            array = (bfloat16_to_float32(raw) if dtype == "bf16"
                     else np.frombuffer(raw, dtype))
            if array.size != int(np.prod(shape)):
                raise CheckpointError(f"Tensor {name!r} of {path!r} has {array.size} values "
                                      f"for shape {shape} (damaged file?).")
            tensors[name] = array.reshape(shape).copy()
    return Checkpoint("safetensors", tensors, path)
