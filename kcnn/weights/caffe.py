"""Caffe ``.caffemodel`` files, read with protobuf from a small runtime schema.

A caffemodel is a serialized ``caffe.NetParameter`` (``src/caffe/proto/caffe.proto`` of
BVLC Caffe). kcnn declares only the fields it reads, by their field numbers, and builds the
message classes at run time with ``descriptor_pb2`` (no ``protoc``, no generated code);
protobuf skips every other field:

- ``NetParameter``: ``name`` (1), ``layers`` (2, ``V1LayerParameter``, the format of the
  2014 releases: BVLC AlexNet, GoogLeNet, VGG) and ``layer`` (100, ``LayerParameter``, since
  2015: MSRA's ResNets).
- ``LayerParameter``: ``name`` (1), ``type`` (2, a string), ``blobs`` (7), ``lrn_param``
  (118), ``batch_norm_param`` (139). ``V1LayerParameter``: ``name`` (4), ``type`` (5, an
  enum), ``blobs`` (6), ``lrn_param`` (18).
- ``BlobProto``: ``shape`` (7, ``BlobShape.dim`` = 1, packed int64) or the legacy 4-D
  ``num``/``channels``/``height``/``width`` (1-4); ``data`` (5, packed float32) or
  ``double_data`` (8).
- ``LRNParameter``: ``local_size`` (1, default 5), ``alpha`` (2, default 1), ``beta``
  (3, default 0.75), ``k`` (5, default 1). ``BatchNormParameter``: ``eps`` (3, default 1e-5).

Blobs keep Caffe's layout: convolution weights ``(out, in / group, h, w)``, inner products
``(out, in)`` (legacy 4-D blobs ``(1, 1, out, in)``), biases ``(out,)`` (legacy
``(1, 1, 1, out)``); BatchNorm's blobs are mean, variance and a one-element scale factor that
both must be divided by; Scale's are gamma and beta.
"""

from __future__ import annotations

import functools

import numpy as np

from kcnn.weights.checkpoint import Checkpoint, CheckpointError

__all__ = ["read_caffemodel", "V1_TYPES", "message_classes"]

# V1LayerParameter.LayerType values of the layers found in the classic models.
V1_TYPES = {3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 14: "InnerProduct",
            15: "LRN", 17: "Pooling", 18: "ReLU", 20: "Softmax", 21: "SoftmaxWithLoss",
            22: "Split", 1: "Accuracy", 25: "Eltwise"}
LRN_DEFAULTS = {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0}
BN_EPS_DEFAULT = 1e-5


@functools.cache
def message_classes():
    """The message classes of the schema above: ``{"NetParameter": cls, ...}``."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="kcnn_caffe_subset.proto",
                                               package="kcnn_caffe", syntax="proto2")

    def message(name, fields):
        m = proto.message_type.add(name=name)
        for field_name, number, kind, repeated in fields:
            f = m.field.add(name=field_name, number=number,
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if isinstance(kind, str):
                f.type, f.type_name = F.TYPE_MESSAGE, f".kcnn_caffe.{kind}"
            else:
                f.type = kind
                if repeated:
                    f.options.packed = True

    message("BlobShape", [("dim", 1, F.TYPE_INT64, True)])
    message("BlobProto", [("num", 1, F.TYPE_INT32, False), ("channels", 2, F.TYPE_INT32, False),
                          ("height", 3, F.TYPE_INT32, False), ("width", 4, F.TYPE_INT32, False),
                          ("data", 5, F.TYPE_FLOAT, True), ("shape", 7, "BlobShape", False),
                          ("double_data", 8, F.TYPE_DOUBLE, True)])
    message("LRNParameter", [("local_size", 1, F.TYPE_UINT32, False),
                             ("alpha", 2, F.TYPE_FLOAT, False), ("beta", 3, F.TYPE_FLOAT, False),
                             ("k", 5, F.TYPE_FLOAT, False)])
    message("BatchNormParameter", [("eps", 3, F.TYPE_FLOAT, False)])
    message("LayerParameter", [("name", 1, F.TYPE_STRING, False),
                               ("type", 2, F.TYPE_STRING, False),
                               ("blobs", 7, "BlobProto", True),
                               ("lrn_param", 118, "LRNParameter", False),
                               ("batch_norm_param", 139, "BatchNormParameter", False)])
    message("V1LayerParameter", [("name", 4, F.TYPE_STRING, False),
                                 ("type", 5, F.TYPE_INT32, False),
                                 ("blobs", 6, "BlobProto", True),
                                 ("lrn_param", 18, "LRNParameter", False)])
    message("NetParameter", [("name", 1, F.TYPE_STRING, False),
                             ("layers", 2, "V1LayerParameter", True),
                             ("layer", 100, "LayerParameter", True)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {m.name: message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"kcnn_caffe.{m.name}")) for m in proto.message_type}


def _blob_array(blob, where):
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
    values = (np.asarray(blob.data, dtype=np.float32) if len(blob.data)
              else np.asarray(blob.double_data, dtype=np.float64).astype(np.float32))
    if values.size != int(np.prod(shape)):
        raise CheckpointError(f"Blob {where} has {values.size} values for shape {shape} "
                              "(damaged file?).")
    return values.reshape(shape)


def _params(layer, kind):
    params = {}
    if layer.HasField("lrn_param"):
        p = layer.lrn_param
        params = {key: float(getattr(p, key)) if p.HasField(key) else default
                  for key, default in LRN_DEFAULTS.items()}
        params["local_size"] = int(params["local_size"])
    elif kind == "LRN":
        params = dict(LRN_DEFAULTS)
    if kind == "BatchNorm":
        bn = getattr(layer, "batch_norm_param", None)
        params["eps"] = (float(bn.eps) if bn is not None and layer.HasField("batch_norm_param")
                         and bn.HasField("eps") else BN_EPS_DEFAULT)
    return params


def read_caffemodel(path):
    """Reads a ``.caffemodel`` into a ``Checkpoint`` of format "caffe".

    Tensors are keyed ``<layer>/<blob index>`` (``conv1/0`` the weights, ``conv1/1`` the
    bias); ``layers`` lists them per layer, ``layer_types`` gives each layer's type and
    ``params`` its LRN / BatchNorm parameters.
    """
    from google.protobuf.message import DecodeError

    net = message_classes()["NetParameter"]()
    with open(path, "rb") as f:
        data = f.read()
    try:
        net.ParseFromString(data)
    except DecodeError as e:
        raise CheckpointError(f"The Caffe model {path!r} cannot be parsed (truncated or not a "
                              f"caffemodel?): {e}") from None
    if not len(net.layer) and not len(net.layers):
        raise CheckpointError(f"{path!r} parses as a Caffe NetParameter without layers: not a "
                              "caffemodel, or an empty one.")
    tensors, layers, types, params = {}, {}, {}, {}
    entries = [(layer, layer.type) for layer in net.layer]
    entries += [(layer, V1_TYPES.get(layer.type, f"V1:{layer.type}")) for layer in net.layers]
    for layer, kind in entries:
        keys = []
        for i, blob in enumerate(layer.blobs):
            key = f"{layer.name}/{i}"
            tensors[key] = _blob_array(blob, f"{i} of layer {layer.name!r} in {path!r}")
            keys.append(key)
        layers[layer.name] = keys
        types[layer.name] = kind
        layer_params = _params(layer, kind)
        if layer_params:
            params[layer.name] = layer_params
    return Checkpoint("caffe", tensors, path, layers=layers, layer_types=types, params=params)
