"""The papers' optimizer settings and learning-rate schedules, by name.

``preset(name, ...)`` returns a :class:`Preset`: the initial rate, batch size, momentum,
weight decay, training length, the schedule and the callbacks that apply it. Numbers come
from the papers (sections cited in each preset's ``paper`` field); where a paper leaves a
number open, ``notes`` says what kcnn chose.

Changing ``batch_size`` applies Goyal et al.'s linear scaling rule (arXiv:1706.02677): the
rate is multiplied by ``batch_size / paper batch size``, schedule boundaries counted in
iterations are divided by the same ratio (so they fall at the same epoch), and a larger
batch adds a linear warmup of ``warmup_epochs`` (default 5) from the paper's rate.
"""

from __future__ import annotations

import dataclasses
import difflib
import math

import keras

from kcnn._checks import check_float, check_int
from kcnn.schedules.callbacks import ReduceOnPlateau, ScheduleCallback
from kcnn.schedules.decay import MultiStepDecay, Schedule, StepDecay, Warmup

__all__ = ["Preset", "preset", "list_presets", "PRESETS"]

IMAGENET_TRAIN_SIZE = 1_281_167
CIFAR_TRAIN_SIZE = 45_000           # ResNet paper: 45k/5k train/validation split
KGS_TRAIN_SIZE = 29_400_000         # AlphaGo: 29.4 million positions


@dataclasses.dataclass(frozen=True)
class Preset:
    """Everything a training loop needs to follow one paper's schedule.

    Attributes:
        name: preset name.
        paper: reference and section the numbers come from.
        learning_rate: initial rate (the paper's linearly scaled to ``batch_size``, or the
            ``learning_rate`` argument); create the optimizer with this float and let
            ``callbacks`` drive it.
        batch_size: batch size the numbers are for.
        momentum: SGD momentum (0.0: plain SGD).
        weight_decay: the papers' L2 weight decay ``lambda``, *coupled*: the update adds
            ``lambda * w`` to the gradient (AlexNet's rule ``v <- 0.9 v - 0.0005 e w - e g``),
            which is ``keras.regularizers.L2(lambda / 2)`` on the weights; it is NOT Keras's
            decoupled ``SGD(weight_decay=...)``. See :meth:`l2_regularizer`.
        schedule: the rate as a ``LearningRateSchedule`` of ``unit`` steps, usable as an
            optimizer ``learning_rate`` when ``unit == "step"``; None when the rate depends
            on validation metrics (plateau presets).
        unit: ``"step"`` (iterations) or ``"epoch"``: the unit of ``schedule``, of
            ``warmup`` and of the callbacks' positions.
        callbacks: fresh callbacks that apply the rate, log it and resume it (pass them to
            ``fit`` before CSVLogger/TensorBoard).
        epochs: training length in epochs (None when the paper counts iterations and the
            epoch length is unknown).
        total_steps: training length in iterations at ``batch_size`` (None when the paper
            counts epochs and ``steps_per_epoch`` is unknown).
        warmup: warmup length in ``unit`` steps (0 for none).
        paper_learning_rate: the paper's rate, before scaling.
        paper_batch_size: the paper's batch size.
        monitor: metric watched by the plateau callback (None for fixed schedules).
        notes: choices kcnn made where the paper is silent.
    """

    name: str
    paper: str
    learning_rate: float
    batch_size: int
    momentum: float
    weight_decay: float
    schedule: Schedule | None
    unit: str
    callbacks: list
    epochs: int | None
    total_steps: int | None
    warmup: float
    paper_learning_rate: float
    paper_batch_size: int
    monitor: str | None
    notes: str

    def make_optimizer(self):
        """``keras.optimizers.SGD`` with the float rate and momentum (no decoupled decay)."""
        return keras.optimizers.SGD(learning_rate=self.learning_rate, momentum=self.momentum)

    def l2_regularizer(self):
        """``keras.regularizers.L2(weight_decay / 2)`` (gradient ``weight_decay * w``), or
        None without weight decay."""
        return keras.regularizers.L2(self.weight_decay / 2) if self.weight_decay else None

    def to_config(self):
        """A JSON-serializable description (the schedule as a Keras config)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("schedule", "callbacks")}
        out["schedule"] = (None if self.schedule is None
                           else keras.optimizers.schedules.serialize(self.schedule))
        out["callbacks"] = [type(c).__name__ for c in self.callbacks]
        return out


# name -> (paper, learning rate, batch size, momentum, weight decay)
PRESETS = {
    "alexnet": ("Krizhevsky, Sutskever & Hinton 2012, NIPS, section 5", 0.01, 128, 0.9, 5e-4),
    "vgg": ("Simonyan & Zisserman 2015, arXiv:1409.1556, section 3.1", 0.01, 256, 0.9, 5e-4),
    "googlenet": ("Szegedy et al. 2015, arXiv:1409.4842, section 6; rate, batch and decay "
                  "from BVLC Caffe's bvlc_googlenet solver", 0.01, 32, 0.9, 2e-4),
    "resnet_imagenet": ("He et al. 2016, arXiv:1512.03385, section 3.4", 0.1, 256, 0.9, 1e-4),
    "resnet_cifar": ("He et al. 2016, arXiv:1512.03385, section 4.2", 0.1, 128, 0.9, 1e-4),
    "resnet110_cifar": ("He et al. 2016, arXiv:1512.03385, section 4.2", 0.1, 128, 0.9, 1e-4),
    "alphago": ("Silver et al. 2016, Nature 529, Methods (supervised policy network)",
                0.003, 16, 0.0, 0.0),
}

_PLATEAU = {  # name -> (epochs, reductions, note)
    "alexnet": (90, 3, "The paper gives no patience; kcnn waits 5 epochs. 'roughly 90 "
                       "cycles', rate reduced three times."),
    "vgg": (74, 3, "The paper gives no patience; kcnn waits 5 epochs. 370K iterations "
                   "(74 epochs), rate decreased 3 times."),
    "resnet_imagenet": (120, 3, "The paper gives neither patience nor number of reductions; "
                                "kcnn waits 5 epochs and reduces at most 3 times. 60e4 "
                                "iterations at batch 256 (about 120 epochs)."),
}


def list_presets():
    """Names accepted by :func:`preset`."""
    return tuple(PRESETS)


def preset(name, *, steps_per_epoch=None, batch_size=None, learning_rate=None,
           warmup_epochs=None, monitor="val_accuracy", patience=5, state_path=None):
    """The paper's optimizer settings and rate schedule for ``name``.

    ======================  =====================================================================
    name                    rate schedule (paper batch size, momentum, coupled weight decay)
    ======================  =====================================================================
    ``"alexnet"``           0.01, divided by 10 when ``monitor`` plateaus, 3 times; 90 epochs
                            (batch 128, momentum 0.9, 5e-4)
    ``"vgg"``               0.01, divided by 10 at plateaus, 3 times; 74 epochs (256, 0.9, 5e-4)
    ``"googlenet"``         0.01, times 0.96 every 8 epochs; 250 epochs (32, 0.9, 2e-4); the
                            paper gives only the 4%/8 epochs and momentum, the rest is BVLC's
    ``"resnet_imagenet"``   0.1, divided by 10 at plateaus (at most 3); 60e4 iterations
                            (256, 0.9, 1e-4)
    ``"resnet_cifar"``      0.1, divided by 10 at 32k and 48k iterations, stop at 64k
                            (128, 0.9, 1e-4)
    ``"resnet110_cifar"``   as resnet_cifar, after a constant warmup at 0.01 for 400 iterations
    ``"alphago"``           0.003, halved every 80M steps, 340M steps (16, no momentum, none)
    ======================  =====================================================================

    Args:
        name: one of :func:`list_presets`.
        steps_per_epoch: batches per epoch. Given, every schedule counts iterations
            (``unit="step"``) and can be an optimizer's ``learning_rate``; otherwise presets
            defined in epochs count epochs (``unit="epoch"``) and the callbacks read the
            epoch length from ``fit``. The CIFAR and AlphaGo presets count iterations
            either way; their warmup uses the paper's training-set size when this is None.
        batch_size: global batch size; None for the paper's. Another value scales the rate
            linearly and the iteration counts inversely (see module docstring).
        learning_rate: initial rate replacing the (scaled) paper rate; the schedule keeps
            its shape, and a warmup starts from ``learning_rate * paper batch /
            batch_size``.
        warmup_epochs: linear warmup from the paper's rate to the scaled one; None means 5
            when ``batch_size`` exceeds the paper's and 0 otherwise. ``resnet110_cifar``
            keeps the paper's constant warmup instead.
        monitor: metric the plateau presets watch (the papers watched validation error;
            ``"val_accuracy"`` needs an ``"accuracy"`` metric and validation data).
        patience: epochs without improvement before a plateau reduction.
        state_path: JSON file where the callbacks keep their state for resuming.

    Returns:
        A :class:`Preset`.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in PRESETS:
        close = difflib.get_close_matches(str(name), PRESETS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown preset. Expected one of {', '.join(map(repr, PRESETS))}."
                         f"{hint} Received: name={name!r}")
    paper, paper_lr, paper_batch, momentum, weight_decay = PRESETS[key]
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    batch = paper_batch if batch_size is None else check_int("batch_size", batch_size)
    if warmup_epochs is None:
        warmup_epochs = 5 if batch > paper_batch else 0
    warmup_epochs = check_float("warmup_epochs", warmup_epochs, minimum=0.0)
    check_int("patience", patience, minimum=1)
    ratio = batch / paper_batch
    if learning_rate is None:
        lr = paper_lr * ratio
    else:
        lr = check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)
    start = lr / ratio      # Goyal et al.'s warmup starts from the rate for the paper's batch

    def iterations(n):  # an iteration count of the paper, at the new batch size
        return max(1, round(n / ratio))

    common = dict(name=key, paper=paper, learning_rate=lr, batch_size=batch,
                  momentum=momentum, weight_decay=weight_decay, paper_learning_rate=paper_lr,
                  paper_batch_size=paper_batch)

    if key in _PLATEAU:
        epochs, reductions, note = _PLATEAU[key]
        unit = "step" if steps_per_epoch else "epoch"
        per_epoch = steps_per_epoch or 1
        warmup = warmup_epochs * per_epoch
        base = lr if not warmup else Warmup(lr, warmup, start_learning_rate=start)
        total = epochs * steps_per_epoch if steps_per_epoch else None
        if key == "resnet_imagenet":
            total = iterations(600_000)
            epochs = math.ceil(total * batch / IMAGENET_TRAIN_SIZE)
        callback = ReduceOnPlateau(base, monitor=monitor, factor=0.1, patience=patience,
                                   max_reductions=reductions, unit=unit,
                                   update="batch" if warmup else "epoch",
                                   state_path=state_path)
        return Preset(schedule=None, unit=unit, callbacks=[callback], epochs=epochs,
                      total_steps=total, warmup=warmup, monitor=monitor, notes=note, **common)

    if key == "googlenet":
        unit = "step" if steps_per_epoch else "epoch"
        per_epoch = steps_per_epoch or 1
        schedule = StepDecay(lr, 8 * per_epoch, factor=0.96)
        warmup = warmup_epochs * per_epoch
        if warmup:
            schedule = Warmup(schedule, warmup, start_learning_rate=start)
        epochs = 250
        callback = ScheduleCallback(schedule, unit=unit,
                                    update="batch" if warmup or unit == "step" else "epoch",
                                    state_path=state_path)
        note = ("The paper states only momentum 0.9 and 'decreasing the learning rate by 4% "
                "every 8 epochs'; the initial rate 0.01, batch 32, weight decay 2e-4 and 250 "
                "epochs (10M iterations) are BVLC Caffe's bvlc_googlenet solver.")
        return Preset(schedule=schedule, unit=unit, callbacks=[callback], epochs=epochs,
                      total_steps=epochs * steps_per_epoch if steps_per_epoch else None,
                      warmup=warmup, monitor=None, notes=note, **common)

    if key in ("resnet_cifar", "resnet110_cifar"):
        per_epoch = steps_per_epoch or math.ceil(CIFAR_TRAIN_SIZE / batch)
        schedule = MultiStepDecay(lr, [iterations(32_000), iterations(48_000)], factor=0.1)
        total = iterations(64_000)
        if key == "resnet110_cifar":
            warmup = iterations(400)
            schedule = Warmup(schedule, warmup, start_learning_rate=lr / 10,
                              kind="constant")
            note = ("The paper warms up at 0.01 'until the training error is below 80% "
                    "(about 400 iterations)'; kcnn uses 400 iterations.")
        else:
            warmup = warmup_epochs * per_epoch
            if warmup:
                schedule = Warmup(schedule, warmup, start_learning_rate=start)
            note = "45k/5k train/validation split; 64k iterations is about 182 epochs."
        callback = ScheduleCallback(schedule, unit="step", state_path=state_path)
        return Preset(schedule=schedule, unit="step", callbacks=[callback],
                      epochs=math.ceil(total / per_epoch), total_steps=total, warmup=warmup,
                      monitor=None, notes=note, **common)

    # alphago
    per_epoch = steps_per_epoch or math.ceil(KGS_TRAIN_SIZE / batch)
    schedule = StepDecay(lr, iterations(80_000_000), factor=0.5)
    warmup = warmup_epochs * per_epoch
    if warmup:
        schedule = Warmup(schedule, warmup, start_learning_rate=start)
    callback = ScheduleCallback(schedule, unit="step", state_path=state_path)
    note = ("Plain SGD (no momentum, no weight decay) on 29.4M KGS positions with all 8 "
            "symmetries; 'training steps' are taken as minibatch updates.")
    return Preset(schedule=schedule, unit="step", callbacks=[callback], epochs=None,
                  total_steps=iterations(340_000_000), warmup=warmup, monitor=None, notes=note,
                  **common)
