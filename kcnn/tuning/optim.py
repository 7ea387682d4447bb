"""Training hyperparameters shared by every search space: optimizer, rate, schedule, batch.

Each space gives the paper's training settings as defaults (:class:`TrainingDefaults`); the
sweep can then vary

- ``optimizer``: ``"sgd"`` (with ``momentum``; a ``weight_decay`` is the papers' coupled L2
  decay inside the velocity, :class:`kcnn.optimizers.AlexNetSGD`), ``"adam"`` /
  ``"adamw"`` (``weight_decay`` decoupled, Loshchilov & Hutter) or ``"rmsprop"``;
- ``learning_rate`` (log scale) and ``schedule``, one of :data:`SCHEDULES`, computed over
  the sweep's epoch budget (``kcnn.schedules``); ``warmup_epochs`` (0 unless overridden);
- ``batch_size``.

Step-based schedules read ``optimizer.iterations``: kcnn's Hyperband restores the optimizer
state of a continued trial so they continue instead of restarting (see
:mod:`kcnn.tuning.tuners`).
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["TrainingDefaults", "SCHEDULES", "OPTIMIZERS", "declare_training",
           "make_optimizer", "make_callbacks"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")

# name -> what it does over a budget of T steps.
SCHEDULES = {
    "constant": "the initial rate throughout",
    "step": "divided by 10 at 50% and 75% of the budget (ResNet: 32k and 48k of 64k "
            "iterations)",
    "cosine": "cosine decay to 0 over the budget (Loshchilov & Hutter 2017)",
    "exponential": "multiplied by 0.96 every 8 epochs (GoogLeNet)",
    "halving": "halved every 80/340 of the budget (AlphaGo: every 80M of 340M steps)",
    "plateau": "divided by 10 when val_loss stops improving for 2 epochs (AlexNet, VGG)",
}


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """A paper's training settings, the defaults of a space's training hyperparameters.

    Attributes:
        optimizer: default optimizer name (one of :data:`OPTIMIZERS`).
        learning_rate: default initial rate.
        learning_rate_range: (low, high) of the log-scale search range.
        momentum: default momentum of SGD / RMSprop.
        weight_decay: default weight decay.
        schedule: default schedule name (one of :data:`SCHEDULES`).
        batch_size: default batch size.
        batch_sizes: batch sizes searched.
        reference: where the defaults come from.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    learning_rate_range: tuple = (1e-4, 1e-1)
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    batch_size: int = 64
    batch_sizes: tuple = (32, 64, 128)
    reference: str = ""


def _with(values, default):
    values = list(values)
    if default not in values:
        values.insert(0, default)
    return values


def declare_training(d, defaults):
    """Declares the training hyperparameters on the :class:`~kcnn.tuning.hparams.Declarer`
    ``d``; returns their values (None for inactive ones)."""
    lo, hi = defaults.learning_rate_range
    t = {}
    t["optimizer"] = d.choice("optimizer", _with(("sgd", "adam"), defaults.optimizer),
                              default=defaults.optimizer)
    t["learning_rate"] = d.float("learning_rate", min(lo, defaults.learning_rate),
                                 max(hi, defaults.learning_rate), sampling="log",
                                 default=defaults.learning_rate)
    with d.scope("optimizer", ["sgd", "rmsprop"]):
        t["momentum"] = d.choice("momentum", _with((0.0, 0.9, 0.95), defaults.momentum),
                                 default=defaults.momentum)
    t["weight_decay"] = d.choice("weight_decay",
                                 _with((0.0, 1e-4, 5e-4), defaults.weight_decay),
                                 default=defaults.weight_decay)
    t["schedule"] = d.choice("schedule", _with(("constant", "step", "cosine"),
                                               defaults.schedule),
                             default=defaults.schedule)
    t["warmup_epochs"] = d.fixed("warmup_epochs", 0)
    t["batch_size"] = d.choice("batch_size", _with(defaults.batch_sizes, defaults.batch_size),
                               default=defaults.batch_size)
    return t


def _schedule(name, rate, *, steps_per_epoch, epochs):
    """A LearningRateSchedule (or the float rate) for ``name`` over the budget."""
    import keras

    from kcnn.schedules import MultiStepDecay, StepDecay

    total = max(1, steps_per_epoch * epochs)
    if name in ("constant", "plateau"):
        return rate
    if name == "step":
        milestones = sorted({max(1, int(total * 0.5)), max(2, int(total * 0.75))})
        return MultiStepDecay(rate, milestones, factor=0.1)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=total)
    if name == "exponential":
        return StepDecay(rate, 8 * steps_per_epoch, factor=0.96)
    if name == "halving":
        return StepDecay(rate, max(1, math.ceil(total * 80 / 340)), factor=0.5)
    raise ValueError(f"`schedule` must be one of {', '.join(map(repr, SCHEDULES))}. "
                     f"Received: schedule={name!r}")


def make_optimizer(t, *, steps_per_epoch, epochs):
    """The optimizer for the training hyperparameters ``t`` (see :func:`declare_training`).

    Args:
        t: training hyperparameter values.
        steps_per_epoch: batches per epoch (for step-based schedules).
        epochs: epochs of the budget the schedule spans.
    """
    import keras

    from kcnn.optimizers import AlexNetSGD
    from kcnn.schedules import Warmup

    rate = _schedule(t["schedule"], float(t["learning_rate"]),
                     steps_per_epoch=steps_per_epoch, epochs=epochs)
    warmup = int(t.get("warmup_epochs") or 0)
    if warmup and t["schedule"] != "plateau":
        rate = Warmup(rate, warmup * steps_per_epoch, kind="linear")
    name = t["optimizer"]
    wd = float(t.get("weight_decay") or 0.0)
    momentum = float(t.get("momentum") or 0.0)
    if name == "sgd":
        if wd:
            return AlexNetSGD(learning_rate=rate, momentum=momentum, weight_decay=wd)
        return keras.optimizers.SGD(learning_rate=rate, momentum=momentum)
    if name in ("adam", "adamw"):
        if wd:
            return keras.optimizers.AdamW(learning_rate=rate, weight_decay=wd)
        return keras.optimizers.Adam(learning_rate=rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, momentum=momentum,
                                        weight_decay=wd or None)
    raise ValueError(f"`optimizer` must be one of {', '.join(map(repr, OPTIMIZERS))}. "
                     f"Received: optimizer={name!r}")


def make_callbacks(t, *, steps_per_epoch, state_path=None):
    """Callbacks a schedule needs (``plateau``: kcnn's resumable ReduceOnPlateau)."""
    if t["schedule"] != "plateau":
        return []
    from kcnn.schedules import ReduceOnPlateau, Warmup

    rate = float(t["learning_rate"])
    warmup = int(t.get("warmup_epochs") or 0)
    if warmup:
        rate = Warmup(rate, warmup * steps_per_epoch, kind="linear")
    return [ReduceOnPlateau(rate, monitor="val_loss", factor=0.1, patience=2,
                            steps_per_epoch=steps_per_epoch, state_path=state_path)]
