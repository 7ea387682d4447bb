"""Argument validation shared by builders and layers.

Every message names the argument, says what was expected and ends with
``Received: name=value``, the keras.applications convention.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

__all__ = ["check_int", "check_float", "check_rate", "check_choice", "check_bool",
           "check_int_tuple", "check_input_shape", "check_activation"]


def _received(name, value):
    return f"Received: {name}={value!r}"


def check_int(name, value, *, minimum=1, maximum=None):
    """Returns ``value`` if it is an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. {_received(name, value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"`{name}` must be an integer {bound}. {_received(name, value)}")
    return int(value)


def check_float(name, value, *, minimum=None, maximum=None, min_inclusive=True,
                max_inclusive=True):
    """Returns ``value`` as a float if it lies in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. {_received(name, value)}")
    value = float(value)
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok):
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        interval = f"{'[' if min_inclusive else '('}{lo}, {hi}{']' if max_inclusive else ')'}"
        raise ValueError(f"`{name}` must be in {interval}. {_received(name, value)}")
    return value


def check_rate(name, value):
    """A dropout-style rate in [0, 1)."""
    return check_float(name, value, minimum=0.0, maximum=1.0, max_inclusive=False)


def check_choice(name, value, choices: Iterable):
    """Returns ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {shown}. {_received(name, value)}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False. {_received(name, value)}")
    return value


def check_int_tuple(name, value, *, length=None, minimum=1):
    """Returns a tuple of ints; an int is accepted where ``length`` is given."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and length:
        value = (value,) * length
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"`{name}` must be a sequence of integers. {_received(name, value)}")
    if length is not None and len(value) != length:
        raise ValueError(
            f"`{name}` must have {length} entries. {_received(name, value)}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(
                f"`{name}` must contain integers >= {minimum}. {_received(name, value)}")
    return tuple(int(v) for v in value)


def check_input_shape(input_shape, *, min_size, channels=None, default=None, model=None):
    """Validates an image ``input_shape`` of ``(height, width, channels)``.

    Args:
        input_shape: the user's value, or None for ``default``.
        min_size: smallest height and width the network accepts.
        channels: required number of channels, or None for any.
        default: shape used when ``input_shape`` is None.
        model: network name for the error message.
    """
    if input_shape is None:
        input_shape = default
    if (not isinstance(input_shape, Sequence) or isinstance(input_shape, str)
            or len(input_shape) != 3):
        raise ValueError(
            "`input_shape` must be a tuple (height, width, channels). "
            f"{_received('input_shape', input_shape)}")
    for v in input_shape:
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError("`input_shape` must contain positive integers (or None for a "
                             f"variable size). {_received('input_shape', input_shape)}")
    h, w, c = input_shape
    if c is None:
        raise ValueError("`input_shape` must give the number of channels. "
                         f"{_received('input_shape', input_shape)}")
    if channels is not None and c != channels:
        raise ValueError(f"`input_shape` must have {channels} channel(s)"
                         f"{' for ' + model if model else ''}. "
                         f"{_received('input_shape', input_shape)}")
    for v in (h, w):
        if v is not None and v < min_size:
            raise ValueError(
                f"`input_shape` is too small{' for ' + model if model else ''}: the minimum "
                f"size is {min_size}x{min_size}. {_received('input_shape', input_shape)}")
    return tuple(input_shape)


def check_activation(name, value):
    """Accepts a callable, None, or a name known to kcnn or Keras."""
    from kcnn import activations

    return activations.check(value, argument=name)
