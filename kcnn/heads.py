"""Arguments and classifier head shared by every image-classifier family.

The head follows keras.applications: ``include_top`` adds the classifier (optionally after
``dropout``) ending in a layer named ``predictions``; without it, ``pooling`` (None, "avg"
or "max") chooses the feature output. The classifier runs in float32 under mixed precision
so that softmax and the loss see full-precision logits.
"""

from __future__ import annotations

import keras

from kcnn._checks import check_activation, check_bool, check_choice, check_int, check_rate

__all__ = ["POOLINGS", "check_head_args", "global_pool", "predictions", "classifier_head"]

POOLINGS = (None, "avg", "max")


def check_head_args(*, include_top, num_classes, pooling, classifier_activation,
                    dropout=None):
    """Validates the keras.applications-style head arguments (see module docstring)."""
    check_bool("include_top", include_top)
    if include_top:
        check_int("num_classes", num_classes, minimum=1)
    check_choice("pooling", pooling, POOLINGS)
    check_activation("classifier_activation", classifier_activation)
    if dropout is not None:
        check_rate("dropout", dropout)


def global_pool(x, pooling, *, name="avg_pool"):
    """Global average or max pooling, or ``x`` itself when ``pooling`` is None."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name=name)(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name=name.replace("avg", "max"))(x)
    return x


def predictions(x, *, num_classes, classifier_activation, name="predictions"):
    """The final dense classifier, computed in float32 (logits when activation is None)."""
    from kcnn import activations

    act = activations.get(classifier_activation, argument="classifier_activation")
    return keras.layers.Dense(num_classes, activation=act, dtype="float32", name=name)(x)


def classifier_head(x, *, include_top, num_classes, pooling, classifier_activation,
                    dropout=0.0, top_pooling="avg"):
    """The head used by fully convolutional families (GoogLeNet, ResNet).

    With ``include_top`` the features are pooled with ``top_pooling`` (the paper's global
    average pool), dropped out with rate ``dropout`` and classified; otherwise ``pooling``
    applies.
    """
    if include_top:
        x = global_pool(x, top_pooling)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        return predictions(x, num_classes=num_classes,
                           classifier_activation=classifier_activation)
    return global_pool(x, pooling)
