"""VGG checkpoints into ``kcnn.models.vgg`` networks.

=================  ========================  ==============================  ===============
publisher          convolution b, i          fc1, fc2                        classifier
=================  ========================  ==============================  ===============
keras.applications ``block{b}_conv{i}``      ``fc1``, ``fc2``                ``predictions``
torchvision        ``features.{n}`` (conv,   ``classifier.0``, ``.3``        ``classifier.6``
                   BN at n + 1 in ``_bn``)
VGG (Caffe)        ``conv{b}_{i}``           ``fc6``, ``fc7``                ``fc8``
=================  ========================  ==============================  ===============

torchvision's ``features`` number every module: each convolution, its BN (``_bn`` forms),
its ReLU, and one max pooling per block. torchvision and Caffe flatten the last feature map
channels first, so fc1's input rows are permuted to Keras's order; torchvision's ``_bn``
convolutions keep a bias before BN, folded into the moving mean.
"""

from __future__ import annotations

import keras

from kcnn.weights.plan import reader_for

__all__ = ["vgg_variant", "map_vgg"]

NAMES = {"keras_h5": ("fc1", "fc2", "predictions"),
         "torch_zip": ("classifier.0", "classifier.3", "classifier.6"),
         "safetensors": ("classifier.0", "classifier.3", "classifier.6"),
         "caffe": ("fc6", "fc7", "fc8")}


def vgg_variant(checkpoint):
    """``(origin, required builder arguments)`` of a VGG checkpoint."""
    if checkpoint.format == "keras_h5":
        return "keras.applications' VGG (ported from the VGG team's Caffe models)", {
            "batch_norm": False}
    if checkpoint.format == "caffe":
        return "the VGG team's Caffe model", {"batch_norm": False}
    batch_norm = any(k.endswith(".running_mean") for k in checkpoint.tensors)
    variant = {"batch_norm": batch_norm}
    if batch_norm:
        variant["bn_epsilon"] = 1e-5
    return f"a torchvision VGG{'-BN' if batch_norm else ''}", variant


def _convolutions(model):
    """``(block, index, conv, bn or None)`` in order."""
    out = []
    names = {layer.name for layer in model.layers}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith("block"):
            block, index = (int(p) for p in layer.name[len("block"):].split("_conv"))
            bn = model.get_layer(f"{layer.name}_bn") if f"{layer.name}_bn" in names else None
            out.append((block, index, layer, bn))
    return out


def map_vgg(plan):
    """Fills ``plan`` with every weight of a kcnn VGG (see the module docstring)."""
    model, fmt = plan.model, plan.checkpoint.format
    reader = reader_for(plan)
    n = 0  # torchvision's module index in ``features``
    previous_block = 1
    for block, index, conv, bn in _convolutions(model):
        if block != previous_block:
            n += 1  # the max pooling that ends the previous block
            previous_block = block
        if fmt == "keras_h5":
            src = conv.name
        elif fmt == "caffe":
            src = f"conv{block}_{index}"
        else:
            src = f"features.{n}"
        if bn is None:
            reader.conv_biased(conv, src, where=conv.name)
            n += 2
        else:
            bn_src = f"features.{n + 1}" if fmt not in ("keras_h5", "caffe") else bn.name
            reader.conv_bn(conv, bn, src, bn_src, where=conv.name)
            n += 3
    fc1, fc2, head = NAMES[fmt]
    names = {layer.name for layer in model.layers}
    if "fc1" not in names:
        for name in (fc1, fc2, head):
            plan.skip(reader.layer_keys(name))
        return
    flat = None if fmt == "keras_h5" else tuple(model.get_layer("flatten").input.shape[1:])
    reader.dense(model.get_layer("fc1"), fc1, where="fc1", feature_shape=flat)
    reader.dense(model.get_layer("fc2"), fc2, where="fc2")
    if reader.has(head):
        reader.dense(model.get_layer("predictions"), head, where="predictions", head=True)
    else:
        plan.head_missing = True
