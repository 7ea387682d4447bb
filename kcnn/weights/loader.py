"""``load_weights``: any supported checkpoint into a kcnn model, exactly.

Steps: read the file (``read_checkpoint``, format from its content); kcnn's own files keep
their name-by-name (``.keras``) or shape-checked (``.weights.h5``) loading. A publisher's
checkpoint goes through its family's mapping: the variant it was trained as is checked
against the model first (``kcnn.weights.variants``), then every model layer takes its
converted tensors, a missing or misshapen one naming the first layer that differs, and a
file with tensors left over (a deeper network's) is refused. Only then is anything
assigned, so a refused file leaves the model untouched.

The classifier: ``include_top=False`` loads the body and ignores the file's top; a model
whose ``predictions`` has another number of classes than the file (or a file without a
classifier, keras.applications' "notop" files) keeps its fresh classifier, said in one log
line of the ``kcnn.weights`` logger.
"""

from __future__ import annotations

import logging
import os

from kcnn.weights.checkpoint import CheckpointError, detect_format, read_checkpoint
from kcnn.weights.map_caffe_nets import (alexnet_variant, googlenet_variant, map_alexnet,
                                         map_googlenet)
from kcnn.weights.map_resnet import map_resnet, resnet_variant
from kcnn.weights.map_vgg import map_vgg, vgg_variant
from kcnn.weights.plan import Plan, WeightsMismatchError
from kcnn.weights.variants import check_variant, model_family

__all__ = ["load_weights", "MAPPINGS"]

_log = logging.getLogger("kcnn.weights")
TORCH = ("torch_zip", "safetensors")

# (family, checkpoint format) -> (variant of the file, mapping)
MAPPINGS = {
    **{("resnet", f): (resnet_variant, map_resnet) for f in ("keras_h5", "caffe", *TORCH)},
    **{("vgg", f): (vgg_variant, map_vgg) for f in ("keras_h5", "caffe", *TORCH)},
    ("alexnet", "caffe"): (alexnet_variant, map_alexnet),
    ("googlenet", "caffe"): (googlenet_variant, map_googlenet),
}


def _plan(model, checkpoint, source):
    family = model_family(model)
    if (family, checkpoint.format) not in MAPPINGS:
        known = ", ".join(f for fam, f in MAPPINGS if fam == family)
        raise WeightsMismatchError(
            f"`weights` file {checkpoint.path!r} is a {checkpoint.format!r} checkpoint; "
            f"kcnn's {family} networks load {known} checkpoints (no published "
            f"{checkpoint.format} checkpoint has the architecture of kcnn's {family}).")
    if source is not None and source.format != checkpoint.format and not (
            {source.format, checkpoint.format} <= set(TORCH)):
        raise WeightsMismatchError(
            f"`weights` file {checkpoint.path!r} is a {checkpoint.format!r} checkpoint, but "
            f"the {source.origin} checkpoint {source.name!r} of {source.model} is "
            f"{source.format!r}: the file at that path is another one.")
    variant_of, mapping = MAPPINGS[(family, checkpoint.format)]
    origin, variant = variant_of(checkpoint)
    if source is not None:
        check_variant(model, dict(source.variant),
                      origin=f"the {source.origin} checkpoint {source.name!r}",
                      path=checkpoint.path)
    check_variant(model, variant, origin=origin, path=checkpoint.path)
    plan = Plan(checkpoint, model, origin=origin, variant=variant)
    mapping(plan)
    plan.finish()
    return plan


def _head(plan, skip_top):
    """The classifier entries to load, or () with the reason it stays fresh."""
    if not plan.head:
        return (), ("the file has no classifier" if plan.head_missing else None)
    if skip_top:
        return (), "skip_top=True"
    different = [(layer, v, a) for layer, v, a, _ in plan.head if a.shape != tuple(v.shape)]
    if not different:
        return plan.head, None
    layer, variable, array = different[0]
    if skip_top is False:
        raise WeightsMismatchError(
            f"`weights` file {plan.checkpoint.path!r} does not fit model "
            f"{plan.model.name!r}: layer {layer!r}: {variable.name} has shape "
            f"{tuple(array.shape)} in the file but {tuple(variable.shape)} in the model "
            "(pass skip_top=None to keep a fresh classifier).")
    return (), (f"the model has {variable.shape[-1]} classes, the file "
                f"{array.shape[-1]}")


def load_weights(model, path, *, source=None, skip_top=None):
    """Loads a weights file of any supported format into a kcnn model.

    Args:
        model: a built kcnn model (ResNet, VGG, AlexNet or GoogLeNet for a publisher's
            checkpoint; any kcnn model for kcnn's own files).
        path: a keras.applications ``.h5``, torchvision ``.pth``, ``.safetensors``, Caffe
            ``.caffemodel``, or kcnn ``.keras`` / ``.weights.h5`` file (the format is read
            from the content).
        source: the ``kcnn.weights.sources.WeightSource`` the file comes from, if known; its
            declared variant is checked too.
        skip_top: None (default) loads the classifier when its shape fits and otherwise
            keeps the model's fresh one, saying so in a log line; True never loads it;
            False refuses a classifier that does not fit.

    Returns:
        The model.

    Raises:
        ValueError: the file is missing, damaged, of an unknown format
            (``CheckpointError``), of another variant (``VariantError``, naming the builder
            argument to pass) or does not fit (``WeightsMismatchError``, naming the first
            layer that differs).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("`weights` must be a file path, or (through kcnn.build) \"imagenet\" "
                        f"or a source name. Received: weights={path!r}")
    if skip_top not in (None, True, False):
        raise TypeError(f"`skip_top` must be None, True or False. Received: skip_top={skip_top!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"`weights` must be an existing file (or, through kcnn.build, "
                              f"\"imagenet\" or a source name); no such file. "
                              f"Received: weights={path!r}")
    if detect_format(path) == "kcnn":  # Keras loads these itself: not read twice
        from kcnn.weights.kcnn_files import load_kcnn_file

        return load_kcnn_file(model, path)
    plan = _plan(model, read_checkpoint(path), source)
    head, fresh = _head(plan, skip_top)
    for _, variable, array, _ in (*plan.entries, *head):
        variable.assign(array.astype(variable.dtype))
    if fresh and any(layer.name == "predictions" for layer in model.layers):
        _log.warning("Loaded the body of %r from %s; the classifier 'predictions' keeps its "
                     "fresh initialization (%s).", model.name, os.path.basename(path), fresh)
    return model
