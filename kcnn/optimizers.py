"""The one optimizer factory (``make_optimizer``), AlexNet's update rule, and the papers'
coupled weight decay for any optimizer.

Krizhevsky, Sutskever and Hinton, NIPS 2012, section 5 (seed 001, "Case study: training
AlexNet")::

    v_{i+1} := 0.9 v_i - 0.0005 * eps * w_i - eps * <dL/dw | w_i>_{D_i}
    w_{i+1} := w_i + v_{i+1}

with learning rate ``eps``. The weight decay sits inside the velocity, so it is carried by
the momentum: the rule is SGD with momentum 0.9 on the loss plus an L2 penalty
``0.00025 * ||w||^2`` (whose gradient is ``0.0005 w``). Keras's
``SGD(momentum=0.9, weight_decay=0.0005)`` is a different rule: its decay is decoupled,
``w <- w - eps * 0.0005 * w`` applied outside the velocity, so it shrinks weights about
``1 / (1 - 0.9) = 10`` times less per step once the momentum builds up.

Which variables are decayed: the papers' own code decays the weights and not the biases
(Krizhevsky's cuda-convnet gives its weight cost ``wc`` to weights only; BVLC Caffe's
prototxts give every bias ``decay_mult: 0``; Goyal et al. 2017, section 5.1, report that
ResNet's training did not decay BatchNorm's gamma and beta). kcnn calls *kernels* the
variables whose name is not ``bias``, ``beta`` or ``gamma`` (:func:`is_kernel`; the rule
goes by name only, so other learned coefficients, such as LeNet's subsampling
``coefficient``, count as kernels); biases and BatchNorm gamma and beta are decayed only
with ``decay_bias=True``. The choice is part of the optimizer's config, so it survives a
``.keras`` save and load.
"""

from __future__ import annotations

import difflib
import numbers

import keras
from keras import ops

from kcnn._checks import check_bool, check_float

__all__ = ["OPTIMIZERS", "make_optimizer", "AlexNetSGD", "AdamL2", "RMSpropL2", "AdamW",
           "is_kernel", "get", "names"]

OPTIMIZERS = ("sgd", "alexnet_sgd", "adam", "adamw", "rmsprop")

# Variable names that are not kernels: biases and the normalization layers' offset and scale.
NOT_KERNELS = ("bias", "beta", "gamma")


def is_kernel(variable):
    """Whether ``variable`` is a kernel, decayed even when ``decay_bias=False``: any variable
    whose name is not ``bias``, ``beta`` or ``gamma`` (Keras's names for biases and for
    BatchNormalization's / LayerNormalization's offset and scale)."""
    name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return name not in NOT_KERNELS


class _DecaySelection:
    """Chooses the decayed variables: kernels, plus the rest with ``decay_bias=True``;
    Keras's ``exclude_from_weight_decay`` still removes variables on top."""

    def _use_weight_decay(self, variable):
        if not (self.decay_bias or is_kernel(variable)):
            return False
        return super()._use_weight_decay(variable)


class _CoupledL2(_DecaySelection):
    """Adds the coupled decay ``weight_decay * w`` to the gradient before the base
    optimizer's own update (an L2 penalty ``weight_decay / 2 * ||w||^2`` on the loss)."""

    def __init__(self, *args, weight_decay=0.0, decay_bias=False, **kwargs):
        super().__init__(*args, weight_decay=None, **kwargs)
        self.coupled_weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
        self.decay_bias = check_bool("decay_bias", decay_bias)

    def update_step(self, gradient, variable, learning_rate):
        if self.coupled_weight_decay and self._use_weight_decay(variable):
            gradient = ops.add(ops.cast(gradient, variable.dtype), ops.multiply(
                ops.cast(self.coupled_weight_decay, variable.dtype), variable))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update({"weight_decay": self.coupled_weight_decay,
                       "decay_bias": self.decay_bias})
        return config


@keras.saving.register_keras_serializable(package="kcnn")
class AlexNetSGD(_DecaySelection, keras.optimizers.Optimizer):
    """SGD with momentum and weight decay inside the velocity (AlexNet, seed 001).

    For each variable ``w`` with gradient ``g`` and learning rate ``lr``::

        v <- momentum * v - weight_decay * lr * w - lr * g
        w <- w + v

    The defaults are the paper's: ``learning_rate=0.01, momentum=0.9,
    weight_decay=0.0005``, biases not decayed. Equivalent to
    ``keras.optimizers.SGD(momentum=momentum)`` on the loss plus
    ``weight_decay / 2 * ||w||^2``; not to Keras's decoupled ``weight_decay`` (see the
    module docstring). ``learning_rate`` may be a
    ``keras.optimizers.schedules.LearningRateSchedule`` (the paper divided it by 10 three
    times when the validation error stopped improving).

    Args:
        learning_rate: a float, a schedule, or a callable returning the rate.
        momentum: the velocity's decay, in [0, 1].
        weight_decay: the coefficient of ``w`` in the velocity update, >= 0.
        decay_bias: also decay biases and normalization gamma/beta (see :func:`is_kernel`);
            False as in the paper's cuda-convnet and Caffe's AlexNet. More variables can
            be kept out with ``exclude_from_weight_decay`` before the first step.
        name: the optimizer's name.
        **kwargs: other ``keras.optimizers.Optimizer`` arguments (``clipnorm``,
            ``global_clipnorm``, ``use_ema``, ``loss_scale_factor``,
            ``gradient_accumulation_steps``, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, weight_decay=0.0005,
                 decay_bias=False, name="alexnet_sgd", **kwargs):
        # The base class's own weight_decay is Keras's decoupled decay: left unset here.
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
        self.coupled_weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
        self.decay_bias = check_bool("decay_bias", decay_bias)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self.velocities[self._get_variable_index(variable)]
        step = ops.multiply(lr, gradient)
        if self.coupled_weight_decay and self._use_weight_decay(variable):
            decay = ops.cast(self.coupled_weight_decay, variable.dtype)
            step = ops.add(step, ops.multiply(ops.multiply(decay, lr), variable))
        momentum = ops.cast(self.momentum, variable.dtype)
        self.assign(velocity, ops.subtract(ops.multiply(momentum, velocity), step))
        self.assign_add(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "weight_decay": self.coupled_weight_decay,
                       "decay_bias": self.decay_bias})
        return config


@keras.saving.register_keras_serializable(package="kcnn")
class AdamL2(_CoupledL2, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` on the loss plus ``weight_decay / 2 * ||w||^2``: the decay
    is added to the gradient before Adam's moments (Kingma & Ba's Adam with L2
    regularization; ``AdamW`` is the decoupled alternative). Takes Adam's arguments plus
    ``weight_decay`` and ``decay_bias``."""


@keras.saving.register_keras_serializable(package="kcnn")
class RMSpropL2(_CoupledL2, keras.optimizers.RMSprop):
    """``keras.optimizers.RMSprop`` on the loss plus ``weight_decay / 2 * ||w||^2`` (the decay
    added to the gradient). Takes RMSprop's arguments plus ``weight_decay`` and
    ``decay_bias``."""


@keras.saving.register_keras_serializable(package="kcnn")
class AdamW(_DecaySelection, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` (decoupled decay, Loshchilov & Hutter 2019) that leaves
    biases and normalization gamma/beta undecayed unless ``decay_bias=True``, and keeps
    that choice in its config."""

    def __init__(self, *args, decay_bias=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.decay_bias = check_bool("decay_bias", decay_bias)

    def get_config(self):
        return {**super().get_config(), "decay_bias": self.decay_bias}


def _check_learning_rate(learning_rate):
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError("`learning_rate` must be a positive number or a "
                        "keras.optimizers.schedules.LearningRateSchedule. "
                        f"Received: learning_rate={learning_rate!r}")
    return check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)


def _check_name(name):
    key = name.lower() if isinstance(name, str) else name
    if key == "alexnetsgd":
        key = "alexnet_sgd"
    if key not in OPTIMIZERS:
        close = difflib.get_close_matches(str(name).lower(), OPTIMIZERS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"`name` must be one of {', '.join(map(repr, OPTIMIZERS))}.{hint} "
                         f"Received: name={name!r}")
    return key


def make_optimizer(name, *, learning_rate, momentum=0.0, weight_decay=0.0, decay_bias=False):
    """The optimizer ``name`` with the papers' kind of weight decay: kcnn's one factory.

    ============== ===================================================================
    name           optimizer, and what ``weight_decay`` means
    ============== ===================================================================
    ``"sgd"``      ``keras.optimizers.SGD(momentum=momentum)``; with a weight decay,
                   :class:`AlexNetSGD`: the decay is coupled, added to the gradient
                   inside the momentum (``v <- m v - wd lr w - lr g``), as AlexNet,
                   VGG, GoogLeNet (Caffe) and ResNet apply it
    ``"alexnet_sgd"`` :class:`AlexNetSGD` always (the same rule)
    ``"adam"``     ``keras.optimizers.Adam``; with a weight decay, :class:`AdamL2`
                   (coupled: an L2 term in the gradient)
    ``"adamw"``    :class:`AdamW`: decoupled decay (Loshchilov & Hutter 2019)
    ``"rmsprop"``  ``keras.optimizers.RMSprop(momentum=momentum)``; with a weight
                   decay, :class:`RMSpropL2` (coupled)
    ============== ===================================================================

    Args:
        name: one of :data:`OPTIMIZERS` (any case).
        learning_rate: a positive float, or a ``LearningRateSchedule``.
        momentum: momentum of SGD and RMSprop, in [0, 1); Adam and AdamW take none
            (their ``beta_1`` plays that part), so it must be 0 for them.
        weight_decay: decay coefficient, >= 0 (0: none).
        decay_bias: also decay biases and normalization gamma/beta; False decays only
            kernels (:func:`is_kernel`), as the papers' Caffe solvers did.

    Returns:
        A ``keras.optimizers.Optimizer``; kcnn's classes are registered, so a model
        compiled with it saves and reloads from ``.keras`` files (after ``import kcnn``).

    Raises:
        ValueError, TypeError: a bad value, naming the argument.
    """
    key = _check_name(name)
    learning_rate = _check_learning_rate(learning_rate)
    momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0,
                           max_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
    decay_bias = check_bool("decay_bias", decay_bias)
    if key in ("adam", "adamw") and momentum:
        raise ValueError(f"`momentum` does not apply to {key!r} (its beta_1 plays that part); "
                         f"pass momentum=0. Received: momentum={momentum!r}")
    if key == "alexnet_sgd" or (key == "sgd" and weight_decay):
        return AlexNetSGD(learning_rate=learning_rate, momentum=momentum,
                          weight_decay=weight_decay, decay_bias=decay_bias)
    if key == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    if key == "adamw":
        return AdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                     decay_bias=decay_bias)
    if key == "adam":
        if weight_decay:
            return AdamL2(learning_rate=learning_rate, weight_decay=weight_decay,
                          decay_bias=decay_bias)
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if weight_decay:
        return RMSpropL2(learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, decay_bias=decay_bias)
    return keras.optimizers.RMSprop(learning_rate=learning_rate, momentum=momentum)


# name (lower case) -> optimizer class defined by kcnn
CUSTOM = {"alexnet_sgd": AlexNetSGD, "alexnetsgd": AlexNetSGD}


def names():
    """kcnn's optimizer names accepted by ``get`` (Keras's own names are accepted too)."""
    return ["AlexNetSGD", "alexnet_sgd"]


def get(identifier, *, argument="optimizer"):
    """Returns an optimizer for ``identifier``: kcnn's names first, then Keras's.

    ``"alexnet_sgd"`` / ``"AlexNetSGD"`` (any case) give a new ``AlexNetSGD()`` with the
    paper's settings; optimizer instances are returned unchanged; anything else goes to
    ``keras.optimizers.get`` (``"sgd"``, ``"adam"``, config dicts, ...). To build an
    optimizer from settings, use :func:`make_optimizer`.

    Raises:
        ValueError: for an unknown name, naming ``argument`` and close matches.
    """
    if isinstance(identifier, str) and identifier.lower() in CUSTOM:
        return CUSTOM[identifier.lower()]()
    try:
        return keras.optimizers.get(identifier)
    except (ValueError, TypeError):
        if not isinstance(identifier, str):
            raise
        keras_names = [n for n in dir(keras.optimizers) if not n.startswith("_")
                       and n not in ("get", "serialize", "deserialize", "schedules",
                                     "legacy", "Optimizer")]
        close = difflib.get_close_matches(identifier, names() + keras_names, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown optimizer {identifier!r} for `{argument}`.{hint} "
                         f"Received: {argument}={identifier!r}") from None
