"""The BVLC Caffe releases of AlexNet and GoogLeNet into kcnn's networks.

AlexNet (``bvlc_alexnet``): layers ``conv1``..``conv5``, ``fc6``, ``fc7``, ``fc8`` (kcnn's
``predictions``); conv2, conv4 and conv5 are grouped (two towers: ``groups=2``), the LRN
layers use Caffe's k = 1 and alpha / n (``lrn_k=1.0, lrn_convention="caffe"``), read from
the file's ``lrn_param`` where it records them; fc6 sees pool5 flattened channels first.

GoogLeNet (``bvlc_googlenet``): kcnn's layer names are BVLC's with ``/`` replaced by ``_``
and the Inception modules' prefix ``inception_3a/`` becoming the module ``inception3a`` with
sublayers ``1x1``, ``3x3_reduce``, ``3x3``, ``5x5_reduce``, ``5x5``, ``pool_proj``. The
classifier ``loss3/classifier`` is ``predictions``; the auxiliary classifiers ``loss1/*`` and
``loss2/*`` load into ``aux1_*`` / ``aux2_*`` when the model has them
(``aux_logits=True``) and are skipped otherwise (they only serve training).
"""

from __future__ import annotations

import math

from kcnn.layers.inception import InceptionModule
from kcnn.layers.normalization import LocalResponseNormalization
from kcnn.weights.plan import reader_for

__all__ = ["alexnet_variant", "map_alexnet", "googlenet_variant", "map_googlenet",
           "check_lrn"]

INCEPTION_BRANCHES = {"branch_1x1": "1x1", "branch_3x3_reduce": "3x3_reduce",
                      "branch_3x3": "3x3", "branch_5x5_reduce": "5x5_reduce",
                      "branch_5x5": "5x5", "branch_pool_proj": "pool_proj"}


def alexnet_variant(checkpoint):
    """``(origin, required builder arguments)`` of a Caffe AlexNet."""
    variant = {}
    conv1, conv2 = checkpoint.layer("conv1"), checkpoint.layer("conv2")
    if conv1 and conv2 and conv2[0].ndim == 4 and conv2[0].shape[1]:
        variant["groups"] = int(conv1[0].shape[0] // conv2[0].shape[1])
    # Caffe writes every layer of the net, those without blobs too: a file without LRN
    # layers is a network without LRN (lrn=None), not one whose LRN is unknown.
    order = list(checkpoint.layer_types)
    norms = [n for n in order if checkpoint.layer_types[n] == "LRN"]
    pools = [n for n in order if checkpoint.layer_types[n] == "Pooling"]
    if not norms:
        variant["lrn"] = None
    else:
        variant["lrn"] = ("paper" if not pools or order.index(norms[0]) < order.index(pools[0])
                          else "caffenet")
        variant["lrn_k"] = float(checkpoint.params.get(norms[0], {}).get("k", 1.0))
        variant["lrn_convention"] = "caffe"
    return "a Caffe AlexNet (BVLC)", variant


def check_lrn(plan):
    """The model's LRN layers compute what the file's do, in order: the same window,
    exponent, constant and scale of the sum (Caffe's ``alpha / local_size``). The variant
    check names ``lrn_k`` and ``lrn_convention``; this refuses what no builder argument
    sets (another ``local_size``, ``alpha`` or ``beta``), which has no weights to differ."""
    checkpoint = plan.checkpoint
    theirs = [(name, checkpoint.params.get(name, {})) for name, kind
              in checkpoint.layer_types.items() if kind == "LRN"]
    ours = [layer for layer in plan.model.layers
            if isinstance(layer, LocalResponseNormalization)]
    for layer, (name, p) in zip(ours, theirs):
        for what, mine, file in (("size", layer.size, p.get("local_size", 5)),
                                 ("beta", layer.beta, p.get("beta", 0.75)),
                                 ("k", layer.k, p.get("k", 1.0)),
                                 ("alpha / size", layer.effective_alpha,
                                  p.get("alpha", 1.0) / p.get("local_size", 5))):
            if not math.isclose(mine, file, rel_tol=1e-5):
                plan.fail(f"layer {layer.name!r}: LRN {what} is {mine:g} in the model but "
                          f"{file:g} in the file's LRN layer {name!r}.")


def map_alexnet(plan):
    model = plan.model
    reader = reader_for(plan)
    check_lrn(plan)
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        reader.conv_biased(model.get_layer(name), name, where=name)
    names = {layer.name for layer in model.layers}
    if "fc6" not in names:
        for name in ("fc6", "fc7", "fc8"):
            plan.skip(reader.layer_keys(name))
        return
    flat = tuple(model.get_layer("flatten").input.shape[1:])
    reader.dense(model.get_layer("fc6"), "fc6", where="fc6", feature_shape=flat)
    reader.dense(model.get_layer("fc7"), "fc7", where="fc7")
    if reader.has("fc8"):
        reader.dense(model.get_layer("predictions"), "fc8", where="predictions", head=True)
    else:
        plan.head_missing = True


def googlenet_variant(checkpoint):
    """``(origin, required builder arguments)`` of a Caffe GoogLeNet."""
    if "conv1/7x7_s2" not in checkpoint.layer_types:
        return "a Caffe model", {}  # not GoogLeNet: the mapping names what is missing
    has_lrn = any(t == "LRN" for t in checkpoint.layer_types.values())
    return "a Caffe GoogLeNet (BVLC)", {"lrn": has_lrn}


def map_googlenet(plan):
    model = plan.model
    reader = reader_for(plan)
    check_lrn(plan)
    names = {layer.name for layer in model.layers}
    for layer in model.layers:
        if isinstance(layer, InceptionModule):
            prefix = f"inception_{layer.name[len('inception'):]}"
            for attribute, sub in INCEPTION_BRANCHES.items():
                reader.conv_biased(getattr(layer, attribute), f"{prefix}/{sub}",
                                   where=f"{layer.name}/{sub}")
        elif layer.name.startswith(("conv1_", "conv2_")) and hasattr(layer, "kernel"):
            stage, rest = layer.name.split("_", 1)
            reader.conv_biased(layer, f"{stage}/{rest}", where=layer.name)
    for aux, loss in (("aux1", "loss1"), ("aux2", "loss2")):
        if f"{aux}_conv" in names:
            reader.conv_biased(model.get_layer(f"{aux}_conv"), f"{loss}/conv",
                               where=f"{aux}_conv")
            flat = tuple(model.get_layer(f"{aux}_flatten").input.shape[1:])
            reader.dense(model.get_layer(f"{aux}_fc"), f"{loss}/fc", where=f"{aux}_fc",
                         feature_shape=flat)
            reader.dense(model.get_layer(f"{aux}_predictions"), f"{loss}/classifier",
                         where=f"{aux}_predictions", head=True)
        else:
            for part in ("conv", "fc", "classifier"):
                plan.skip(reader.layer_keys(f"{loss}/{part}"))
    if "predictions" in names:
        if reader.has("loss3/classifier"):
            reader.dense(model.get_layer("predictions"), "loss3/classifier",
                         where="predictions", head=True)
        else:
            plan.head_missing = True
    else:
        plan.skip(reader.layer_keys("loss3/classifier"))
