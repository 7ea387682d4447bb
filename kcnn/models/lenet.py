"""LeNet-5 (LeCun et al., 1998) and its common modern form.

The 1998 network on a 32x32 input: C1 (6 maps 5x5) - S2 (trainable subsampling) - C3 (16 maps
5x5, partial connection table) - S4 - C5 (120 maps 5x5) - F6 (84 units) - Euclidean RBF output,
every layer squashed by ``1.7159 tanh(2a/3)``: 60,000 trainable parameters, the output
prototypes fixed. The modern form keeps the widths but uses ReLU, max pooling, a full C3 and a
dense softmax output: 61,706 trainable parameters on a one-channel 32x32 input.

Reference: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
document recognition", Proceedings of the IEEE 86(11):2278-2324, 1998.
"""

from __future__ import annotations

import keras

from kcnn import activations
from kcnn._checks import check_input_shape
from kcnn.heads import check_head_args, global_pool, predictions
from kcnn.layers.lenet import EuclideanRBF, PartialConv2D, Subsampling2D
from kcnn.registry import register_model

__all__ = ["PAPER", "lenet", "lenet5", "lenet5_modern"]

PAPER = "LeCun et al., Proc. IEEE 86(11), 1998"


def _lenet5_paper(x, *, num_classes, include_top, pooling, classifier_activation):
    act = "lecun_tanh"
    x = keras.layers.Conv2D(6, 5, activation=activations.get(act), name="c1")(x)
    x = Subsampling2D(2, name="s2")(x)
    x = activations.layer(act, name="s2_act")(x)
    x = PartialConv2D(kernel_size=5, activation=act, name="c3")(x)
    x = Subsampling2D(2, name="s4")(x)
    x = activations.layer(act, name="s4_act")(x)
    x = keras.layers.Conv2D(120, 5, activation=activations.get(act), name="c5")(x)
    if not include_top:
        return global_pool(x, pooling)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation=activations.get(act), name="f6")(x)
    x = EuclideanRBF(num_classes, prototypes="digits" if num_classes == 10 else "random",
                     negate=True, dtype="float32", name="rbf")(x)
    if classifier_activation is None:
        return keras.layers.Activation("linear", dtype="float32", name="predictions")(x)
    return keras.layers.Activation(activations.get(classifier_activation), dtype="float32",
                                   name="predictions")(x)


def _lenet5_modern(x, *, num_classes, include_top, pooling, classifier_activation,
                   activation, dropout):
    x = keras.layers.Conv2D(6, 5, name="c1")(x)
    x = activations.layer(activation, name="c1_act")(x)
    x = keras.layers.MaxPooling2D(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, name="c3")(x)
    x = activations.layer(activation, name="c3_act")(x)
    x = keras.layers.MaxPooling2D(2, name="s4")(x)
    x = keras.layers.Conv2D(120, 5, name="c5")(x)
    x = activations.layer(activation, name="c5_act")(x)
    if not include_top:
        return global_pool(x, pooling)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, name="f6")(x)
    x = activations.layer(activation, name="f6_act")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return predictions(x, num_classes=num_classes, classifier_activation=classifier_activation)


def lenet(*, variant="paper", input_shape=None, num_classes=10, include_top=True,
          pooling=None, classifier_activation="softmax", activation="relu", dropout=0.0,
          name=None):
    """Generic LeNet-5 builder; see ``lenet5`` and ``lenet5_modern``."""
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation, dropout=dropout)
    input_shape = check_input_shape(input_shape, min_size=32, default=(32, 32, 1),
                                    model="LeNet-5")
    inputs = keras.Input(input_shape, name="image")
    if variant == "paper":
        outputs = _lenet5_paper(inputs, num_classes=num_classes, include_top=include_top,
                                pooling=pooling, classifier_activation=classifier_activation)
    else:
        activations.check(activation, argument="activation")
        outputs = _lenet5_modern(inputs, num_classes=num_classes, include_top=include_top,
                                 pooling=pooling, classifier_activation=classifier_activation,
                                 activation=activation, dropout=dropout)
    return keras.Model(inputs, outputs, name=name or ("lenet5" if variant == "paper"
                                                      else "lenet5_modern"))


@register_model(family="lenet", paper=PAPER, input_shape=(32, 32, 1), params=60_000,
                recipe="lenet5_digits", preprocessing="lenet",
                feature_layers=("c1", "c3", "c5"))
def lenet5(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
           classifier_activation="softmax", name=None):
    """LeNet-5 as in the 1998 paper: trainable subsampling, C3 connection table, RBF output.

    The RBF output gives distances to fixed prototypes (the stylised 7x12 digit bitmaps for
    10 classes); the layer named ``predictions`` applies ``classifier_activation`` to the
    negated distances, so softmax turns small distances into high probabilities. Inputs are
    32x32 (the paper's digits are 20x20 centred in a 32x32 field) with one channel.

    Args:
        input_shape: (32, 32, 1) by default; at least 32x32.
        num_classes: number of output units (10 digits).
        include_top: add F6 and the RBF output; without it the output is C5.
        pooling: None, "avg" or "max" on C5 when ``include_top`` is False.
        classifier_activation: applied to the negated RBF distances; None gives them as
            logits.
        name: model name.
    """
    return lenet(variant="paper", input_shape=input_shape, num_classes=num_classes,
                 include_top=include_top, pooling=pooling,
                 classifier_activation=classifier_activation, name=name)


@register_model(family="lenet", paper=PAPER, input_shape=(32, 32, 1), params=61_706,
                recipe="lenet5_digits", preprocessing="lenet",
                feature_layers=("c1_act", "c3_act", "c5_act"))
def lenet5_modern(*, input_shape=None, num_classes=10, include_top=True, pooling=None,
                  classifier_activation="softmax", activation="relu", dropout=0.0, name=None):
    """LeNet-5 in its common modern form: ReLU, max pooling, full C3, dense softmax output.

    Layers keep the paper's names and widths (c1 6@5x5, s2, c3 16@5x5, s4, c5 120@5x5, f6 84),
    61,706 trainable parameters on a one-channel 32x32 input.

    Args:
        input_shape: (32, 32, 1) by default; at least 32x32.
        num_classes: number of classes.
        include_top: add F6 and the classifier; without it the output is C5.
        pooling: None, "avg" or "max" on C5 when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits.
        activation: hidden activation, any Keras or kcnn name ("relu").
        dropout: dropout rate before the classifier (0 in the common form).
        name: model name.
    """
    return lenet(variant="modern", input_shape=input_shape, num_classes=num_classes,
                 include_top=include_top, pooling=pooling,
                 classifier_activation=classifier_activation, activation=activation,
                 dropout=dropout, name=name)
