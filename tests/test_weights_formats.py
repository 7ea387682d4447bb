"""Checkpoint readers (kcnn.weights.checkpoint and its format modules): each format written
here in its publisher's own layout, independently of kcnn's readers — keras.applications'
legacy HDF5 with Keras 2's ``:0`` names, torch.save's zip archive (its pickle opcodes and
storages), safetensors' header and buffer, and Caffe's protobuf wire bytes encoded by hand
from caffe.proto's field numbers — then read back; truncated, damaged and foreign files each
give their error. The conversion helpers are checked alone against numpy formulas."""

import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile

import h5py
import numpy as np
import pytest

from kcnn.weights import (CheckpointError, fold_bias_into_bn, permute_flatten_chw_to_hwc,
                          read_checkpoint)
from kcnn.weights.caffe import read_caffemodel
from kcnn.weights.convert import caffe_batch_norm_statistics, conv_kernel_from_oihw

# === Writers: each format as its publisher lays it out ===


def write_keras_h5(path, layers):
    """Keras 2's ``save_weights`` layout: ``layers`` is [(layer name, [(weight name,
    array), ...]), ...]; datasets at ``<layer>/<layer>/<weight>:0``."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name, _ in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            group = f.create_group(name)
            names = [f"{name}/{w}:0" for w, _ in weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, (_, array) in zip(names, weights):
                group.create_dataset(n, data=array)


def keras_model_layers(model):
    """A Keras model's weights as ``write_keras_h5`` takes them (Keras 2 names)."""
    return [(layer.name, [(w.name, np.asarray(w)) for w in layer.weights])
            for layer in model.layers if layer.weights]


class _FakeStorage:
    def __init__(self, array):
        self.array = array


def write_torch_zip(path, state, *, prefix="archive", byteorder="little"):
    """torch.save's zip layout (PyTorch >= 1.6): a protocol-2 pickle of an OrderedDict
    whose tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
    requires_grad, backward_hooks)`` calls on persistent storages ``("storage",
    torch.FloatStorage, key, "cpu", numel)`` kept in ``data/<key>``. torch is not needed:
    stand-in modules give the pickle the same global names."""
    storage_types = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage",
                     np.dtype("float16"): "HalfStorage"}
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")
    classes = {}
    for name in storage_types.values():
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
        classes[name] = cls

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch_mod._utils = utils_mod
    storages = []

    class Tensor:
        def __init__(self, array):
            self.array = np.array(array, order="C")

        def __reduce__(self):
            storage = _FakeStorage(self.array)
            storages.append(storage)
            stride = tuple(s // self.array.itemsize for s in self.array.strides)
            return (_rebuild_tensor_v2, (storage, 0, self.array.shape, stride, False,
                                         collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                key = str(storages.index(obj))
                kind = classes[storage_types[obj.array.dtype]]
                return ("storage", kind, key, "cpu", obj.array.size)
            return None

    payload = collections.OrderedDict((k, Tensor(v)) for k, v in state.items())
    payload._metadata = collections.OrderedDict({"": {"version": 1}})
    saved = {m: sys.modules.get(m) for m in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch_mod, "torch._utils": utils_mod})
    try:
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(payload)
    finally:
        for m, module in saved.items():
            if module is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = module
    order = "<" if byteorder == "little" else ">"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", buffer.getvalue())
        z.writestr(f"{prefix}/byteorder", byteorder)
        for i, storage in enumerate(storages):
            a = storage.array
            z.writestr(f"{prefix}/data/{i}", a.astype(a.dtype.newbyteorder(order)).tobytes())
        z.writestr(f"{prefix}/version", "3\n")


def write_safetensors(path, state, metadata=None):
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("float16"): "F16"}
    header, chunks, offset = {}, [], 0
    for name, array in state.items():
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(chunks))


# Protocol buffers wire format, by hand: tag = field << 3 | wire type.
def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, wire, payload):
    tag = _varint(number << 3 | wire)
    if wire == 2:
        return tag + _varint(len(payload)) + payload
    return tag + payload


def pb_string(number, text):
    return _field(number, 2, text.encode())


def pb_varint(number, value):
    return _field(number, 0, _varint(value))


def pb_float(number, value):
    return _field(number, 5, struct.pack("<f", value))


def pb_blob(array, *, legacy=False):
    """BlobProto: shape (7: BlobShape, dim = 1 packed int64) or the legacy num, channels,
    height, width (1-4, padded on the left with 1s to 4-D); data (5, packed float)."""
    array = np.asarray(array, np.float32)
    if legacy:
        dims = (1,) * (4 - array.ndim) + array.shape
        head = b"".join(pb_varint(i + 1, d) for i, d in enumerate(dims))
    else:
        head = _field(7, 2, _field(1, 2, b"".join(_varint(d) for d in array.shape)))
    return head + _field(5, 2, array.astype("<f4").tobytes())


def pb_layer(name, kind, blobs, *, v1=False, extra=b""):
    """LayerParameter (name 1, type 2 string, blobs 7) or V1LayerParameter (name 4, type 5
    enum, blobs 6, legacy 4-D blobs)."""
    if v1:
        body = pb_string(4, name) + pb_varint(5, kind)
        body += b"".join(_field(6, 2, pb_blob(b, legacy=True)) for b in blobs)
    else:
        body = pb_string(1, name) + pb_string(2, kind)
        body += b"".join(_field(7, 2, pb_blob(b)) for b in blobs)
    return body + extra


def write_caffemodel(path, layers, *, name="net", v1=False):
    """NetParameter: name (1), then ``layers`` (2, V1) or ``layer`` (100)."""
    body = pb_string(1, name)
    for layer in layers:
        body += _field(2 if v1 else 100, 2, layer)
    with open(path, "wb") as f:
        f.write(body)


V1 = {"Convolution": 4, "InnerProduct": 14, "LRN": 15, "Pooling": 17, "ReLU": 18}


RNG = np.random.default_rng(0)
STATE = collections.OrderedDict([
    ("conv1.weight", RNG.normal(size=(4, 3, 3, 5)).astype("float32")),
    ("bn1.running_mean", RNG.normal(size=4).astype("float32")),
    ("bn1.num_batches_tracked", np.array(7, dtype="int64")),
    ("fc.weight", RNG.normal(size=(2, 4)).astype("float16")),
])


def assert_state(tensors, state=STATE):
    assert list(tensors) == list(state)
    for key, value in state.items():
        assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape, key
        np.testing.assert_array_equal(tensors[key], value)


@pytest.mark.parametrize("prefix, byteorder", [("archive", "little"),
                                               ("resnet18-f37072fd", "big")])
def test_torch_zip_without_torch(tmp_path, prefix, byteorder):
    path = tmp_path / "weights.pth"
    write_torch_zip(path, STATE, prefix=prefix, byteorder=byteorder)
    checkpoint = read_checkpoint(path)
    assert checkpoint.format == "torch_zip" and checkpoint.layers is None
    assert_state(checkpoint.tensors)
    # the suffix does not matter: detected from the content
    renamed = tmp_path / "weights.bin"
    path.rename(renamed)
    assert read_checkpoint(renamed).format == "torch_zip"


def test_torch_zip_refuses_code_and_damage(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": print}, protocol=2))
    with pytest.raises(CheckpointError, match=r"pickles __builtin__\.print"):
        read_checkpoint(path)
    good = tmp_path / "good.pth"
    write_torch_zip(good, STATE)
    data = good.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        read_checkpoint(tmp_path / "cut.pth")
    (tmp_path / "old.pth").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="before PyTorch 1.6"):
        read_checkpoint(tmp_path / "old.pth")


def test_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(path, STATE, metadata={"format": "pt"})
    checkpoint = read_checkpoint(path)
    assert checkpoint.format == "safetensors"
    assert_state(checkpoint.tensors)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-8])
    with pytest.raises(CheckpointError, match="truncated: tensor 'fc.weight'"):
        read_checkpoint(tmp_path / "cut.safetensors")


def test_safetensors_bfloat16_and_wrapped_torch_state_dicts(tmp_path):
    values = np.array([1.5, -2.25, 3.0e-3], np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # exact in bfloat16's 8 bits
    header = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}})
    (tmp_path / "bf16.safetensors").write_bytes(
        len(header).to_bytes(8, "little") + header.encode() + bits.tobytes())
    got = read_checkpoint(tmp_path / "bf16.safetensors").tensors["w"]
    np.testing.assert_array_equal(got, (bits.astype(np.uint32) << 16).view(np.float32))
    np.testing.assert_allclose(got, values, rtol=2 ** -7)
    # training checkpoints wrap the state dict: {"state_dict": {...}} -> the tensors
    from kcnn.weights.torch_zip import _state_dict

    inner = {"conv1.weight": np.ones((1, 1, 1, 1), np.float32)}
    assert list(_state_dict({"state_dict": inner, "epoch": 3}, "x")) == ["conv1.weight"]
    with pytest.raises(CheckpointError, match="no state dict"):
        _state_dict({"epoch": 3}, "x")


def test_keras_legacy_h5(tmp_path):
    path = tmp_path / "w.h5"
    kernel, bias = RNG.normal(size=(3, 3, 2, 4)), RNG.normal(size=4)
    write_keras_h5(path, [("block1_conv1", [("kernel", kernel), ("bias", bias)]),
                          ("flatten", [])])
    checkpoint = read_checkpoint(path)
    assert checkpoint.format == "keras_h5"
    assert checkpoint.layers == {"block1_conv1": ["block1_conv1/block1_conv1/kernel:0",
                                                  "block1_conv1/block1_conv1/bias:0"],
                                 "flatten": []}
    np.testing.assert_array_equal(checkpoint.layer("block1_conv1")[0], kernel)
    data = path.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        read_checkpoint(tmp_path / "cut.h5")


def test_caffemodel_from_hand_encoded_wire_bytes(tmp_path):
    w = RNG.normal(size=(4, 3, 2, 2)).astype("float32")
    b = RNG.normal(size=4).astype("float32")
    fc = RNG.normal(size=(5, 16)).astype("float32")
    # V2 ("layer", field 100) with BlobShape, BatchNorm eps in batch_norm_param (139)
    v2 = tmp_path / "v2.caffemodel"
    write_caffemodel(v2, [
        pb_layer("conv1", "Convolution", [w, b]),
        pb_layer("relu1", "ReLU", []),
        pb_layer("bn_conv1", "BatchNorm", [b, b * b, np.array([2.0])],
                 extra=_field(139, 2, pb_float(3, 2e-5))),
        pb_layer("fc1000", "InnerProduct", [fc, b[:1].repeat(5)])])
    c = read_caffemodel(v2)
    assert c.format == "caffe" and read_checkpoint(v2).format == "caffe"
    assert list(c.layers) == ["conv1", "relu1", "bn_conv1", "fc1000"]
    assert c.layer_types["bn_conv1"] == "BatchNorm" and c.layers["relu1"] == []
    np.testing.assert_array_equal(c.tensors["conv1/0"], w)
    np.testing.assert_array_equal(c.tensors["fc1000/0"], fc)
    assert c.params["bn_conv1"]["eps"] == pytest.approx(2e-5)
    # V1 ("layers", field 2): legacy 4-D blobs, enum types, lrn_param (18) with k (5)
    v1 = tmp_path / "v1.caffemodel"
    write_caffemodel(v1, [pb_layer("conv1", V1["Convolution"], [w, b], v1=True),
                          pb_layer("norm1", V1["LRN"], [], v1=True,
                                   extra=_field(18, 2, pb_varint(1, 5) + pb_float(5, 1.0))),
                          pb_layer("fc8", V1["InnerProduct"], [fc, b], v1=True)], v1=True)
    c = read_caffemodel(v1)
    assert c.layer_types == {"conv1": "Convolution", "norm1": "LRN", "fc8": "InnerProduct"}
    assert c.tensors["conv1/1"].shape == (1, 1, 1, 4)  # the legacy layout, as stored
    assert c.tensors["fc8/0"].shape == (1, 1, 5, 16)
    np.testing.assert_array_equal(c.tensors["fc8/0"].reshape(5, 16), fc)
    assert c.params["norm1"] == {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0}
    data = v1.read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[:-7])
    with pytest.raises(CheckpointError, match="cannot be parsed"):
        read_checkpoint(tmp_path / "cut.caffemodel")


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a weights file kcnn reads"):
        read_checkpoint(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match="No such weights file"):
        read_checkpoint(tmp_path / "absent.pth")
    with pytest.raises(TypeError, match="path"):
        read_checkpoint(3)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.md", "x")
    with pytest.raises(CheckpointError, match="neither a torch.save file"):
        read_checkpoint(tmp_path / "other.zip")


def test_conversion_helpers_alone():
    bias, mean = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    np.testing.assert_array_equal(fold_bias_into_bn(bias, mean), [1.5, 4.0])
    # BN(z + b) with the folded mean equals BN(z + b) with the original one
    z, gamma, beta, var, eps = RNG.normal(size=(6, 2)), 1.3, 0.2, np.array([0.7, 1.9]), 1e-5
    folded = fold_bias_into_bn(bias, mean)
    np.testing.assert_allclose(gamma * (z - folded) / np.sqrt(var + eps) + beta,
                               gamma * (z + bias - mean) / np.sqrt(var + eps) + beta)
    with pytest.raises(ValueError, match="one value per channel"):
        fold_bias_into_bn(np.ones(3), mean)
    # a (c, h, w) flatten against Keras's (h, w, c) flatten of the same feature map
    c, h, w, units = 3, 2, 4, 5
    features = RNG.normal(size=(h, w, c))
    kernel_chw = RNG.normal(size=(c * h * w, units))
    expected = features.transpose(2, 0, 1).reshape(-1) @ kernel_chw
    permuted = permute_flatten_chw_to_hwc(kernel_chw, (h, w, c))
    np.testing.assert_allclose(features.reshape(-1) @ permuted, expected)
    with pytest.raises(ValueError, match="24 input rows"):
        permute_flatten_chw_to_hwc(kernel_chw[:-1], (h, w, c))
    # (out, in, kh, kw) -> (kh, kw, in, out): a correlation gives the same response
    oihw = RNG.normal(size=(4, 3, 2, 5))
    patch = RNG.normal(size=(3, 2, 5))
    np.testing.assert_allclose(np.einsum("hwi,hwio->o", patch.transpose(1, 2, 0),
                                         conv_kernel_from_oihw(oihw)),
                               np.einsum("ihw,oihw->o", patch, oihw))
    mean, var = caffe_batch_norm_statistics(np.array([2.0, 4.0]), np.array([6.0, 8.0]), [2.0])
    np.testing.assert_array_equal(mean, [1.0, 2.0])
    np.testing.assert_array_equal(var, [3.0, 4.0])
    np.testing.assert_array_equal(caffe_batch_norm_statistics([1.0], [1.0], [0.0])[0], [0.0])


def test_kcnn_files_are_detected_by_content(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    for name in ("m.keras", "m.weights.h5"):
        checkpoint = read_checkpoint(tmp_path / name)
        assert checkpoint.format == "kcnn"
        arrays = sorted((a.shape for a in checkpoint.tensors.values()), key=len)
        assert arrays == [(2,), (3, 2)]


def test_kcnn_files_load_without_reading_them_twice(tmp_path, monkeypatch):
    """load_weights hands kcnn's own files to Keras once their format is known."""
    import keras

    from kcnn.weights import loader

    def functional():
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name="m")

    model = functional()
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    monkeypatch.setattr(loader, "read_checkpoint", lambda path: pytest.fail(f"read {path}"))
    for name in ("m.keras", "m.weights.h5"):
        other = functional()
        loader.load_weights(other, tmp_path / name)
        for a, b in zip(other.weights, model.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
