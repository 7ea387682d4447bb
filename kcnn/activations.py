"""Activation functions by name: kcnn's own, and the lookup builders resolve names with.

Like ``keras.activations``, this module holds elementwise functions and finds them by name;
the activation *layers* (APL and RReLU, which have weights or a training mode, and Maxout)
are in :mod:`kcnn.layers.activation_layers`. kcnn's functions, from the lecture notes'
table (seed 004) and LeNet-5:

======================  =========================================================  ======
name                    formula                                                    year
======================  =========================================================  ======
``lecun_tanh``          ``y = 1.7159 tanh(2x / 3)`` (LeNet-5)                      1998
``centered_softplus``   ``y = ln(e^x + 1) - ln 2``                                 2011
``vrelu``               ``y = max(x, alpha x)``, a large fixed ``alpha``           2014
======================  =========================================================  ======

``keras.activations.get("name")`` does not see functions registered with
``keras.saving.register_keras_serializable``, so builders resolve their ``activation=``
arguments with :func:`get` (a function) or :func:`layer` (a layer, for every name including
``"apl"`` and ``"rrelu"``).
"""

from __future__ import annotations

import difflib
import math

import keras
from keras import ops

__all__ = ["lecun_tanh", "centered_softplus", "vrelu", "VRELU_SLOPE", "CUSTOM",
           "CUSTOM_LAYERS", "names", "get", "layer", "check"]


# === Elementwise functions ===

@keras.saving.register_keras_serializable(package="kcnn")
def lecun_tanh(x):
    """LeNet-5's squashing function ``f(a) = A tanh(S a)`` with ``A = 1.7159``,
    ``S = 2/3`` (LeCun, Bottou, Bengio and Haffner 1998, Appendix A), so that
    ``f(1) = 1`` and ``f(-1) = -1``."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


_LN2 = math.log(2.0)


@keras.saving.register_keras_serializable(package="kcnn")
def centered_softplus(x):
    """Centered SoftPlus, ``ln(e^x + 1) - ln 2``: softplus shifted to pass through 0.

    Glorot, Bordes and Bengio, "Deep sparse rectifier neural networks", AISTATS 2011 (the
    softplus); seed 004's table gives the centered form, which is 0 at ``x = 0`` like ReLU.
    """
    x = ops.convert_to_tensor(x)
    return ops.subtract(keras.activations.softplus(x), ops.cast(_LN2, x.dtype))


VRELU_SLOPE = 1.0 / 3.0


@keras.saving.register_keras_serializable(package="kcnn")
def vrelu(x, negative_slope=VRELU_SLOPE):
    """Very leaky ReLU, ``max(x, alpha x)`` with a large fixed slope ``alpha``.

    A leaky ReLU whose negative slope is far from LReLU's 0.01: seed 004's table gives
    ``alpha`` between 0.1 and 0.5; Graham's 2014 CIFAR networks used 1/3 (the default here)
    and Xu et al. 2015 (arXiv:1505.00853) evaluate 1/5.5. For another slope use
    ``keras.layers.LeakyReLU(negative_slope=...)``, which this function calls.
    """
    return keras.activations.leaky_relu(x, negative_slope=negative_slope)


# === Lookup ===

# name -> elementwise activation function defined by kcnn (serializable with Keras)
CUSTOM = {"lecun_tanh": lecun_tanh, "centered_softplus": centered_softplus, "vrelu": vrelu}
# name -> Layer class, for activations with weights or a training mode (APL, RReLU); filled
# by kcnn.layers.activation_layers, which kcnn imports with the layers
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
