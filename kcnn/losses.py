"""Losses from the lecture notes that Keras lacks, resolvable by name.

Seed 001 ("Regression loss functions") defines the smooth L1 loss

    smooth_L1(x) = 0.5 x^2      if |x| < 1
                   |x| - 0.5    otherwise

(Girshick, "Fast R-CNN", ICCV 2015, eq. 3) and notes that the Huber loss generalizes it:
smooth L1 is Huber with ``delta = 1``. ``smooth_l1`` also takes PyTorch's ``beta`` (the
width of the quadratic zone): ``smooth_l1(beta) = huber(delta=beta) / beta``.

``keras.losses.get`` does not see losses registered with
``keras.saving.register_keras_serializable``; ``kcnn.losses.get`` resolves kcnn's names
first and falls back to Keras's::

    model.compile(loss=kcnn.losses.get("smooth_l1"), ...)
"""

from __future__ import annotations

import difflib

import keras
from keras import ops

from kcnn._checks import check_float

__all__ = ["SmoothL1", "smooth_l1", "get"]


@keras.saving.register_keras_serializable(package="kcnn")
def smooth_l1(y_true, y_pred, beta=1.0):
    """Smooth L1 loss averaged over the last axis (as ``keras.losses.huber``).

    Elementwise, with ``x = y_pred - y_true``: ``0.5 x^2 / beta`` where ``|x| < beta``,
    else ``|x| - 0.5 beta``. With ``beta = 1`` (default, seed 001 and Fast R-CNN) this is
    ``keras.losses.huber(y_true, y_pred, delta=1)``. Fast R-CNN sums over the four box
    coordinates: multiply by 4 for that.

    Args:
        y_true: targets.
        y_pred: predictions, the same shape.
        beta: width of the quadratic zone, > 0.

    Returns:
        One loss per sample (the last axis averaged).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    beta = ops.cast(beta, y_pred.dtype)
    error = ops.abs(ops.subtract(y_pred, y_true))
    loss = ops.where(ops.less(error, beta), 0.5 * ops.square(error) / beta, error - 0.5 * beta)
    return ops.mean(loss, axis=-1)


@keras.saving.register_keras_serializable(package="kcnn")
class SmoothL1(keras.losses.Loss):
    """Smooth L1 loss (Fast R-CNN; seed 001), ``keras.losses.Huber(delta=1)`` for ``beta=1``.

    ``beta`` is part of the config and survives ``.keras`` save/load (Keras 3.15's ``Huber``
    drops its ``delta`` there, keras-team/keras#23286, so a reloaded ``Huber(delta=2)``
    computes ``delta=1``).

    Args:
        beta: width of the quadratic zone (default 1, the paper's loss).
        reduction: as in ``keras.losses.Loss`` (default "sum_over_batch_size").
        name: the loss's name.
        dtype: the dtype of the loss computation.
    """

    def __init__(self, beta=1.0, reduction="sum_over_batch_size", name="smooth_l1",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.beta = check_float("beta", beta, minimum=0.0, min_inclusive=False)

    def call(self, y_true, y_pred):
        return smooth_l1(y_true, y_pred, beta=self.beta)

    def get_config(self):
        config = super().get_config()
        config["beta"] = self.beta
        return config


# name -> loss function; class name -> loss class (``get`` returns a new instance)
CUSTOM = {"smooth_l1": smooth_l1}
CUSTOM_CLASSES = {"SmoothL1": SmoothL1}


def names():
    """kcnn's loss names accepted by ``get`` (Keras's own names are accepted too)."""
    return sorted(CUSTOM) + sorted(CUSTOM_CLASSES)


def get(identifier, *, argument="loss"):
    """Returns the loss for ``identifier``: kcnn's names first, then ``keras.losses.get``.

    ``"smooth_l1"`` gives the function ``smooth_l1``; ``"SmoothL1"`` a ``SmoothL1()``
    instance (names are matched ignoring case, so class names give instances as in Keras).
    Callables and None are returned unchanged; anything else goes to ``keras.losses.get``.

    Raises:
        ValueError: for an unknown name, naming ``argument`` and close matches.
    """
    if isinstance(identifier, str):
        key = identifier.lower()
        classes = {n.lower(): c for n, c in CUSTOM_CLASSES.items()}
        if key in classes:
            return classes[key]()
        if key in CUSTOM:
            return CUSTOM[key]
    try:
        return keras.losses.get(identifier)
    except (ValueError, TypeError):
        if not isinstance(identifier, str):
            raise
        keras_names = [n for n in dir(keras.losses) if not n.startswith("_")
                       and n not in ("get", "serialize", "deserialize")]
        close = difflib.get_close_matches(identifier, names() + keras_names, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown loss {identifier!r} for `{argument}`.{hint} "
                         f"Received: {argument}={identifier!r}") from None
