"""Which kcnn network a model is, and which variant it was built as.

A checkpoint fits one variant of a network: torchvision's ResNet-50 is v1.5
(``stride_in_3x3=True``), keras.applications' has a BatchNorm epsilon of 1.001e-5, MSRA's
pools its stem the Caffe way, BVLC's AlexNet has two towers and Caffe's LRN. The shapes of
the weights do not show most of these, so the loader reads the variant off the built model
and refuses a checkpoint of another one, naming the builder argument to pass.
"""

from __future__ import annotations

import math

import keras

from kcnn.layers.normalization import LocalResponseNormalization
from kcnn.layers.residual import BasicBlock, BottleneckBlock

__all__ = ["model_family", "model_variant", "check_variant", "VariantError"]

FAMILIES = ("resnet", "vgg", "alexnet", "googlenet")


class VariantError(ValueError):
    """A checkpoint loaded into a model of another variant of its network."""


def model_family(model):
    """"resnet", "vgg", "alexnet" or "googlenet", from the model's layers.

    Raises:
        ValueError: for a model of no family with published checkpoints.
    """
    names = {layer.name for layer in model.layers}
    if "conv1_conv" in names and any(isinstance(layer, (BasicBlock, BottleneckBlock))
                                     for layer in model.layers):
        return "resnet"
    if "block1_conv1" in names:
        return "vgg"
    if "conv1_7x7_s2" in names:
        return "googlenet"
    if {"conv1", "conv2", "conv5"} <= names:
        return "alexnet"
    raise ValueError("Published checkpoints load into kcnn's ResNet, VGG, AlexNet and "
                     f"GoogLeNet models; model {model.name!r} is none of them. "
                     f"Received: model={model.name!r}")


def _index(model, name):
    return [layer.name for layer in model.layers].index(name)


def model_variant(model):
    """The variant arguments a model was built with, as its builder names them.

    Returns:
        e.g. ``{"block": "bottleneck", "stride_in_3x3": False, "bn_epsilon": 1e-5,
        "stem_pool": "padded"}`` for kcnn's default ResNet-50.
    """
    family = model_family(model)
    names = {layer.name for layer in model.layers}
    variant = {}
    if family == "resnet":
        blocks = [layer for layer in model.layers
                  if isinstance(layer, (BasicBlock, BottleneckBlock))]
        variant["block"] = "bottleneck" if isinstance(blocks[0], BottleneckBlock) else "basic"
        if variant["block"] == "bottleneck":
            variant["stride_in_3x3"] = blocks[0].stride_in_3x3
        variant["bn_epsilon"] = model.get_layer("conv1_bn").epsilon
        if "pool1_pad" in names:
            padding = tuple(tuple(p) for p in model.get_layer("pool1_pad").padding)
            variant["stem_pool"] = "padded" if padding == ((1, 1), (1, 1)) else "caffe"
    elif family == "vgg":
        bns = [layer for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization)]
        variant["batch_norm"] = bool(bns)
        if bns:
            variant["bn_epsilon"] = bns[0].epsilon
    elif family == "alexnet":
        variant["groups"] = model.get_layer("conv2").groups
        if "norm1" in names:
            norm = model.get_layer("norm1")
            variant["lrn"] = ("paper" if _index(model, "norm1") < _index(model, "pool1")
                              else "caffenet")
            variant["lrn_k"] = norm.k
            variant["lrn_convention"] = norm.convention
        else:
            variant["lrn"] = None
    elif family == "googlenet":
        variant["lrn"] = any(isinstance(layer, LocalResponseNormalization)
                             for layer in model.layers)
    return variant


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6)
        except (TypeError, ValueError):
            return False
    return a == b


def check_variant(model, required, *, origin, path):
    """Refuses ``model`` if it was not built with the ``required`` variant arguments.

    Args:
        model: the kcnn model.
        required: builder arguments the checkpoint needs, e.g. ``{"stride_in_3x3": True}``;
            keys the model does not show (another family's) are ignored.
        origin: what the checkpoint is, for the message ("torchvision ResNet (v1.5)").
        path: the file, for the message.

    Raises:
        VariantError: naming the first argument that differs and the value to pass.
    """
    actual = model_variant(model)
    for key, value in required.items():
        if key in actual and not _same(actual[key], value):
            fixes = ", ".join(f"{k}={v!r}" for k, v in required.items()
                              if k in actual and k not in ("block", "batch_norm"))
            remedy = f"build the model with {fixes}"
            if key == "batch_norm":  # a network of its own: vgg16 or vgg16_bn
                remedy = ("use the `_bn` network (vgg16_bn, ...)" if value
                          else "use the network without `_bn` (vgg16, ...)")
            raise VariantError(
                f"`weights` file {path!r} is {origin}, trained with {key}={value!r}; model "
                f"{model.name!r} was built with {key}={actual[key]!r}. Instead, {remedy} "
                "(kcnn.build(name, weights=<source name>) builds the right variant). "
                f"Received: {key}={actual[key]!r}")
