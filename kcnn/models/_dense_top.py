"""The fully connected top shared by AlexNet and VGG: flatten, hidden dense layers with ReLU
and dropout, then the float32 ``predictions`` layer."""

from __future__ import annotations

import keras

from kcnn import activations

__all__ = ["check_fixed_size", "dense_top"]


def check_fixed_size(input_shape, *, include_top, model):
    """The first fully connected layer's size depends on the input size, so the top needs
    a fixed height and width."""
    if include_top and (input_shape[0] is None or input_shape[1] is None):
        raise ValueError(f"`input_shape` must have a fixed height and width for {model} with "
                         "include_top=True: the first fully connected layer's size depends "
                         "on them. Use include_top=False for variable sizes. "
                         f"Received: input_shape={input_shape!r}")


def dense_top(x, *, names, units, dropout, num_classes, classifier_activation,
              kernel_initializer="glorot_uniform", bias_initializer="zeros",
              predictions_kernel_initializer="glorot_uniform"):
    """``Flatten -> [Dense(units) + ReLU -> Dropout] per name -> predictions``.

    Args:
        x: the last feature map.
        names: names of the hidden dense layers (``("fc6", "fc7")``); their dropout layers
            are named ``<name>_dropout``.
        units: width of each hidden dense layer.
        dropout: dropout rate after each hidden layer (0 for none).
        num_classes: width of ``predictions``.
        classifier_activation: activation of ``predictions`` (None gives logits).
        kernel_initializer, bias_initializer: initializers of the hidden layers.
        predictions_kernel_initializer: kernel initializer of ``predictions`` (bias zero).
    """
    x = keras.layers.Flatten(name="flatten")(x)
    for name in names:
        x = keras.layers.Dense(units, activation="relu", kernel_initializer=kernel_initializer,
                               bias_initializer=bias_initializer, name=name)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    act = activations.get(classifier_activation, argument="classifier_activation")
    return keras.layers.Dense(num_classes, activation=act,
                              kernel_initializer=predictions_kernel_initializer,
                              dtype="float32", name="predictions")(x)
