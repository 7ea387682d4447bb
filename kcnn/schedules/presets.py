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

__all__ = ["Preset", "PaperSettings", "preset", "list_presets", "PRESETS"]

IMAGENET_TRAIN_SIZE = 1_281_167
CIFAR_TRAIN_SIZE = 45_000           # ResNet paper: 45k/5k train/validation split
KGS_TRAIN_SIZE = 29_400_000         # AlphaGo: 29.4 million positions


@dataclasses.dataclass(frozen=True)
class PaperSettings:
    """One paper's training settings as it states them (before any scaling).

    Attributes:
        paper: reference and section the numbers come from.
        optimizer: :data:`kcnn.optimizers.OPTIMIZERS` name; ``"alexnet_sgd"`` is the
            update rule AlexNet writes out, ``"sgd"`` Caffe's/Torch's SGD solver; both apply
            ``weight_decay`` coupled, inside the momentum (``v <- m v - wd lr w - lr g``).
        learning_rate: initial rate.
        batch_size: minibatch size.
        momentum: SGD momentum (0: plain SGD).
        weight_decay: coupled L2 weight decay ``lambda`` (gradient ``lambda * w``).
        decay_bias: whether biases and BatchNorm gamma/beta are decayed too (kernels always).
        schedule_kind: ``"plateau"``, ``"step"`` (milestones), ``"exponential"`` (a fixed
            factor every few epochs) or ``"halving"``; the kind tuning spaces default to.
        epochs: training length in epochs (None when given in iterations).
        total_steps: training length in iterations at ``batch_size`` (None when in epochs).
        monitor: metric the plateau rule watches (None for fixed schedules).
        patience: epochs without improvement before a plateau reduction (None for fixed
            schedules).
        reductions: most plateau reductions (None for fixed schedules).
        notes: what kcnn chose where the paper is silent, and why.
    """

    paper: str
    optimizer: str
    learning_rate: float
    batch_size: int
    momentum: float
    weight_decay: float
    decay_bias: bool
    schedule_kind: str
    epochs: int | None = None
    total_steps: int | None = None
    monitor: str | None = None
    patience: int | None = None
    reductions: int | None = None
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Preset:
    """Everything a training loop needs to follow one paper's settings, for one run.

    Build it once per run with :func:`preset`, create the optimizer with
    :meth:`make_optimizer` and pass :attr:`callbacks` to ``fit``.

    Attributes:
        name: preset name.
        paper: reference and section the numbers come from.
        optimizer: optimizer name for :func:`kcnn.optimizers.make_optimizer`.
        learning_rate: initial rate (the paper's linearly scaled to ``batch_size``, or the
            ``learning_rate`` argument); the optimizer starts at this float and
            ``callbacks`` drive it.
        batch_size: batch size the numbers are for.
        momentum: SGD momentum (0.0: plain SGD).
        weight_decay: the papers' L2 weight decay ``lambda``, *coupled*: the update adds
            ``lambda * w`` to the gradient inside the momentum (AlexNet's rule
            ``v <- 0.9 v - 0.0005 e w - e g``, ``kcnn.optimizers.AlexNetSGD``), which is
            ``keras.regularizers.L2(lambda / 2)`` on the weights; it is NOT Keras's
            decoupled ``SGD(weight_decay=...)``.
        decay_bias: whether biases and BatchNorm gamma/beta are decayed (kernels always
            are); see ``notes`` for the source.
        schedule_kind: ``"plateau"``, ``"step"``, ``"exponential"`` or ``"halving"`` (the
            names of ``kcnn.tuning``'s schedules).
        schedule: the rate as a ``LearningRateSchedule`` of ``unit`` steps; None when the
            rate depends on validation metrics (plateau presets).
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
        patience: epochs without improvement before a plateau reduction (None for fixed
            schedules).
        notes: choices kcnn made where the paper is silent.
    """

    name: str
    paper: str
    optimizer: str
    learning_rate: float
    batch_size: int
    momentum: float
    weight_decay: float
    decay_bias: bool
    schedule_kind: str
    schedule: Schedule | None
    unit: str
    callbacks: list
    epochs: int | None
    total_steps: int | None
    warmup: float
    paper_learning_rate: float
    paper_batch_size: int
    monitor: str | None
    patience: int | None
    notes: str

    def make_optimizer(self):
        """The paper's optimizer: ``kcnn.optimizers.make_optimizer`` with this preset's
        optimizer, initial rate (a float the callbacks then drive), momentum, coupled
        weight decay and ``decay_bias``."""
        from kcnn.optimizers import make_optimizer

        return make_optimizer(self.optimizer, learning_rate=self.learning_rate,
                              momentum=self.momentum, weight_decay=self.weight_decay,
                              decay_bias=self.decay_bias)

    def l2_regularizer(self):
        """``keras.regularizers.L2(weight_decay / 2)`` (gradient ``weight_decay * w``), or
        None without weight decay: the same decay as a layer regularizer, for optimizers
        that are not built by :meth:`make_optimizer`."""
        return keras.regularizers.L2(self.weight_decay / 2) if self.weight_decay else None

    def to_config(self):
        """A JSON-serializable description (the schedule as a Keras config)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("schedule", "callbacks")}
        out["schedule"] = (None if self.schedule is None
                           else keras.optimizers.schedules.serialize(self.schedule))
        out["callbacks"] = [type(c).__name__ for c in self.callbacks]
        return out


_NO_BIAS_DECAY = ("Biases are not decayed: {}.")
_PATIENCE = ("The papers divided the rate when the validation error stopped improving and "
             "give no patience: kcnn watches val_accuracy (1 - error) and waits 5 epochs.")

PRESETS = {
    "alexnet": PaperSettings(
        paper="Krizhevsky, Sutskever & Hinton 2012, NIPS, section 5",
        optimizer="alexnet_sgd", learning_rate=0.01, batch_size=128, momentum=0.9,
        weight_decay=5e-4, decay_bias=False, schedule_kind="plateau", epochs=90,
        monitor="val_accuracy", patience=5, reductions=3,
        notes=("'roughly 90 cycles', the rate divided by 10 three times. "
               + _PATIENCE + " " + _NO_BIAS_DECAY.format(
                   "the paper's update rule is written for the weights, Krizhevsky's "
                   "cuda-convnet applies its weight cost to weights only, and BVLC Caffe's "
                   "bvlc_alexnet gives biases decay_mult 0"))),
    "vgg": PaperSettings(
        paper="Simonyan & Zisserman 2015, arXiv:1409.1556, section 3.1",
        optimizer="sgd", learning_rate=0.01, batch_size=256, momentum=0.9,
        weight_decay=5e-4, decay_bias=False, schedule_kind="plateau", epochs=74,
        monitor="val_accuracy", patience=5, reductions=3,
        notes=("370K iterations (74 epochs), the rate decreased 3 times. " + _PATIENCE + " "
               + _NO_BIAS_DECAY.format(
                   "the paper ('the L2 penalty multiplier set to 5e-4') does not say; kcnn "
                   "follows the convention of the Caffe toolbox its implementation derives "
                   "from (section 3.3), whose AlexNet and GoogLeNet give biases decay_mult 0"))),
    "googlenet": PaperSettings(
        paper=("Szegedy et al. 2015, arXiv:1409.4842, section 6; rate, batch, decay and "
               "length from BVLC Caffe's bvlc_googlenet solver"),
        optimizer="sgd", learning_rate=0.01, batch_size=32, momentum=0.9,
        weight_decay=2e-4, decay_bias=False, schedule_kind="exponential", epochs=250,
        notes=("The paper states only momentum 0.9 and 'decreasing the learning rate by 4% "
               "every 8 epochs'; the initial rate 0.01, batch 32, weight decay 2e-4 and 250 "
               "epochs (max_iter 10M at batch 32; stepsize 320k iterations = 8 epochs) are "
               "BVLC Caffe's bvlc_googlenet solver.prototxt. " + _NO_BIAS_DECAY.format(
                   "bvlc_googlenet's train_val.prototxt gives every bias decay_mult 0"))),
    "resnet_imagenet": PaperSettings(
        paper="He et al. 2016, arXiv:1512.03385, section 3.4",
        optimizer="sgd", learning_rate=0.1, batch_size=256, momentum=0.9,
        weight_decay=1e-4, decay_bias=False, schedule_kind="plateau", total_steps=600_000,
        monitor="val_accuracy", patience=5, reductions=3,
        notes=("60e4 iterations at batch 256 (about 120 epochs). The paper gives neither "
               "patience nor number of reductions: kcnn watches val_accuracy, waits 5 epochs "
               "and reduces at most 3 times. Neither biases (only the classifier has one) "
               "nor BatchNorm gamma/beta are decayed, as in Goyal et al. 2017 (section 5.1), "
               "who reproduce this training from the same group; fb.resnet.torch and "
               "torchvision's reference scripts decay every parameter (decay_bias=True).")),
    "resnet_cifar": PaperSettings(
        paper="He et al. 2016, arXiv:1512.03385, section 4.2",
        optimizer="sgd", learning_rate=0.1, batch_size=128, momentum=0.9,
        weight_decay=1e-4, decay_bias=False, schedule_kind="step", total_steps=64_000,
        notes=("45k/5k train/validation split; /10 at 32k and 48k iterations, stop at 64k "
               "(about 182 epochs). BatchNorm gamma/beta and the classifier's bias are not "
               "decayed, as for ImageNet (Goyal et al. 2017, section 5.1).")),
    "resnet110_cifar": PaperSettings(
        paper="He et al. 2016, arXiv:1512.03385, section 4.2",
        optimizer="sgd", learning_rate=0.1, batch_size=128, momentum=0.9,
        weight_decay=1e-4, decay_bias=False, schedule_kind="step", total_steps=64_000,
        notes=("As resnet_cifar, after a warmup at 0.01 'until the training error is below "
               "80% (about 400 iterations)': kcnn uses 400 iterations. BatchNorm gamma/beta "
               "and the classifier's bias are not decayed (Goyal et al. 2017, section 5.1).")),
    "alphago": PaperSettings(
        paper="Silver et al. 2016, Nature 529, Methods (supervised policy network)",
        optimizer="sgd", learning_rate=0.003, batch_size=16, momentum=0.0,
        weight_decay=0.0, decay_bias=False, schedule_kind="halving",
        total_steps=340_000_000,
        notes=("Plain SGD (no momentum, no weight decay) on 29.4M KGS positions with all 8 "
               "symmetries, the rate halved every 80M steps, 340M steps; 'training steps' "
               "are taken as minibatch updates.")),
}


def list_presets():
    """Names accepted by :func:`preset`."""
    return tuple(PRESETS)


def preset(name, *, steps_per_epoch=None, batch_size=None, learning_rate=None,
           warmup_epochs=None, weight_decay=None, monitor=None, patience=None,
           state_path=None, write_state=True):
    """The paper's optimizer settings and rate schedule for ``name``.

    ======================  =====================================================================
    name                    rate schedule (paper batch size, momentum, coupled weight decay)
    ======================  =====================================================================
    ``"alexnet"``           0.01, divided by 10 when ``monitor`` plateaus, 3 times; 90 epochs
                            (batch 128, momentum 0.9, 5e-4, AlexNetSGD's rule)
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

    Weight decay is coupled everywhere (inside the momentum) and applied to kernels only:
    biases and BatchNorm gamma/beta are not decayed (``decay_bias=False``; each preset's
    ``notes`` gives the source). The numbers live in :data:`PRESETS`.

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
        weight_decay: coupled weight decay replacing the paper's.
        monitor: metric the plateau presets watch; None for the paper's criterion,
            ``"val_accuracy"`` (1 - validation error; needs an ``"accuracy"`` metric and
            validation data).
        patience: epochs without improvement before a plateau reduction; None for the
            preset's (5).
        state_path: JSON file where the callbacks keep their state for resuming.
        write_state: whether these callbacks write ``state_path`` (False on every worker of
            a multi-worker run but the chief: they read the chief's).

    Returns:
        A :class:`Preset`.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in PRESETS:
        close = difflib.get_close_matches(str(name), PRESETS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown preset. Expected one of {', '.join(map(repr, PRESETS))}."
                         f"{hint} Received: name={name!r}")
    paper = PRESETS[key]
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    paper_batch = paper.batch_size
    batch = paper_batch if batch_size is None else check_int("batch_size", batch_size)
    if warmup_epochs is None:
        warmup_epochs = 5 if batch > paper_batch else 0
    warmup_epochs = check_float("warmup_epochs", warmup_epochs, minimum=0.0)
    decay = paper.weight_decay if weight_decay is None else check_float(
        "weight_decay", weight_decay, minimum=0.0)
    plateau = paper.schedule_kind == "plateau"
    if monitor is None:
        monitor = paper.monitor
    elif not isinstance(monitor, str) or not monitor:
        raise TypeError(f"`monitor` must be a metric name. Received: monitor={monitor!r}")
    if patience is None:
        patience = paper.patience
    else:
        patience = check_int("patience", patience, minimum=1)
    ratio = batch / paper_batch
    paper_lr = paper.learning_rate
    if learning_rate is None:
        lr = paper_lr * ratio
    else:
        lr = check_float("learning_rate", learning_rate, minimum=0.0, min_inclusive=False)
    start = lr / ratio      # Goyal et al.'s warmup starts from the rate for the paper's batch

    def iterations(n):  # an iteration count of the paper, at the new batch size
        return max(1, round(n / ratio))

    common = dict(name=key, paper=paper.paper, optimizer=paper.optimizer, learning_rate=lr,
                  batch_size=batch, momentum=paper.momentum, weight_decay=decay,
                  decay_bias=paper.decay_bias, schedule_kind=paper.schedule_kind,
                  paper_learning_rate=paper_lr, paper_batch_size=paper_batch,
                  monitor=monitor if plateau else None,
                  patience=patience if plateau else None, notes=paper.notes)

    if plateau:
        unit = "step" if steps_per_epoch else "epoch"
        per_epoch = steps_per_epoch or 1
        warmup = warmup_epochs * per_epoch
        base = lr if not warmup else Warmup(lr, warmup, start_learning_rate=start)
        epochs = paper.epochs
        total = epochs * steps_per_epoch if epochs and steps_per_epoch else None
        if paper.total_steps:
            total = iterations(paper.total_steps)
            epochs = math.ceil(total * batch / IMAGENET_TRAIN_SIZE)
        callback = ReduceOnPlateau(base, monitor=monitor, factor=0.1, patience=patience,
                                   max_reductions=paper.reductions, unit=unit,
                                   update="batch" if warmup else "epoch",
                                   state_path=state_path, write_state=write_state)
        return Preset(schedule=None, unit=unit, callbacks=[callback], epochs=epochs,
                      total_steps=total, warmup=warmup, **common)

    if paper.schedule_kind == "exponential":  # GoogLeNet: 4% every 8 epochs
        unit = "step" if steps_per_epoch else "epoch"
        per_epoch = steps_per_epoch or 1
        schedule = StepDecay(lr, 8 * per_epoch, factor=0.96)
        warmup = warmup_epochs * per_epoch
        if warmup:
            schedule = Warmup(schedule, warmup, start_learning_rate=start)
        callback = ScheduleCallback(schedule, unit=unit,
                                    update="batch" if warmup or unit == "step" else "epoch",
                                    state_path=state_path, write_state=write_state)
        return Preset(schedule=schedule, unit=unit, callbacks=[callback], epochs=paper.epochs,
                      total_steps=paper.epochs * steps_per_epoch if steps_per_epoch else None,
                      warmup=warmup, **common)

    if paper.schedule_kind == "step":  # ResNet on CIFAR-10
        per_epoch = steps_per_epoch or math.ceil(CIFAR_TRAIN_SIZE / batch)
        schedule = MultiStepDecay(lr, [iterations(32_000), iterations(48_000)], factor=0.1)
        total = iterations(paper.total_steps)
        if key == "resnet110_cifar":
            warmup = iterations(400)
            schedule = Warmup(schedule, warmup, start_learning_rate=lr / 10,
                              kind="constant")
        else:
            warmup = warmup_epochs * per_epoch
            if warmup:
                schedule = Warmup(schedule, warmup, start_learning_rate=start)
        callback = ScheduleCallback(schedule, unit="step", state_path=state_path,
                                write_state=write_state)
        return Preset(schedule=schedule, unit="step", callbacks=[callback],
                      epochs=math.ceil(total / per_epoch), total_steps=total, warmup=warmup,
                      **common)

    # halving: AlphaGo
    per_epoch = steps_per_epoch or math.ceil(KGS_TRAIN_SIZE / batch)
    schedule = StepDecay(lr, iterations(80_000_000), factor=0.5)
    warmup = warmup_epochs * per_epoch
    if warmup:
        schedule = Warmup(schedule, warmup, start_learning_rate=start)
    callback = ScheduleCallback(schedule, unit="step", state_path=state_path,
                                write_state=write_state)
    return Preset(schedule=schedule, unit="step", callbacks=[callback], epochs=None,
                  total_steps=iterations(paper.total_steps), warmup=warmup, **common)
