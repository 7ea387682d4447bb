"""AlexNet's update rule as a Keras optimizer, and optimizer lookup by name.

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
"""

from __future__ import annotations

import difflib

import keras
from keras import ops

from kcnn._checks import check_float

__all__ = ["AlexNetSGD", "get"]


@keras.saving.register_keras_serializable(package="kcnn")
class AlexNetSGD(keras.optimizers.Optimizer):
    """SGD with momentum and weight decay inside the velocity (AlexNet, seed 001).

    For each variable ``w`` with gradient ``g`` and learning rate ``lr``::

        v <- momentum * v - weight_decay * lr * w - lr * g
        w <- w + v

    The defaults are the paper's: ``learning_rate=0.01, momentum=0.9,
    weight_decay=0.0005``. Equivalent to ``keras.optimizers.SGD(momentum=momentum)`` on the
    loss plus ``weight_decay / 2 * ||w||^2``; not to Keras's decoupled ``weight_decay``
    (see the module docstring). ``learning_rate`` may be a
    ``keras.optimizers.schedules.LearningRateSchedule`` (the paper divided it by 10 three
    times when the validation error stopped improving).

    Variables can be kept out of the decay (Caffe's AlexNet does not decay biases) with
    the base class's ``exclude_from_weight_decay(var_names=["bias"])`` before the first step.

    Args:
        learning_rate: a float, a schedule, or a callable returning the rate.
        momentum: the velocity's decay, in [0, 1].
        weight_decay: the coefficient of ``w`` in the velocity update, >= 0.
        name: the optimizer's name.
        **kwargs: other ``keras.optimizers.Optimizer`` arguments (``clipnorm``,
            ``global_clipnorm``, ``use_ema``, ``loss_scale_factor``,
            ``gradient_accumulation_steps``, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, weight_decay=0.0005,
                 name="alexnet_sgd", **kwargs):
        # The base class's own weight_decay is Keras's decoupled decay: left unset here.
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
        self.coupled_weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)

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
        config.update({"momentum": self.momentum, "weight_decay": self.coupled_weight_decay})
        return config


# name (lower case) -> optimizer class defined by kcnn
CUSTOM = {"alexnet_sgd": AlexNetSGD, "alexnetsgd": AlexNetSGD}


def names():
    """kcnn's optimizer names accepted by ``get`` (Keras's own names are accepted too)."""
    return ["AlexNetSGD", "alexnet_sgd"]


def get(identifier, *, argument="optimizer"):
    """Returns an optimizer for ``identifier``: kcnn's names first, then Keras's.

    ``"alexnet_sgd"`` / ``"AlexNetSGD"`` (any case) give a new ``AlexNetSGD()`` with the
    paper's settings; optimizer instances are returned unchanged; anything else goes to
    ``keras.optimizers.get`` (``"sgd"``, ``"adam"``, config dicts, ...).

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
