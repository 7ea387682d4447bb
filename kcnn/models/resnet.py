"""ResNet (He et al., 2016): the ImageNet networks of Table 1 and the CIFAR-10 networks of
section 4.2.

ImageNet (Table 1), input 224x224:

======  ============================  =========  ====================
layer   output                        18/34      50/101/152
======  ============================  =========  ====================
conv1   112x112, 7x7 64 stride 2      stem       stem
pool1   56x56, 3x3 max pool stride 2
conv2   56x56                         basic x2/3  bottleneck x3/3/3
conv3   28x28                         x2/4        x4/4/8
conv4   14x14                         x2/6        x6/23/36
conv5   7x7                           x2/3        x3/3/3
        global average pool, 1000-way fc, softmax
======  ============================  =========  ====================

Trainable parameters (bias-free convolutions before BN, as torchvision): ResNet-18
11,689,512; -34 21,797,672; -50 25,557,032; -101 44,549,160; -152 60,192,808.
keras.applications keeps a bias in every convolution (ResNet-50: 26,560 more).

CIFAR-10 (section 4.2), input 32x32: a 3x3 convolution with 16 filters, then three stages of
``n`` basic blocks with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (the first block of
the second and third stage subsamples with stride 2), global average pooling and a 10-way
fully connected layer: ``6n + 2`` weighted layers. Shortcuts are identities, with zero
padding where the width doubles (option A): ResNet-20/32/44/56/110 (n = 3/5/7/9/18) have
269,722 / 464,154 / 658,586 / 853,018 / 1,727,962 trainable parameters; option B adds the
two projections (2,752).

Every network is ``resnet()`` with one row of ``VARIANTS`` (block, blocks and filters per
stage, stem); ``resnet18`` ... ``resnet110`` are thin keyword-only functions over it whose
signatures list exactly the arguments that act on their network (``stride_in_3x3`` only on
bottleneck networks, ``stem_pool`` only on the ImageNet stem).

Layer names follow keras.applications: ``conv1_pad``, ``conv1_conv``, ``conv1_bn``,
``conv1_relu``, ``pool1_pad``, ``pool1_pool`` (ImageNet stem), blocks ``conv{stage}_block{i}``
counted from 1 with stages ``conv2`` onwards, then ``avg_pool`` and ``predictions``.

Published weights fit one variant each (``kcnn.get_spec("resnet50").weights``; a source name
passed as ``weights=`` builds it): keras.applications' port of MSRA's models is v1 with
``bn_epsilon=1.001e-5``; torchvision's ResNet-50/101/152 are v1.5 (``stride_in_3x3=True``);
MSRA's Caffe models pool the stem Caffe's way (``stem_pool="caffe"``).

Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, arXiv:1512.03385.
"""

from __future__ import annotations

import difflib
import inspect
from typing import NamedTuple

import keras

from kcnn._checks import (check_bool, check_choice, check_float, check_input_shape, check_int,
                          check_int_tuple)
from kcnn.heads import check_head_args, classifier_head
from kcnn.initializers import HE_GAUSSIAN
from kcnn.layers.residual import SHORTCUTS, BasicBlock, BottleneckBlock
from kcnn.registry import register_model

__all__ = ["resnet", "Variant", "VARIANTS", "STEM_POOLS", "stage_output_names", "resnet18",
           "resnet34", "resnet50", "resnet101", "resnet152", "resnet20", "resnet32",
           "resnet44", "resnet56", "resnet110"]

PAPER = "arXiv:1512.03385"
BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
STEMS = ("imagenet", "cifar")
STEM_POOLS = ("padded", "caffe")


class Variant(NamedTuple):
    """One named network: its block, blocks and filters per stage, and stem."""

    block: str
    stackwise_num_blocks: tuple
    stackwise_num_filters: tuple
    stem: str


VARIANTS = {
    "resnet18": Variant("basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet"),
    "resnet34": Variant("basic", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet50": Variant("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet101": Variant("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512), "imagenet"),
    "resnet152": Variant("bottleneck", (3, 8, 36, 3), (64, 128, 256, 512), "imagenet"),
    "resnet20": Variant("basic", (3, 3, 3), (16, 32, 64), "cifar"),
    "resnet32": Variant("basic", (5, 5, 5), (16, 32, 64), "cifar"),
    "resnet44": Variant("basic", (7, 7, 7), (16, 32, 64), "cifar"),
    "resnet56": Variant("basic", (9, 9, 9), (16, 32, 64), "cifar"),
    "resnet110": Variant("basic", (18, 18, 18), (16, 32, 64), "cifar"),
}


def stage_output_names(stackwise_num_blocks):
    """Names of the last block of each stage: ``conv2_block3``, ``conv3_block4``, ..."""
    return tuple(f"conv{s + 2}_block{n}" for s, n in enumerate(stackwise_num_blocks))


def _stem(x, *, stem, stem_pool, filters, bn_momentum, bn_epsilon, kernel_initializer):
    conv = dict(use_bias=False, kernel_initializer=kernel_initializer, name="conv1_conv")
    if stem == "imagenet":
        # 7x7/2 convolution padded symmetrically by 3 pixels (torchvision, keras.applications
        # and Caffe alike).
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = keras.layers.Conv2D(filters, 7, strides=2, **conv)(x)
    else:
        x = keras.layers.Conv2D(filters, 3, padding="same", **conv)(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                        name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    if stem == "imagenet":
        # Zero padding is exact: the inputs are non-negative after the ReLU. "padded" pads
        # one pixel on every side (windows start at -1); "caffe" is Caffe's unpadded
        # round-up pooling, whose windows start at pixel 0: one pixel at the bottom and right
        # completes the last window of an even size and is never reached on an odd one.
        padding = 1 if stem_pool == "padded" else ((0, 1), (0, 1))
        x = keras.layers.ZeroPadding2D(padding, name="pool1_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return x


def _check_arguments(*, block, stem, stem_pool, stride_in_3x3, blocks, filters):
    check_choice("block", block, tuple(BLOCKS))
    check_choice("stem", stem, STEMS)
    check_bool("stride_in_3x3", stride_in_3x3)
    if stride_in_3x3 and block == "basic":
        raise ValueError("`stride_in_3x3` applies to bottleneck blocks only: a basic block's "
                         "stride is on its first 3x3 already. Received: stride_in_3x3=True "
                         "with block='basic'")
    if stem_pool is not None:
        check_choice("stem_pool", stem_pool, STEM_POOLS)
        if stem != "imagenet":
            raise ValueError("`stem_pool` applies to the ImageNet stem only (the CIFAR stem "
                             f"has no pooling). Received: stem_pool={stem_pool!r} with "
                             f"stem={stem!r}")
    if not blocks or len(blocks) != len(filters):
        raise ValueError("`stackwise_num_blocks` and `stackwise_num_filters` must give one "
                         "entry per stage, at least one stage. Received: "
                         f"stackwise_num_blocks={blocks!r}, stackwise_num_filters={filters!r}")


def resnet(*, block="bottleneck", stackwise_num_blocks=(3, 4, 6, 3),
           stackwise_num_filters=(64, 128, 256, 512), stem="imagenet", stem_filters=None,
           stem_pool=None, input_shape=None, num_classes=1000, include_top=True,
           pooling=None, classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
           zero_init_residual=False, bn_momentum=0.9, bn_epsilon=1e-5,
           kernel_initializer=HE_GAUSSIAN, name=None):
    """Builds a ResNet; every registered variant is this function with one row of
    ``VARIANTS``.

    Stage ``s`` (named ``conv{s + 2}``) stacks ``stackwise_num_blocks[s]`` blocks with
    ``stackwise_num_filters[s]`` filters; the first block of every stage but the first
    subsamples with stride 2.

    Args:
        block: "basic" (two 3x3) or "bottleneck" (1x1-3x3-1x1, 4x expansion).
        stackwise_num_blocks: blocks per stage.
        stackwise_num_filters: filters per stage (the bottleneck's inner width).
        stem: "imagenet" (7x7/2 conv + 3x3/2 max pool, total stride 4 before conv2) or
            "cifar" (one 3x3 conv, stride 1).
        stem_filters: filters of the stem convolution; by default those of the first stage
            (64 on ImageNet, 16 on CIFAR, as in the paper).
        stem_pool: the ImageNet stem's 3x3/2 max pooling: "padded" (default; one pixel of
            padding on every side, as torchvision and keras.applications) or "caffe" (no
            padding, Caffe's round-up mode: windows start at pixel 0, as MSRA's released
            Caffe models). Refused with the CIFAR stem.
        input_shape: (height, width, channels); default 224x224x3 (ImageNet stem) or
            32x32x3 (CIFAR stem). Height and width must be at least the network's total
            stride (32 for four ImageNet stages, 4 for three CIFAR stages).
        num_classes: classes of the classifier.
        include_top: add global average pooling and the classifier ``predictions``.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        shortcut: "A" (zero-padded identity), "B" (projection where the shape changes) or
            "C" (projection everywhere); see ``kcnn.layers.residual``.
        stride_in_3x3: ResNet v1.5 (torchvision): stride on the bottleneck's 3x3 instead
            of its first 1x1 (v1: the paper, keras.applications, MSRA). Refused with basic
            blocks, whose stride is on their first 3x3 already.
        zero_init_residual: start the last BN scale of every block at zero.
        bn_momentum: moving-average momentum of every BN (0.9, torchvision's 0.1).
        bn_epsilon: epsilon of every BN (1e-5, as torchvision and Caffe; keras.applications'
            port of the MSRA models uses 1.001e-5).
        kernel_initializer: convolution kernel initializer (He et al.'s untruncated
            Gaussian, ``kcnn.initializers.HeGaussian``; "he_normal" is Keras's truncated one).
        name: model name ("resnet").

    Returns:
        A ``keras.Model`` with input ``image``.
    """
    # === Arguments ===
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation)
    check_choice("shortcut", shortcut, SHORTCUTS)
    check_bool("zero_init_residual", zero_init_residual)
    blocks = check_int_tuple("stackwise_num_blocks", stackwise_num_blocks)
    filters = check_int_tuple("stackwise_num_filters", stackwise_num_filters)
    _check_arguments(block=block, stem=stem, stem_pool=stem_pool, stride_in_3x3=stride_in_3x3,
                     blocks=blocks, filters=filters)
    bn_momentum = check_float("bn_momentum", bn_momentum, minimum=0.0, maximum=1.0,
                              max_inclusive=False)
    bn_epsilon = check_float("bn_epsilon", bn_epsilon, minimum=0.0, min_inclusive=False)
    if isinstance(kernel_initializer, str):
        try:
            keras.initializers.get(kernel_initializer)
        except ValueError:
            raise ValueError("`kernel_initializer` must be a Keras or kcnn initializer. "
                             f"Received: kernel_initializer={kernel_initializer!r}") from None
    if stem_filters is None:
        stem_filters = filters[0]
    stem_filters = check_int("stem_filters", stem_filters)
    block_class = BLOCKS[block]
    if shortcut == "A" and stem_filters > filters[0] * block_class.expansion:
        raise ValueError("Shortcut 'A' cannot reduce the stem's channels: `stem_filters` must "
                         f"be at most {filters[0] * block_class.expansion} (the first stage's "
                         f"output channels). Received: stem_filters={stem_filters}")
    total_stride = (4 if stem == "imagenet" else 1) * 2 ** (len(blocks) - 1)
    default = (224, 224, 3) if stem == "imagenet" else (32, 32, 3)
    model_name = name or "resnet"
    input_shape = check_input_shape(input_shape, min_size=total_stride, default=default,
                                    model=model_name)
    options = dict(shortcut=shortcut, zero_init_residual=zero_init_residual,
                   bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                   kernel_initializer=kernel_initializer)
    if block_class is BottleneckBlock:
        options["stride_in_3x3"] = stride_in_3x3

    # === Functional Model ===
    inputs = keras.Input(input_shape, name="image")
    x = _stem(inputs, stem=stem, stem_pool=stem_pool or "padded", filters=stem_filters,
              bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
              kernel_initializer=kernel_initializer)
    for s, (num_blocks, width) in enumerate(zip(blocks, filters)):
        for i in range(num_blocks):
            strides = 2 if (i == 0 and s > 0) else 1
            x = block_class(width, strides=strides, name=f"conv{s + 2}_block{i + 1}",
                            **options)(x)
    outputs = classifier_head(x, include_top=include_top, num_classes=num_classes,
                              pooling=pooling, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=model_name)


# === The registered variants: thin functions over resnet() ===

_FIXED = ("block", "stem")  # set by the table, not by the caller


def _variant_parameters(variant, name):
    """``resnet()``'s parameters that act on ``variant``, with the variant's defaults."""
    defaults = {"stackwise_num_blocks": variant.stackwise_num_blocks,
                "stackwise_num_filters": variant.stackwise_num_filters, "name": name}
    if variant.stem == "cifar":
        defaults.update(num_classes=10, shortcut="A")
    else:
        defaults["stem_pool"] = "padded"
    params = []
    for p in inspect.signature(resnet).parameters.values():
        if p.name in _FIXED or (p.name == "stride_in_3x3" and variant.block == "basic") or (
                p.name == "stem_pool" and variant.stem == "cifar"):
            continue
        params.append(p.replace(default=defaults.get(p.name, p.default)))
    return params


def _register(name, params, summary):
    """Registers ``name`` as a keyword-only function over ``resnet`` whose signature (shown
    by ``help``) lists the arguments that act on it."""
    variant = VARIANTS[name]
    parameters = _variant_parameters(variant, name)
    accepted = {p.name for p in parameters}
    imagenet = variant.stem == "imagenet"

    def builder(**kwargs):
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, sorted(accepted), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                why = (" (it has no effect on this network)"
                       if key in ("stride_in_3x3", "stem_pool", *_FIXED) else "")
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}{why}."
                                f"{hint} Received: {key}={kwargs[key]!r}")
        arguments = {p.name: kwargs.get(p.name, p.default) for p in parameters}
        return resnet(block=variant.block, stem=variant.stem, **arguments)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = __name__
    builder.__signature__ = inspect.Signature(parameters)
    blocks = "-".join(str(n) for n in variant.stackwise_num_blocks)
    title, _, note = summary.partition(". ")
    builder.__doc__ = (
        f"{title}: {variant.block} blocks, stages {blocks}, {params:,} trainable parameters"
        + ("" if imagenet else " with 10 classes") + ".\n\n"
        + (f"{note}\n\n" if note else "")
        + "Arguments as ``kcnn.models.resnet.resnet`` (the signature lists those that act on "
        "this network; ``block`` and ``stem`` are fixed by the table"
        + ("" if variant.block == "bottleneck" else ", and ``stride_in_3x3`` does nothing "
           "on basic blocks") + ")."
        + ("" if imagenet else " The paper's CIFAR-10 option A shortcuts and 10 classes "
           "are the defaults."))
    return register_model(
        name, family="resnet", paper=PAPER,
        input_shape=(224, 224, 3) if imagenet else (32, 32, 3), params=params,
        reference_kwargs=None if imagenet else {"num_classes": 10},
        recipe="resnet_imagenet" if imagenet else "resnet_cifar10",
        preprocessing="imagenet_mean" if imagenet else "cifar_mean",
        feature_layers=stage_output_names(variant.stackwise_num_blocks))(builder)


# ImageNet networks (Table 1)
resnet18 = _register("resnet18", 11_689_512, "ResNet-18")
resnet34 = _register("resnet34", 21_797_672, "ResNet-34")
resnet50 = _register("resnet50", 25_557_032, "ResNet-50")
resnet101 = _register("resnet101", 44_549_160, "ResNet-101")
resnet152 = _register("resnet152", 60_192_808, "ResNet-152")
# CIFAR-10 networks (section 4.2): 6n + 2 weighted layers
resnet20 = _register("resnet20", 269_722, "ResNet-20 for CIFAR-10 (n = 3, paper: 0.27M)")
resnet32 = _register("resnet32", 464_154, "ResNet-32 for CIFAR-10 (n = 5, paper: 0.46M)")
resnet44 = _register("resnet44", 658_586, "ResNet-44 for CIFAR-10 (n = 7, paper: 0.66M)")
resnet56 = _register("resnet56", 853_018, "ResNet-56 for CIFAR-10 (n = 9, paper: 0.85M)")
resnet110 = _register(
    "resnet110", 1_727_962, "ResNet-110 for CIFAR-10 (n = 18, paper: 1.7M). The paper "
    "trains it with a warm-up (learning rate 0.01 until the training error is below 80%, "
    "about 400 iterations, then 0.1).")
