"""Pooling between convolution stages: max, average, L2-norm and max + average.

Seed 004 lists the pooling kinds a CNN uses between its stages: max pooling (its 2x2/2 example
turns ``[[4, 1, -3, 1], [2, 0, -2, 3], [4, 2, -1, 2], [2, 1, -1, 0]]`` into ``[[4, 3], [4, 2]]``),
average pooling, L2-norm pooling and "max + average". Keras has the first two
(``keras.layers.MaxPooling2D``, ``AveragePooling2D``); this module adds the others with the
same arguments (``pool_size``, ``strides``, ``padding="valid"/"same"``, channels last) and a
resolver, ``get``, that the builders use for their between-stage pooling argument.

Names accepted by ``get`` (case-insensitive):

- ``"max"``: ``keras.layers.MaxPooling2D``
- ``"avg"``, ``"average"``: ``keras.layers.AveragePooling2D``
- ``"l2"``: ``L2Pooling2D``
- ``"max_avg"``, ``"max_average"``: ``MaxAveragePooling2D`` (mixing weight 0.5)

With ``padding="same"``, ``AveragePooling2D`` (and the average half of
``MaxAveragePooling2D``) averages only the input values inside the window (TensorFlow's
convention), while ``L2Pooling2D`` sums squares with the padding counted as zeros.
"""

from __future__ import annotations

import difflib

import keras
from keras import ops

from kcnn._checks import check_bool, check_choice, check_float, check_int_tuple

__all__ = ["L2Pooling2D", "MaxAveragePooling2D"]

PADDINGS = ("valid", "same")


class _Pooling2D(keras.layers.Layer):
    """Argument handling shared with Keras's ``MaxPooling2D`` (channels last)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_int_tuple("pool_size", pool_size, length=2)
        self.strides = (self.pool_size if strides is None
                        else check_int_tuple("strides", strides, length=2))
        padding = padding.lower() if isinstance(padding, str) else padding
        self.padding = check_choice("padding", padding, PADDINGS)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        return (batch, self._output_size(h, 0), self._output_size(w, 1), c)

    def _output_size(self, size, dim):
        if size is None:
            return None
        k, s = self.pool_size[dim], self.strides[dim]
        if self.padding == "same":
            return -(-size // s)
        return (size - k) // s + 1 if size >= k else 0

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides,
                       "padding": self.padding})
        return config


@keras.saving.register_keras_serializable(package="kcnn")
class L2Pooling2D(_Pooling2D):
    """L2-norm pooling: the Euclidean norm of each window, ``sqrt(sum x^2)``.

    Seed 004 ("Other types of pooling: L2-norm pooling"); used in convolutional networks by
    Sermanet, Chintala and LeCun, "Convolutional neural networks applied to house numbers
    digit classification", ICPR 2012 (the ``p = 2`` case of Lp pooling). Its value lies
    between the window's largest magnitude and ``sqrt(window size)`` times it.

    The squares are summed in float32 (float16 squares overflow above 256), and the gradient
    of an all-zero window is zero rather than NaN.

    Args:
        pool_size: window size, an int or a pair (default 2).
        strides: step, an int or a pair; None (default) uses ``pool_size``.
        padding: "valid" (default) or "same" (padding counts as zeros).
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    def call(self, inputs):
        squares = ops.square(ops.cast(inputs, "float32"))
        # Window sums as window means times the number of input values in the window
        # (average pooling takes any pair of strides; TensorFlow's depthwise convolution
        # only equal ones). With "same", the mean covers only the values inside the input,
        # so the padding adds nothing, as zeros would.
        means = ops.average_pool(squares, self.pool_size, strides=self.strides,
                                 padding=self.padding)
        if self.padding == "valid":
            counts = float(self.pool_size[0] * self.pool_size[1])
        else:
            counts = ops.conv(ops.ones_like(squares[:1, :, :, :1]),
                              ops.ones(self.pool_size + (1, 1), dtype="float32"),
                              strides=self.strides, padding="same")
        sums = means * counts
        positive = ops.greater(sums, 0.0)
        norms = ops.where(positive, ops.sqrt(ops.where(positive, sums, 1.0)), 0.0)
        return ops.cast(norms, self.compute_dtype)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("L2Pooling2D needs a known number of channels. "
                             f"Received: input_shape={input_shape}")


@keras.saving.register_keras_serializable(package="kcnn")
class MaxAveragePooling2D(_Pooling2D):
    """Mixed max-average pooling: ``alpha * max + (1 - alpha) * average`` of each window.

    Seed 004's "Max + Average" pooling, in the form of Lee, Gallagher and Tu, "Generalizing
    pooling functions in convolutional neural networks: mixed, gated, and tree", AISTATS
    2016 (arXiv:1509.08985): a mixing proportion ``alpha`` in [0, 1], fixed or learned per
    layer. ``alpha = 1`` is max pooling, ``alpha = 0`` average pooling; the default 0.5 is
    the mean of the two. (Adding the two outputs instead is this layer times 2 with
    ``alpha = 0.5``.)

    Args:
        pool_size: window size, an int or a pair (default 2).
        strides: step, an int or a pair; None (default) uses ``pool_size``.
        padding: "valid" (default) or "same".
        alpha: the mixing proportion in [0, 1] (its initial value when learned).
        learn_alpha: learn ``alpha`` as one weight of the layer, kept in [0, 1].
        **kwargs: base layer arguments (``name``, ``dtype``).
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", alpha=0.5,
                 learn_alpha=False, **kwargs):
        super().__init__(pool_size=pool_size, strides=strides, padding=padding, **kwargs)
        self.alpha = check_float("alpha", alpha, minimum=0.0, maximum=1.0)
        self.learn_alpha = check_bool("learn_alpha", learn_alpha)

    def build(self, input_shape):
        if self.learn_alpha:
            self.mixing = self.add_weight(
                name="alpha", shape=(), initializer=keras.initializers.Constant(self.alpha),
                constraint=UnitInterval())

    def call(self, inputs):
        maxed = ops.max_pool(inputs, self.pool_size, self.strides, self.padding)
        averaged = ops.average_pool(inputs, self.pool_size, self.strides, self.padding)
        alpha = ops.cast(self.mixing if self.learn_alpha else self.alpha, maxed.dtype)
        return ops.add(ops.multiply(alpha, maxed), ops.multiply(1 - alpha, averaged))

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "learn_alpha": self.learn_alpha})
        return config


@keras.saving.register_keras_serializable(package="kcnn")
class UnitInterval(keras.constraints.Constraint):
    """Clips a weight into [0, 1] after each update (the mixing weight of a pooling)."""

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)


# === Resolver ===

POOLINGS = {
    "max": keras.layers.MaxPooling2D,
    "avg": keras.layers.AveragePooling2D,
    "average": keras.layers.AveragePooling2D,
    "l2": L2Pooling2D,
    "max_avg": MaxAveragePooling2D,
    "max_average": MaxAveragePooling2D,
}


def names():
    """Every pooling name accepted by ``get``."""
    return sorted(POOLINGS)


def check(identifier, *, argument="pooling"):
    """Validates a pooling name (or None) without building anything; returns it unchanged."""
    if identifier is None:
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"`{argument}` must be a pooling name or None. "
                        f"Received: {argument}={identifier!r}")
    if identifier.lower() not in POOLINGS:
        close = difflib.get_close_matches(identifier.lower(), names(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown pooling {identifier!r} for `{argument}`; expected one of "
                         f"{', '.join(repr(n) for n in names())} or None.{hint} "
                         f"Received: {argument}={identifier!r}")
    return identifier


def get(identifier, *, pool_size, strides=None, padding="valid", name=None,
        argument="pooling"):
    """Returns a new 2D pooling layer for ``identifier``, or None for None.

    Args:
        identifier: "max", "avg"/"average", "l2", "max_avg"/"max_average" (any case), or
            None (no pooling).
        pool_size, strides, padding: as in ``keras.layers.MaxPooling2D``.
        name: the layer's name.
        argument: the caller's argument name, used in error messages.

    Raises:
        ValueError: for an unknown name (naming ``argument`` and close matches).
        TypeError: for anything but a string or None.
    """
    if check(identifier, argument=argument) is None:
        return None
    return POOLINGS[identifier.lower()](pool_size=pool_size, strides=strides, padding=padding,
                                        name=name)
