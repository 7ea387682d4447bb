"""AlexNet (Krizhevsky, Sutskever and Hinton, NIPS 2012).

Five convolutional layers of 96-256-384-384-256 filters and three fully connected layers on a
227x227x3 input (the paper says 224; 227 makes the stride-4 11x11 filter tile the input,
``(227 - 11) / 4 + 1 = 55``):

    ===========  ==============  =============================================
    layer        output          what
    ===========  ==============  =============================================
    conv1        55x55x96        96 11x11 filters, stride 4, no padding, ReLU
    norm1        55x55x96        local response normalization (section 3.3)
    pool1        27x27x96        3x3 max pooling, stride 2 (overlapping, 3.4)
    conv2        27x27x256       256 5x5 filters, pad 2, ReLU
    norm2/pool2  13x13x256
    conv3        13x13x384       384 3x3, pad 1, ReLU (sees both towers)
    conv4        13x13x384       384 3x3, pad 1, ReLU
    conv5        13x13x256       256 3x3, pad 1, ReLU
    pool5        6x6x256         3x3 max pooling, stride 2
    fc6, fc7     4096            ReLU, dropout 0.5
    predictions  1000            softmax (fc8)
    ===========  ==============  =============================================

The paper splits the network over two GPUs; conv2, conv4 and conv5 see only the maps of their
own GPU. ``groups=2`` reproduces that (60,965,224 parameters, as Caffe's ``bvlc_alexnet``);
the default is one tower (62,378,344), what single-device re-implementations use.

LRN placement: the paper applies "response-normalization layers [after] the first and second
convolutional layers", after their ReLU, followed by max pooling (``lrn="paper"``, the
default, also Caffe's ``bvlc_alexnet``). CaffeNet (``bvlc_reference_caffenet``) and the
lecture table of seeds 000/001 pool first and normalize after (``lrn="caffenet"``); the
output shapes are those of the table either way. ``lrn=None`` leaves LRN out.

Published weights: Caffe's ``bvlc_alexnet`` (``kcnn.build("alexnet", weights="bvlc")``) is
this network with ``groups=2, lrn_k=1.0, lrn_convention="caffe"`` (Caffe's LRN), which
``weights="bvlc"`` passes; ``kcnn.weights.load_weights`` refuses it in another variant.

Reference: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet classification with deep
convolutional neural networks", NIPS 2012.
"""

from __future__ import annotations

import keras

from kcnn._checks import (check_choice, check_float, check_input_shape, check_int,
                          check_int_tuple)
from kcnn.heads import check_head_args, global_pool
from kcnn.layers.normalization import CONVENTIONS, LocalResponseNormalization
from kcnn.models._dense_top import check_fixed_size, dense_top
from kcnn.registry import register_model

__all__ = ["PAPER", "MIN_SIZE", "LRN_PLACEMENTS", "INITIALIZATIONS", "alexnet"]

PAPER = "Krizhevsky, Sutskever & Hinton, NIPS 2012"
# Smallest input for which pool5 is at least 1x1: 67 -> conv1 15 -> pool1 7 -> pool2 3 -> 1.
MIN_SIZE = 67
LRN_PLACEMENTS = ("paper", "caffenet", None)
INITIALIZATIONS = ("paper", "glorot")


def _norm(x, name, k, convention):
    # Section 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75, alpha not divided by n; Caffe's
    # bvlc_alexnet: k = 1 and alpha divided by n.
    return LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=k,
                                      convention=convention, name=name)(x)


def _conv_stage(x, *, filters, kernel_size, strides, padding, groups, name, norm, pool, lrn,
                init, lrn_k, lrn_convention):
    kernel_init, bias_init = init(name)
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                            groups=groups, activation="relu", kernel_initializer=kernel_init,
                            bias_initializer=bias_init, name=name)(x)
    if norm and lrn == "paper":
        x = _norm(x, norm, lrn_k, lrn_convention)
    if pool:
        x = keras.layers.MaxPooling2D(3, strides=2, name=pool)(x)
    if norm and lrn == "caffenet":
        x = _norm(x, norm, lrn_k, lrn_convention)
    return x


@register_model(family="alexnet", paper=PAPER, input_shape=(227, 227, 3), params=62_378_344,
                recipe="alexnet_imagenet", preprocessing="imagenet_mean",
                feature_layers=("pool1", "pool2", "conv5", "pool5"))
def alexnet(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
            classifier_activation="softmax", dropout=0.5, groups=1, lrn="paper", lrn_k=2.0,
            lrn_convention="paper", filters=(96, 256, 384, 384, 256), fc_units=4096, initialization="paper",
            name=None):
    """AlexNet: 96-256-384-384-256 convolutions, fc6/fc7 of 4096, LRN and dropout.

    Args:
        input_shape: (227, 227, 3) by default; at least 67x67. With ``include_top`` the
            height and width must be fixed (fc6 depends on them).
        num_classes: width of the classifier (fc8, named ``predictions``).
        include_top: add fc6, fc7 and the classifier; without it the output is pool5.
        pooling: None, "avg" or "max" applied to pool5 when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        dropout: rate of the dropout after fc6 and fc7 (0.5 in the paper).
        groups: 1 (one tower, default) or 2 (the paper's two GPUs: conv2, conv4 and conv5
            grouped; 60,965,224 parameters).
        lrn: "paper" (ReLU -> LRN -> max pool, default), "caffenet" (ReLU -> max pool ->
            LRN, the order of the lecture table) or None (no LRN).
        lrn_k: LRN's additive constant k (2 in the paper; 1 in Caffe's ``bvlc_alexnet``).
        lrn_convention: "paper" (alpha multiplies the sum of squares, section 3.3) or
            "caffe" (alpha / 5 does, Caffe's LRN layer; ``bvlc_alexnet`` needs
            ``lrn_k=1.0, lrn_convention="caffe"``). Both are refused with ``lrn=None``.
        filters: widths of conv1..conv5 (96, 256, 384, 384, 256); narrow them for quick
            experiments. With ``groups`` > 1, the widths of conv1..conv5 must be divisible
            by ``groups``.
        fc_units: width of fc6 and fc7 (4096).
        initialization: "paper" (weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6
            and fc7, 0 elsewhere; section 5) or "glorot" (Keras's defaults).
        name: model name ("alexnet").

    Layers: ``conv1``..``conv5`` (ReLU inside), ``norm1``, ``norm2``, ``pool1``, ``pool2``,
    ``pool5``, ``flatten``, ``fc6``, ``fc6_dropout``, ``fc7``, ``fc7_dropout``,
    ``predictions``.
    """
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation, dropout=dropout)
    input_shape = check_input_shape(input_shape, min_size=MIN_SIZE, default=(227, 227, 3),
                                    model="AlexNet")
    check_fixed_size(input_shape, include_top=include_top, model="AlexNet")
    groups = check_int("groups", groups, minimum=1)
    check_choice("lrn", lrn, LRN_PLACEMENTS)
    lrn_k = check_float("lrn_k", lrn_k, minimum=0.0, min_inclusive=False)
    check_choice("lrn_convention", lrn_convention, CONVENTIONS)
    if lrn is None and (lrn_k != 2.0 or lrn_convention != "paper"):
        raise ValueError("`lrn_k` and `lrn_convention` set the LRN layers, which `lrn=None` "
                         f"leaves out. Received: lrn_k={lrn_k!r}, "
                         f"lrn_convention={lrn_convention!r} with lrn=None")
    filters = check_int_tuple("filters", filters, length=5)
    fc_units = check_int("fc_units", fc_units, minimum=1)
    check_choice("initialization", initialization, INITIALIZATIONS)
    if groups > 1 and any(f % groups for f in filters):
        raise ValueError(f"Every entry of `filters` must be divisible by `groups`={groups} "
                         f"(conv2, conv4 and conv5 are grouped). Received: filters={filters}")

    def init(layer_name):
        if initialization == "glorot":
            return "glorot_uniform", "zeros"
        bias = "ones" if layer_name in ("conv2", "conv4", "conv5", "fc6", "fc7") else "zeros"
        return keras.initializers.RandomNormal(stddev=0.01), bias

    # === Functional Model ===
    inputs = keras.Input(input_shape, name="image")
    stage = dict(lrn=lrn, init=init, lrn_k=lrn_k, lrn_convention=lrn_convention)
    x = _conv_stage(inputs, filters=filters[0], kernel_size=11, strides=4, padding="valid",
                    groups=1, name="conv1", norm="norm1", pool="pool1", **stage)
    x = _conv_stage(x, filters=filters[1], kernel_size=5, strides=1, padding="same",
                    groups=groups, name="conv2", norm="norm2", pool="pool2", **stage)
    x = _conv_stage(x, filters=filters[2], kernel_size=3, strides=1, padding="same",
                    groups=1, name="conv3", norm=None, pool=None, **stage)
    x = _conv_stage(x, filters=filters[3], kernel_size=3, strides=1, padding="same",
                    groups=groups, name="conv4", norm=None, pool=None, **stage)
    x = _conv_stage(x, filters=filters[4], kernel_size=3, strides=1, padding="same",
                    groups=groups, name="conv5", norm=None, pool="pool5", **stage)
    if include_top:
        kernel_init, _ = init("fc8")
        outputs = dense_top(x, names=("fc6", "fc7"), units=fc_units, dropout=dropout,
                            num_classes=num_classes,
                            classifier_activation=classifier_activation,
                            kernel_initializer=kernel_init, bias_initializer=init("fc6")[1],
                            predictions_kernel_initializer=kernel_init)
    else:
        outputs = global_pool(x, pooling)
    return keras.Model(inputs, outputs, name=name or "alexnet")
