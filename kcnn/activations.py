"""Activation lookup: kcnn's own activations by name, falling back to Keras's.

``keras.activations.get("name")`` does not see classes registered with
``keras.saving.register_keras_serializable``, so builders resolve their ``activation=``
arguments here.
"""

from __future__ import annotations

import difflib

import keras

# name -> elementwise activation function defined by kcnn (serializable with Keras)
CUSTOM = {}
# name -> Layer class, for activations with weights or a training mode (APL, RReLU)
CUSTOM_LAYERS = {}


def names():
    """Every activation name accepted by ``get``."""
    keras_names = [n for n in dir(keras.activations)
                   if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]
    return sorted(set(keras_names) | set(CUSTOM) | set(CUSTOM_LAYERS))


def get(identifier, *, argument="activation"):
    """Returns the activation callable for ``identifier`` (a name, a callable or None).

    Raises:
        ValueError: for an unknown name, naming ``argument`` and close matches.
    """
    if identifier is None or callable(identifier):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"`{argument}` must be a string, a callable or None. "
                        f"Received: {argument}={identifier!r}")
    key = identifier.lower()
    if key in CUSTOM_LAYERS:
        raise ValueError(f"Activation {identifier!r} has weights or a training mode and is a "
                         f"layer: use `kcnn.activations.layer({identifier!r})`. "
                         f"Received: {argument}={identifier!r}")
    if key in CUSTOM:
        return CUSTOM[key]
    try:
        return keras.activations.get(identifier)
    except (ValueError, TypeError):
        close = difflib.get_close_matches(key, names(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown activation {identifier!r} for `{argument}`.{hint} "
                         f"Received: {argument}={identifier!r}") from None


def layer(identifier, *, name=None, argument="activation"):
    """Returns a Keras layer applying ``identifier``.

    Builders apply activations through this function so that every name, including those
    whose layers have weights (APL) or behave differently in training (RReLU), is accepted.
    """
    if isinstance(identifier, keras.layers.Layer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in CUSTOM_LAYERS:
        return CUSTOM_LAYERS[identifier.lower()](name=name)
    return keras.layers.Activation(get(identifier, argument=argument), name=name)


def check(identifier, *, argument="activation"):
    """Validates ``identifier`` without building anything; returns it unchanged."""
    if isinstance(identifier, str) and identifier.lower() in CUSTOM_LAYERS:
        return identifier
    if isinstance(identifier, keras.layers.Layer):
        return identifier
    get(identifier, argument=argument)
    return identifier
