"""ResNet checkpoints into ``kcnn.models.resnet`` networks.

Names of the stem, of sublayer ``j`` of block ``i`` of stage ``s`` (kcnn's
``conv{s}_block{i}/{j}_conv``, ``j`` = 0 for the projection shortcut, 1-3 for the residual
branch) and of the classifier, per publisher:

=================  ==============  =================================  ================
publisher          stem            block sublayer j                   classifier
=================  ==============  =================================  ================
keras.applications ``conv1_conv``  ``conv{s}_block{i}_{j}_conv``/_bn   ``predictions``
torchvision        ``conv1``,      ``layer{s-1}.{i-1}.conv{j}``/bn{j};  ``fc``
                   ``bn1``         j = 0: ``downsample.0``/``.1``
MSRA (Caffe)       ``conv1``,      ``res{s}{b}_branch{1|2a|2b|2c}``,   ``fc1000``
                   ``bn_conv1``,   ``bn...``/``scale...``; block b is
                   ``scale_conv1`` a, b, c... (ResNet-50) or a, b1, b2...
=================  ==============  =================================  ================

A Keras HDF5 file whose layers keep MSRA's names (``res2a_branch2a``, ``bn2a_branch2a``, as
the first Keras port of ResNet-50 had) is read with those names.

Variants: keras.applications' port of MSRA's models is v1 with a conv bias before every BN
(folded into the moving mean) and BN epsilon 1.001e-5; torchvision's bottleneck networks are
v1.5 (``stride_in_3x3=True``), epsilon 1e-5; MSRA's Caffe models are v1 with Caffe's
unpadded round-up stem pooling (``stem_pool="caffe"``) and Caffe's BatchNorm epsilon (1e-5
unless the file says otherwise).
"""

from __future__ import annotations

from kcnn.layers.residual import BasicBlock, BottleneckBlock
from kcnn.weights.caffe import BN_EPS_DEFAULT
from kcnn.weights.plan import reader_for

__all__ = ["resnet_variant", "map_resnet"]

CAFFE_BRANCHES = ("branch1", "branch2a", "branch2b", "branch2c")


def resnet_variant(checkpoint):
    """``(origin, required builder arguments)`` of a ResNet checkpoint."""
    fmt = checkpoint.format
    if fmt == "keras_h5":
        return ("keras.applications' ResNet (v1, ported from MSRA's Caffe models)",
                {"stride_in_3x3": False, "bn_epsilon": 1.001e-5, "stem_pool": "padded"})
    if fmt in ("torch_zip", "safetensors"):
        return ("a torchvision ResNet (v1.5 where its blocks are bottlenecks)",
                {"stride_in_3x3": True, "bn_epsilon": 1e-5, "stem_pool": "padded"})
    eps = next((p["eps"] for name, p in checkpoint.params.items()
                if checkpoint.layer_types.get(name) == "BatchNorm"), BN_EPS_DEFAULT)
    return ("an MSRA Caffe ResNet (v1, Caffe's stem pooling)",
            {"stride_in_3x3": False, "bn_epsilon": eps, "stem_pool": "caffe"})


def _pairs(block):
    """(j, conv, bn) of a block: 0 the projection, then the residual branch."""
    pairs = [(0, block.shortcut_conv, block.shortcut_bn)] if block.shortcut_conv else []
    pairs += [(1, block.conv1, block.bn1), (2, block.conv2, block.bn2)]
    if isinstance(block, BottleneckBlock):
        pairs.append((3, block.conv3, block.bn3))
    return pairs


def _caffe_block(reader, stage, index):
    """MSRA names blocks a, b, c... (ResNet-50) or a, b1, b2... (ResNet-101/152)."""
    letter = f"{stage}{chr(ord('a') + index - 1)}"
    numbered = f"{stage}a" if index == 1 else f"{stage}b{index - 1}"
    return numbered if reader.has(f"res{numbered}_branch2a") and not reader.has(
        f"res{letter}_branch2a") else letter


def _msra_named(fmt, reader):
    """A Keras HDF5 file whose layers keep MSRA's names (``conv1``, ``bn_conv1``,
    ``res2a_branch2a``, ``bn2a_branch2a``, ``fc1000``), as the first Keras port had."""
    return fmt == "keras_h5" and not reader.has("conv1_conv") and reader.has("bn_conv1")


def _names(fmt, reader, stage, index, j):
    if _msra_named(fmt, reader):
        b = _caffe_block(reader, stage, index)
        return f"res{b}_{CAFFE_BRANCHES[j]}", f"bn{b}_{CAFFE_BRANCHES[j]}"
    if fmt == "keras_h5":
        base = f"conv{stage}_block{index}_{j}"
        return f"{base}_conv", f"{base}_bn"
    if fmt == "caffe":
        b = _caffe_block(reader, stage, index)
        branch = CAFFE_BRANCHES[j]
        return f"res{b}_{branch}", (f"bn{b}_{branch}", f"scale{b}_{branch}")
    base = f"layer{stage - 1}.{index - 1}"
    if j == 0:
        return f"{base}.downsample.0", f"{base}.downsample.1"
    return f"{base}.conv{j}", f"{base}.bn{j}"


STEM = {"keras_h5": ("conv1_conv", "conv1_bn", "predictions"),
        "torch_zip": ("conv1", "bn1", "fc"), "safetensors": ("conv1", "bn1", "fc"),
        "caffe": ("conv1", ("bn_conv1", "scale_conv1"), "fc1000")}


def map_resnet(plan):
    """Fills ``plan`` with every weight of a kcnn ResNet (see the module docstring)."""
    model, fmt = plan.model, plan.checkpoint.format
    reader = reader_for(plan)
    conv_name, bn_name, fc_name = (("conv1", "bn_conv1", "fc1000") if _msra_named(fmt, reader)
                                   else STEM[fmt])
    reader.conv_bn(model.get_layer("conv1_conv"), model.get_layer("conv1_bn"), conv_name,
                   bn_name, where="conv1_conv")
    for block in model.layers:
        if not isinstance(block, (BasicBlock, BottleneckBlock)):
            continue
        stage, index = (int(part) for part in block.name[len("conv"):].split("_block"))
        for j, conv, bn in _pairs(block):
            src_conv, src_bn = _names(fmt, reader, stage, index, j)
            reader.conv_bn(conv, bn, src_conv, src_bn, where=f"{block.name}/{conv.name}")
    names = {layer.name for layer in model.layers}
    if "predictions" in names:
        if reader.has(fc_name):
            reader.dense(model.get_layer("predictions"), fc_name, where="predictions",
                         head=True)
        else:
            plan.head_missing = True
    else:
        plan.skip(reader.layer_keys(fc_name))
