"""The generic ConvNet pattern of the lecture notes, and their "CNN in Keras" example.

``[(CONV-RELU)*N - POOL?]*M - (FC-RELU)*K - SOFTMAX``: M stages of N convolutions each,
optionally closed by a pooling layer, then K fully connected layers and the classifier
("N is usually up to ~5, M is large, 0 <= K <= 2"). Every number is an argument, so the tuner
can search over kernel size, depth and widths.

Reference: Stanford CS231n notes, "Convolutional Neural Networks: Architectures" (the layer
pattern), as taught in the course notes this package grew from.
"""

from __future__ import annotations

import numbers

import keras

from kcnn import activations
from kcnn._checks import (check_bool, check_choice, check_input_shape, check_int,
                          check_rate)
from kcnn.heads import check_head_args, global_pool, predictions
from kcnn.layers import pooling as poolings
from kcnn.registry import register_model

__all__ = ["convnet", "convnet_default", "convnet_keras_mnist"]



def _per_stage(name, value, num_stages, *, minimum=1):
    """An int (same for every stage) or a sequence of one int per stage."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * num_stages
    if not isinstance(value, (list, tuple)) or len(value) != num_stages:
        raise ValueError(f"`{name}` must be an integer or a list of {num_stages} integers "
                         f"(one per stage). Received: {name}={value!r}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value))


def _check_stage_pooling(stage_pooling):
    return poolings.check(stage_pooling, argument="stage_pooling")


def _stage_pools(stage_pooling, num_stages):
    """Which stages end with a pooling layer ("POOL?" in the pattern)."""
    if isinstance(stage_pooling, (list, tuple)):
        if len(stage_pooling) != num_stages:
            raise ValueError(f"`stage_pooling` must name one pooling (or None) per stage: "
                             f"{num_stages} entries. Received: stage_pooling={stage_pooling!r}")
        return tuple(_check_stage_pooling(p) for p in stage_pooling)
    return (_check_stage_pooling(stage_pooling),) * num_stages


def convnet(*, input_shape=(32, 32, 3), num_classes=10, include_top=True, pooling=None,
            classifier_activation="softmax", num_stages=3, convs_per_stage=2, filters=32,
            filter_growth=2, kernel_size=3, padding="same", activation="relu",
            stage_pooling="max", pool_size=2, batch_norm=False, dense_layers=1,
            dense_units=128, dense_activation=None, dropout=0.0, name=None):
    """``[(CONV-RELU)*N - POOL?]*M - (FC-RELU)*K - SOFTMAX`` with every number an argument.

    Args:
        input_shape: image shape (height, width, channels).
        num_classes: number of classes.
        include_top: add the K dense layers and the classifier.
        pooling: None, "avg" or "max" global pooling when ``include_top`` is False (the
            keras.applications meaning; the pooling between stages is ``stage_pooling``).
        classifier_activation: "softmax"; None gives logits.
        num_stages: M, the number of conv stages.
        convs_per_stage: N, an int or one int per stage.
        filters: filters of the first stage, or one int per stage.
        filter_growth: factor applied to ``filters`` at each new stage when ``filters`` is an
            int (2 doubles the width per stage, as VGG does).
        kernel_size: square kernel side, an int or one per stage.
        padding: "same" (keeps the size, zero padding (F-1)/2) or "valid".
        activation: activation after each convolution, any Keras or kcnn name, or None for a
            linear convolution.
        stage_pooling: pooling closing each stage: "max", "avg", a kcnn pooling name ("l2",
            "max_avg", see ``kcnn.layers.pooling``), None for no pooling, or one entry per
            stage.
        pool_size: window and stride of the stage pooling.
        batch_norm: put a bias-free convolution and BatchNormalization before each
            activation.
        dense_layers: K, number of hidden fully connected layers.
        dense_units: width of the dense layers, an int or one per layer.
        dense_activation: activation of the dense layers (default: ``activation``, or ReLU
            when that is None).
        dropout: dropout rate after each hidden dense layer.
        name: model name.
    """
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation, dropout=dropout)
    m = check_int("num_stages", num_stages, minimum=1)
    n_convs = _per_stage("convs_per_stage", convs_per_stage, m, minimum=0)
    if isinstance(filters, numbers.Integral) and not isinstance(filters, bool):
        check_int("filters", filters, minimum=1)
        growth = check_int("filter_growth", filter_growth, minimum=1) if isinstance(
            filter_growth, numbers.Integral) else filter_growth
        widths = tuple(max(1, int(round(filters * growth ** i))) for i in range(m))
    else:
        widths = _per_stage("filters", filters, m)
    kernels = _per_stage("kernel_size", kernel_size, m)
    check_choice("padding", padding, ("same", "valid"))
    activations.check(activation, argument="activation")
    pools = _stage_pools(stage_pooling, m)
    check_int("pool_size", pool_size, minimum=1)
    check_bool("batch_norm", batch_norm)
    k = check_int("dense_layers", dense_layers, minimum=0)
    units = _per_stage("dense_units", dense_units, k) if k else ()
    if dense_activation is None:
        dense_activation = activation if activation is not None else "relu"
    activations.check(dense_activation, argument="dense_activation")
    check_rate("dropout", dropout)

    # Smallest input for which every valid convolution and pooling still has an output.
    size = 1
    for stage in reversed(range(m)):
        if pools[stage] is not None:
            size *= pool_size
        if padding == "valid":
            size += n_convs[stage] * (kernels[stage] - 1)
    input_shape = check_input_shape(input_shape, min_size=size, model="this convnet")

    # === Functional Model ===
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for s in range(m):
        block = f"block{s + 1}"
        for c in range(n_convs[s]):
            conv = f"{block}_conv{c + 1}"
            x = keras.layers.Conv2D(widths[s], kernels[s], padding=padding,
                                    use_bias=not batch_norm, name=conv)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{conv}_bn")(x)
            if activation is not None:
                x = activations.layer(activation, name=f"{conv}_act")(x)
        if pools[s] is not None:
            x = poolings.get(pools[s], pool_size=pool_size, name=f"{block}_pool",
                             argument="stage_pooling")(x)
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for i in range(k):
            x = keras.layers.Dense(units[i], name=f"fc{i + 1}")(x)
            x = activations.layer(dense_activation, name=f"fc{i + 1}_act")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"fc{i + 1}_dropout")(x)
        x = predictions(x, num_classes=num_classes, classifier_activation=classifier_activation)
    else:
        x = global_pool(x, pooling)
    return keras.Model(inputs, x, name=name or "convnet")


_SEED_PAPER = "CS231n ConvNet pattern, [(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K-SOFTMAX"


@register_model("convnet", family="convnet", paper=_SEED_PAPER, input_shape=(32, 32, 3),
                params=550_570, recipe=None, preprocessing="unit_scale",
                feature_layers=("block1_pool", "block2_pool", "block3_pool"))
def convnet_default(**kwargs):
    """The generic ConvNet: 3 stages of 2 ReLU 3x3 convs (32-64-128) + max pool, one FC-128.

    Every argument of ``kcnn.models.convnet.convnet`` can be given (M, N, K, kernel size,
    widths, poolings, activations, batch norm).
    """
    return convnet(**kwargs)


@register_model("convnet_keras_mnist", family="convnet", paper=_SEED_PAPER,
                input_shape=(28, 28, 1), params=137_660, recipe=None,
                preprocessing="unit_scale", feature_layers=("block1_pool", "block2_pool"))
def convnet_keras_mnist(*, input_shape=(28, 28, 1), num_classes=10, include_top=True,
                        pooling=None, classifier_activation="softmax", name=None):
    """The lecture notes' "CNN in Keras" example on 28x28x1 digits.

    ``Convolution2D(25, 3, 3)`` -> 26x26x25, ``MaxPooling2D((2, 2))`` -> 13x13x25,
    ``Convolution2D(50, 3, 3)`` -> 11x11x50, ``MaxPooling2D((2, 2))`` -> 5x5x50, Flatten
    (1,250), ``Dense(100)`` + ReLU, ``Dense(10)`` + softmax. As in the example, the
    convolutions have no activation of their own (Keras's default was linear); the max
    pooling is the non-linearity. Parameters: 250 + 11,300 + 125,100 + 1,010 = 137,660.
    """
    return convnet(input_shape=input_shape, num_classes=num_classes, include_top=include_top,
                   pooling=pooling, classifier_activation=classifier_activation,
                   num_stages=2, convs_per_stage=1, filters=(25, 50), kernel_size=3,
                   padding="valid", activation=None, stage_pooling="max", pool_size=2,
                   dense_layers=1, dense_units=100, dense_activation="relu",
                   name=name or "convnet_keras_mnist")
