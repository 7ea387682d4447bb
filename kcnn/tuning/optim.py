"""Training hyperparameters shared by every search space: optimizer, rate, schedule, batch.

Each space's defaults are a :class:`TrainingDefaults`. The spaces of paper networks derive
theirs from the paper's preset, :func:`kcnn.schedules.preset`
(``TrainingDefaults.from_preset``), the one record of a paper's optimizer, rate, momentum,
weight decay, batch size and schedule; only the search ranges (``learning_rate_range``,
``batch_sizes``) are the space's own. The generic ``convnet`` space has no paper and keeps
its own defaults (Adam at 1e-3, batch 64, no decay, constant rate; a plateau rule on
``val_loss`` with patience 2 when ``schedule=plateau`` is chosen).

A sweep can then vary

- ``optimizer``: ``"sgd"`` (with ``momentum``), ``"adam"``, ``"adamw"``, ``"rmsprop"`` or
  ``"alexnet_sgd"``, built by :func:`kcnn.optimizers.make_optimizer` (the one optimizer
  factory): a ``weight_decay`` is the papers' coupled L2 decay for SGD, Adam and RMSprop,
  and decoupled for AdamW (Loshchilov & Hutter); biases and BatchNorm's gamma and beta are
  decayed only when the preset says so (``decay_bias``);
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

__all__ = ["TrainingDefaults", "SCHEDULES", "declare_training", "check_training_overrides",
           "make_optimizer", "make_callbacks", "steps_per_epoch"]

# name -> what it does over a budget of T steps.
SCHEDULES = {
    "constant": "the initial rate throughout",
    "step": "divided by 10 at 50% and 75% of the budget (ResNet: 32k and 48k of 64k "
            "iterations)",
    "cosine": "cosine decay to 0 over the budget (Loshchilov & Hutter 2017)",
    "exponential": "multiplied by 0.96 every 8 epochs (GoogLeNet)",
    "halving": "halved every 80/340 of the budget (AlphaGo: every 80M of 340M steps)",
    "plateau": "divided by 10 when the monitored metric stops improving for `patience` "
               "epochs (AlexNet, VGG, ResNet on ImageNet: the preset's monitor and patience)",
}

@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """The defaults of a space's training hyperparameters, and its search ranges.

    Attributes:
        optimizer: default optimizer name (see :data:`kcnn.optimizers.OPTIMIZERS`).
        learning_rate: default initial rate.
        learning_rate_range: (low, high) of the log-scale search range.
        momentum: default momentum of SGD / RMSprop.
        weight_decay: default weight decay (see the module docstring for its kind).
        decay_bias: whether biases and normalization parameters are decayed too.
        schedule: default schedule name (one of :data:`SCHEDULES`).
        batch_size: default batch size.
        batch_sizes: batch sizes searched.
        monitor: metric the plateau rule watches.
        patience: epochs without improvement before a plateau reduction.
        preset: the ``kcnn.schedules`` preset the values come from, or None.
        reference: where the defaults come from.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    learning_rate_range: tuple = (1e-4, 1e-1)
    momentum: float = 0.0
    weight_decay: float = 0.0
    decay_bias: bool = False
    schedule: str = "constant"
    batch_size: int = 64
    batch_sizes: tuple = (32, 64, 128)
    monitor: str = "val_loss"
    patience: int = 2
    preset: str | None = None
    reference: str = ""

    @classmethod
    def from_preset(cls, name, *, learning_rate_range, batch_sizes):
        """The paper's settings from ``kcnn.schedules.preset(name)``, with a space's search
        ranges."""
        from kcnn.schedules import preset

        p = preset(name)
        # A preset with a fixed schedule has no plateau rule; one chosen in a sweep
        # (schedule=plateau) then watches val_accuracy with kcnn.schedules' patience of 5.
        return cls(optimizer=p.optimizer, learning_rate=float(p.paper_learning_rate),
                   learning_rate_range=tuple(learning_rate_range),
                   momentum=float(p.momentum), weight_decay=float(p.weight_decay),
                   decay_bias=bool(p.decay_bias), schedule=p.schedule_kind,
                   batch_size=int(p.paper_batch_size), batch_sizes=tuple(batch_sizes),
                   monitor=p.monitor or "val_accuracy", patience=int(p.patience or 5),
                   preset=name, reference=p.paper)


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
    with d.scope("optimizer", ["sgd", "alexnet_sgd", "rmsprop"]):
        t["momentum"] = d.choice("momentum", _with((0.0, 0.9, 0.95), defaults.momentum),
                                 default=defaults.momentum, domain=(0.0, 0.999))
    t["weight_decay"] = d.choice("weight_decay",
                                 _with((0.0, 1e-4, 5e-4), defaults.weight_decay),
                                 default=defaults.weight_decay)
    t["schedule"] = d.choice("schedule", _with(("constant", "step", "cosine"),
                                               defaults.schedule),
                             default=defaults.schedule)
    t["warmup_epochs"] = d.fixed("warmup_epochs", 0)
    t["batch_size"] = d.choice("batch_size", _with(defaults.batch_sizes, defaults.batch_size),
                               default=defaults.batch_size)
    t["decay_bias"] = defaults.decay_bias
    return t


def check_training_overrides(overrides):
    """Refuses ``optimizer`` and ``schedule`` overrides naming none (with close matches), so
    that a typo stops the sweep before its first trial."""
    from kcnn.optimizers import OPTIMIZERS

    for name, known in (("optimizer", OPTIMIZERS), ("schedule", tuple(SCHEDULES))):
        value = overrides.get(name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, str) and v not in known:
                import difflib

                close = difflib.get_close_matches(v, known, n=2)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(f"`{name}` must be one of {', '.join(known)}.{hint} "
                                 f"Received: {name}={value!r}")


def steps_per_epoch(train_size, batch_size):
    """Batches in one epoch of ``train_size`` examples."""
    return max(1, math.ceil(int(train_size) / int(batch_size)))


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
    """The optimizer for the training hyperparameters ``t`` (see :func:`declare_training`),
    built by :func:`kcnn.optimizers.make_optimizer`.

    Args:
        t: training hyperparameter values.
        steps_per_epoch: batches per epoch (for step-based schedules).
        epochs: epochs of the budget the schedule spans.
    """
    from kcnn import optimizers
    from kcnn.schedules import Warmup

    rate = _schedule(t["schedule"], float(t["learning_rate"]),
                     steps_per_epoch=steps_per_epoch, epochs=epochs)
    warmup = int(t.get("warmup_epochs") or 0)
    if warmup and t["schedule"] != "plateau":
        rate = Warmup(rate, warmup * steps_per_epoch, kind="linear")
    return optimizers.make_optimizer(
        t["optimizer"], learning_rate=rate, momentum=float(t.get("momentum") or 0.0),
        weight_decay=float(t.get("weight_decay") or 0.0),
        decay_bias=bool(t.get("decay_bias", False)))


def make_callbacks(t, *, steps_per_epoch, plateau, state_path=None):
    """Callbacks a schedule needs (``plateau``: kcnn's resumable ReduceOnPlateau).

    Args:
        t: training hyperparameter values.
        steps_per_epoch: batches per epoch.
        plateau: ``(monitor, patience)`` of the plateau rule (the space's preset's).
        state_path: JSON file keeping the callback's state for a continued trial.
    """
    if t["schedule"] != "plateau":
        return []
    from kcnn.schedules import ReduceOnPlateau, Warmup

    rate = float(t["learning_rate"])
    warmup = int(t.get("warmup_epochs") or 0)
    if warmup:
        rate = Warmup(rate, warmup * steps_per_epoch, kind="linear")
    monitor, patience = plateau
    return [ReduceOnPlateau(rate, monitor=monitor, factor=0.1, patience=int(patience),
                            steps_per_epoch=steps_per_epoch, state_path=state_path)]
