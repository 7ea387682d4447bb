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

Layer names follow keras.applications: ``conv1_pad``, ``conv1_conv``, ``conv1_bn``,
``conv1_relu``, ``pool1_pad``, ``pool1_pool`` (ImageNet stem), blocks ``conv{stage}_block{i}``
counted from 1 with stages ``conv2`` onwards, then ``avg_pool`` and ``predictions``.

Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, arXiv:1512.03385.
"""

from __future__ import annotations

import keras

from kcnn._checks import (check_bool, check_choice, check_input_shape, check_int,
                          check_int_tuple)
from kcnn.heads import check_head_args, classifier_head
from kcnn.layers.residual import HE_GAUSSIAN, SHORTCUTS, BasicBlock, BottleneckBlock
from kcnn.registry import register_model

PAPER = "arXiv:1512.03385"
BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
STEMS = ("imagenet", "cifar")

# name -> (block, blocks per stage, filters per stage, stem)
VARIANTS = {
    "resnet18": ("basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet"),
    "resnet34": ("basic", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512), "imagenet"),
    "resnet152": ("bottleneck", (3, 8, 36, 3), (64, 128, 256, 512), "imagenet"),
    "resnet20": ("basic", (3, 3, 3), (16, 32, 64), "cifar"),
    "resnet32": ("basic", (5, 5, 5), (16, 32, 64), "cifar"),
    "resnet44": ("basic", (7, 7, 7), (16, 32, 64), "cifar"),
    "resnet56": ("basic", (9, 9, 9), (16, 32, 64), "cifar"),
    "resnet110": ("basic", (18, 18, 18), (16, 32, 64), "cifar"),
}


def stage_output_names(stackwise_num_blocks):
    """Names of the last block of each stage: ``conv2_block3``, ``conv3_block4``, ..."""
    return tuple(f"conv{s + 2}_block{n}" for s, n in enumerate(stackwise_num_blocks))


def _stem(x, *, stem, filters, bn_momentum, bn_epsilon, kernel_initializer):
    conv = dict(use_bias=False, kernel_initializer=kernel_initializer, name="conv1_conv")
    if stem == "imagenet":
        # 7x7/2 convolution and 3x3/2 max pooling, padded symmetrically by 3 and 1 pixels
        # as torchvision and keras.applications do (Caffe's pool1 rounds up instead).
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = keras.layers.Conv2D(filters, 7, strides=2, **conv)(x)
    else:
        x = keras.layers.Conv2D(filters, 3, padding="same", **conv)(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                        name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    if stem == "imagenet":
        # Zero padding is exact here: the inputs are non-negative after the ReLU.
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return x


def resnet(*, block="bottleneck", stackwise_num_blocks=(3, 4, 6, 3),
           stackwise_num_filters=(64, 128, 256, 512), stem="imagenet", stem_filters=None,
           input_shape=None, num_classes=1000, include_top=True, pooling=None,
           classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
           zero_init_residual=False, bn_momentum=0.9, bn_epsilon=1e-5,
           kernel_initializer=HE_GAUSSIAN, name=None):
    """The generic ResNet builder behind every registered variant.

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
        input_shape: (height, width, channels); default 224x224x3 (ImageNet stem) or
            32x32x3 (CIFAR stem). Height and width must be at least the network's total
            stride (32 for four ImageNet stages, 4 for three CIFAR stages).
        num_classes: classes of the classifier.
        include_top: add global average pooling and the classifier ``predictions``.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        shortcut: "A" (zero-padded identity), "B" (projection where the shape changes) or
            "C" (projection everywhere); see ``kcnn.layers.residual``.
        stride_in_3x3: ResNet v1.5: stride on the bottleneck's 3x3 instead of its first 1x1
            (basic blocks always have it on their first 3x3).
        zero_init_residual: start the last BN scale of every block at zero.
        bn_momentum: moving-average momentum of every BN (0.9, torchvision's 0.1).
        bn_epsilon: epsilon of every BN (1e-5).
        kernel_initializer: convolution kernel initializer (He et al.'s untruncated
            Gaussian, ``kcnn.initializers.HeGaussian``; "he_normal" is Keras's truncated one).
        name: model name.

    Returns:
        A ``keras.Model`` with input ``image``.
    """
    # === Arguments ===
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation)
    check_choice("block", block, tuple(BLOCKS))
    check_choice("stem", stem, STEMS)
    check_choice("shortcut", shortcut, SHORTCUTS)
    check_bool("stride_in_3x3", stride_in_3x3)
    check_bool("zero_init_residual", zero_init_residual)
    blocks = check_int_tuple("stackwise_num_blocks", stackwise_num_blocks)
    filters = check_int_tuple("stackwise_num_filters", stackwise_num_filters)
    if not blocks or len(blocks) != len(filters):
        raise ValueError("`stackwise_num_blocks` and `stackwise_num_filters` must give one "
                         "entry per stage, at least one stage. Received: "
                         f"stackwise_num_blocks={stackwise_num_blocks!r}, "
                         f"stackwise_num_filters={stackwise_num_filters!r}")
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
    x = _stem(inputs, stem=stem, filters=stem_filters, bn_momentum=bn_momentum,
              bn_epsilon=bn_epsilon, kernel_initializer=kernel_initializer)
    for s, (num_blocks, width) in enumerate(zip(blocks, filters)):
        for i in range(num_blocks):
            strides = 2 if (i == 0 and s > 0) else 1
            x = block_class(width, strides=strides, name=f"conv{s + 2}_block{i + 1}",
                            **options)(x)
    outputs = classifier_head(x, include_top=include_top, num_classes=num_classes,
                              pooling=pooling, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=model_name)


def _build(variant, *, stackwise_num_blocks, stackwise_num_filters, name, **kwargs):
    block, blocks, filters, stem = VARIANTS[variant]
    return resnet(block=block, stem=stem,
                  stackwise_num_blocks=blocks if stackwise_num_blocks is None
                  else stackwise_num_blocks,
                  stackwise_num_filters=filters if stackwise_num_filters is None
                  else stackwise_num_filters,
                  name=name or variant, **kwargs)


def _register(variant, params):
    _, blocks, _, stem = VARIANTS[variant]
    imagenet = stem == "imagenet"
    return register_model(
        variant, family="resnet", paper=PAPER,
        input_shape=(224, 224, 3) if imagenet else (32, 32, 3), params=params,
        reference_kwargs=None if imagenet else {"num_classes": 10},
        recipe="resnet_imagenet" if imagenet else "resnet_cifar10",
        preprocessing="imagenet_mean" if imagenet else "cifar_mean",
        feature_layers=stage_output_names(blocks))


# === ImageNet networks (Table 1) ===

@_register("resnet18", 11_689_512)
def resnet18(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-18: basic blocks, stages 2-2-2-2, 11,689,512 trainable parameters.

    Arguments as ``resnet34``.
    """
    return _build("resnet18", **locals())


@_register("resnet34", 21_797_672)
def resnet34(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-34: basic blocks, stages 3-4-6-3, 21,797,672 trainable parameters.

    Args:
        input_shape: (224, 224, 3) by default; at least 32x32.
        num_classes: classes of the classifier (1000).
        include_top: add global average pooling and the classifier.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        shortcut: "B" (projection where the shape changes, the paper's ImageNet choice),
            "A" (zero-padded identity) or "C" (projection everywhere).
        stride_in_3x3: ResNet v1.5; no effect on basic blocks, whose stride is on their
            first 3x3 already.
        zero_init_residual: start the last BN scale of every block at zero.
        stackwise_num_blocks: blocks per stage, overriding the table.
        stackwise_num_filters: filters per stage, overriding (64, 128, 256, 512).
        name: model name.
    """
    return _build("resnet34", **locals())


@_register("resnet50", 25_557_032)
def resnet50(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-50: bottleneck blocks, stages 3-4-6-3, 25,557,032 trainable parameters.

    Args:
        input_shape: (224, 224, 3) by default; at least 32x32.
        num_classes: classes of the classifier (1000).
        include_top: add global average pooling and the classifier.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        shortcut: "B" (projection where the shape changes, the paper's ImageNet choice),
            "A" (zero-padded identity) or "C" (projection everywhere).
        stride_in_3x3: ResNet v1.5: stride on the 3x3 of each bottleneck instead of its
            first 1x1 (v1, the paper and keras.applications).
        zero_init_residual: start the last BN scale of every block at zero.
        stackwise_num_blocks: blocks per stage, overriding the table.
        stackwise_num_filters: filters per stage, overriding (64, 128, 256, 512).
        name: model name.
    """
    return _build("resnet50", **locals())


@_register("resnet101", 44_549_160)
def resnet101(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
              classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
              zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
              name=None):
    """ResNet-101: bottleneck blocks, stages 3-4-23-3, 44,549,160 trainable parameters.

    Arguments as ``resnet50``.
    """
    return _build("resnet101", **locals())


@_register("resnet152", 60_192_808)
def resnet152(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
              classifier_activation="softmax", shortcut="B", stride_in_3x3=False,
              zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
              name=None):
    """ResNet-152: bottleneck blocks, stages 3-8-36-3, 60,192,808 trainable parameters.

    Arguments as ``resnet50``.
    """
    return _build("resnet152", **locals())


# === CIFAR-10 networks (section 4.2) ===

@_register("resnet20", 269_722)
def resnet20(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="A", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-20 for CIFAR-10 (n = 3): 269,722 trainable parameters (paper: 0.27M).

    Args:
        input_shape: (32, 32, 3) by default; at least 4x4.
        num_classes: classes of the classifier (10).
        include_top: add global average pooling and the classifier.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        shortcut: "A" (zero-padded identity, the paper's CIFAR choice), "B" (projection
            where the width doubles, 2,752 more parameters) or "C".
        stride_in_3x3: accepted for a uniform signature; no effect on basic blocks.
        zero_init_residual: start the last BN scale of every block at zero.
        stackwise_num_blocks: blocks per stage (n, n, n), overriding (3, 3, 3).
        stackwise_num_filters: filters per stage, overriding (16, 32, 64); the stem
            convolution has as many filters as the first stage.
        name: model name.
    """
    return _build("resnet20", **locals())


@_register("resnet32", 464_154)
def resnet32(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="A", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-32 for CIFAR-10 (n = 5): 464,154 trainable parameters (paper: 0.46M).

    Arguments as ``resnet20``.
    """
    return _build("resnet32", **locals())


@_register("resnet44", 658_586)
def resnet44(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="A", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-44 for CIFAR-10 (n = 7): 658,586 trainable parameters (paper: 0.66M).

    Arguments as ``resnet20``.
    """
    return _build("resnet44", **locals())


@_register("resnet56", 853_018)
def resnet56(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
             classifier_activation="softmax", shortcut="A", stride_in_3x3=False,
             zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
             name=None):
    """ResNet-56 for CIFAR-10 (n = 9): 853,018 trainable parameters (paper: 0.85M).

    Arguments as ``resnet20``.
    """
    return _build("resnet56", **locals())


@_register("resnet110", 1_727_962)
def resnet110(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
              classifier_activation="softmax", shortcut="A", stride_in_3x3=False,
              zero_init_residual=False, stackwise_num_blocks=None, stackwise_num_filters=None,
              name=None):
    """ResNet-110 for CIFAR-10 (n = 18): 1,727,962 trainable parameters (paper: 1.7M).

    The paper trains it with a warm-up (learning rate 0.01 until the training error is
    below 80%, about 400 iterations, then 0.1).

    Arguments as ``resnet20``.
    """
    return _build("resnet110", **locals())
