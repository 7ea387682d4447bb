"""VGG (Simonyan and Zisserman, ICLR 2015, arXiv:1409.1556): configurations A, B, D and E.

"Only 3x3 CONV stride 1, pad 1 and 2x2 MAX POOL stride 2": five blocks of 3x3 convolutions
(64, 128, 256, 512, 512 filters) each ending in 2x2/2 max pooling, then FC-4096, FC-4096
with dropout 0.5 (section 3.1) and the classifier. The configurations differ in the number
of convolutions per block (Table 1 of the paper):

    ======  =====  ===============  ===================================
    name    conf.  convs per block  trainable parameters (1000 classes)
    ======  =====  ===============  ===================================
    vgg11   A      1, 1, 2, 2, 2    132,863,336
    vgg13   B      2, 2, 2, 2, 2    133,047,848
    vgg16   D      2, 2, 3, 3, 3    138,357,544
    vgg19   E      2, 2, 4, 4, 4    143,667,240
    ======  =====  ===============  ===================================

Configuration C (1x1 convolutions in blocks 3-5) and A-LRN are left out: the paper found
neither useful. The ``_bn`` variants (not in the paper) put batch normalization between each
convolution and its ReLU, with bias-free convolutions (a bias before BN is redundant):
132,866,088 / 133,050,792 / 138,361,768 / 143,672,744 trainable parameters, 2,752-5,504
fewer than torchvision's ``vgg*_bn``, which keeps the conv biases.

Layer names are keras.applications': ``block1_conv1`` ... ``block5_pool``, ``fc1``, ``fc2``,
``predictions``; the BN variants add ``block1_conv1_bn`` and ``block1_conv1_relu``.

Published weights (``kcnn.get_spec("vgg16").weights``) load exactly: keras.applications' and
the VGG team's Caffe files into ``vgg16``/``vgg19``, torchvision's into every depth and its
``_bn`` form (torchvision's conv biases before BN fold into the moving means; fc1's inputs
are reordered from torchvision's channels-first flatten).
"""

from __future__ import annotations

import keras

from kcnn._checks import (check_bool, check_choice, check_float, check_input_shape, check_int,
                          check_int_tuple)
from kcnn.heads import check_head_args, global_pool
from kcnn.models._dense_top import check_fixed_size, dense_top
from kcnn.registry import register_model

__all__ = ["PAPER", "CONFIGS", "CONFIG_LETTERS", "FILTERS", "MIN_SIZE", "FEATURE_LAYERS",
           "vgg", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
           "vgg19_bn"]

PAPER = "arXiv:1409.1556"
# Convolutions per block for each depth (Table 1 of the paper: configurations A, B, D, E).
CONFIGS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
CONFIG_LETTERS = {11: "A", 13: "B", 16: "D", 19: "E"}
FILTERS = (64, 128, 256, 512, 512)
MIN_SIZE = 32  # five 2x2/2 poolings
FEATURE_LAYERS = tuple(f"block{b}_pool" for b in range(1, 6))


def vgg(depth, *, input_shape=None, num_classes=1000, include_top=True, pooling=None,
        classifier_activation="softmax", dropout=0.5, batch_norm=False, bn_epsilon=None,
        filters=FILTERS, fc_units=4096, name=None):
    """Builds VGG-``depth`` (configuration A, B, D or E of the paper).

    Args:
        depth: 11, 13, 16 or 19.
        input_shape: (224, 224, 3) by default; at least 32x32. With ``include_top`` the
            height and width must be fixed (fc1 depends on them).
        num_classes: width of the classifier (``predictions``).
        include_top: add fc1, fc2 and the classifier; without it the output is block5_pool.
        pooling: None, "avg" or "max" applied to block5_pool when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        dropout: rate of the dropout after fc1 and fc2 (0.5 in the paper).
        batch_norm: bias-free convolution -> BatchNormalization -> ReLU (not in the paper).
        bn_epsilon: epsilon of every BatchNormalization (default 1e-5, torchvision's);
            refused without ``batch_norm``.
        filters: widths of the five blocks (64, 128, 256, 512, 512); narrow them for quick
            experiments.
        fc_units: width of fc1 and fc2 (4096).
        name: model name (``vgg16``, ``vgg16_bn``, ...).
    """
    depth = check_choice("depth", depth, tuple(CONFIGS))
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation, dropout=dropout)
    input_shape = check_input_shape(input_shape, min_size=MIN_SIZE, default=(224, 224, 3),
                                    model=f"VGG-{depth}")
    check_fixed_size(input_shape, include_top=include_top, model=f"VGG-{depth}")
    check_bool("batch_norm", batch_norm)
    if bn_epsilon is not None and not batch_norm:
        raise ValueError("`bn_epsilon` applies to the batch-normalized variants only "
                         f"(batch_norm=True, vgg*_bn). Received: bn_epsilon={bn_epsilon!r} "
                         "with batch_norm=False")
    bn_epsilon = check_float("bn_epsilon", 1e-5 if bn_epsilon is None else bn_epsilon,
                             minimum=0.0, min_inclusive=False)
    filters = check_int_tuple("filters", filters, length=5)
    fc_units = check_int("fc_units", fc_units, minimum=1)

    # === Functional Model ===
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for block, (convs, width) in enumerate(zip(CONFIGS[depth], filters), start=1):
        for i in range(1, convs + 1):
            conv_name = f"block{block}_conv{i}"
            if batch_norm:
                x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                        name=conv_name)(x)
                x = keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=0.9,
                                                    name=f"{conv_name}_bn")(x)
                x = keras.layers.Activation("relu", name=f"{conv_name}_relu")(x)
            else:
                x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                        name=conv_name)(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        outputs = dense_top(x, names=("fc1", "fc2"), units=fc_units, dropout=dropout,
                            num_classes=num_classes,
                            classifier_activation=classifier_activation)
    else:
        outputs = global_pool(x, pooling)
    default_name = f"vgg{depth}_bn" if batch_norm else f"vgg{depth}"
    return keras.Model(inputs, outputs, name=name or default_name)


def _spec(depth, params, batch_norm=False):
    convs = sum(CONFIGS[depth])
    description = (f"VGG-{depth} (configuration {CONFIG_LETTERS[depth]}): {convs} 3x3 convs, "
                   "fc 4096-4096" + (", batch norm after bias-free convs" if batch_norm
                                     else ", dropout 0.5"))
    return dict(family="vgg", paper=PAPER, input_shape=(224, 224, 3), params=params,
                recipe="vgg_imagenet", preprocessing="imagenet_mean",
                feature_layers=FEATURE_LAYERS, description=description)


@register_model(**_spec(11, 132_863_336))
def vgg11(**kwargs):
    """VGG-11 (configuration A); arguments as ``kcnn.models.vgg.vgg``."""
    return vgg(11, **kwargs)


@register_model(**_spec(13, 133_047_848))
def vgg13(**kwargs):
    """VGG-13 (configuration B); arguments as ``kcnn.models.vgg.vgg``."""
    return vgg(13, **kwargs)


@register_model(**_spec(16, 138_357_544))
def vgg16(**kwargs):
    """VGG-16 (configuration D); arguments as ``kcnn.models.vgg.vgg``."""
    return vgg(16, **kwargs)


@register_model(**_spec(19, 143_667_240))
def vgg19(**kwargs):
    """VGG-19 (configuration E); arguments as ``kcnn.models.vgg.vgg``."""
    return vgg(19, **kwargs)


@register_model(**_spec(11, 132_866_088, batch_norm=True))
def vgg11_bn(**kwargs):
    """VGG-11 with batch normalization (bias-free convolutions); see ``vgg``."""
    return vgg(11, batch_norm=True, **kwargs)


@register_model(**_spec(13, 133_050_792, batch_norm=True))
def vgg13_bn(**kwargs):
    """VGG-13 with batch normalization (bias-free convolutions); see ``vgg``."""
    return vgg(13, batch_norm=True, **kwargs)


@register_model(**_spec(16, 138_361_768, batch_norm=True))
def vgg16_bn(**kwargs):
    """VGG-16 with batch normalization (bias-free convolutions); see ``vgg``."""
    return vgg(16, batch_norm=True, **kwargs)


@register_model(**_spec(19, 143_672_744, batch_norm=True))
def vgg19_bn(**kwargs):
    """VGG-19 with batch normalization (bias-free convolutions); see ``vgg``."""
    return vgg(19, batch_norm=True, **kwargs)
