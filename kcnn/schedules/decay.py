"""Learning-rate schedules the classic papers used, as Keras ``LearningRateSchedule`` objects.

Each schedule maps a step (an optimizer iteration, or an epoch when a callback drives it with
``unit="epoch"``) to a rate, is written with ``keras.ops`` so it runs inside a compiled train
step, and is registered with ``keras.saving.register_keras_serializable(package="kcnn")`` so a
model compiled with it reloads from ``.keras`` files. Keras's own schedules
(``PolynomialDecay``, ``CosineDecay``, ``CosineDecayRestarts``, ``ExponentialDecay``,
``PiecewiseConstantDecay``) are re-exported from :mod:`kcnn.schedules` and compose with the
ones here.

Boundaries of the step schedules use integer arithmetic when the step is an integer, so
"halve every 80 million steps" changes the rate at exactly step 80,000,000 (a float32 step
cannot represent every integer above 2**24).
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from kcnn._checks import check_choice, check_float, check_int

__all__ = ["StepDecay", "MultiStepDecay", "OneCycle", "Warmup", "scale_learning_rate",
           "WARMUP_KINDS"]

WARMUP_KINDS = ("linear", "constant", "exponential", "cosine")
Schedule = keras.optimizers.schedules.LearningRateSchedule


def _is_integer_dtype(x):
    return "int" in keras.backend.standardize_dtype(x.dtype)


def _int_dtype():
    """int64, or int32 on JAX without ``jax_enable_x64`` (which has no 64-bit integers:
    steps up to 2**31 - 1)."""
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            return "int32"
    return "int64"


def _step_tensor(step):
    step = ops.convert_to_tensor(step)
    if _is_integer_dtype(step):
        return ops.cast(step, _int_dtype())
    return ops.cast(step, "float32")


def _check_schedule(name, value):
    """A float rate or a LearningRateSchedule; returns it unchanged."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float or a "
                        f"keras.optimizers.schedules.LearningRateSchedule. "
                        f"Received: {name}={value!r}")
    return check_float(name, value, minimum=0.0)


def _evaluate(schedule, step):
    """``schedule(step)`` as a float32 tensor; a float schedule is a constant."""
    if isinstance(schedule, Schedule):
        return ops.cast(schedule(step), "float32")
    return ops.convert_to_tensor(schedule, "float32")


def _serialize(schedule):
    if isinstance(schedule, Schedule):
        return keras.optimizers.schedules.serialize(schedule)
    return schedule


def _deserialize(config):
    if isinstance(config, dict):
        return keras.optimizers.schedules.deserialize(config)
    return config


@keras.saving.register_keras_serializable(package="kcnn")
class StepDecay(Schedule):
    """Multiplies the rate by ``factor`` every ``step_size`` steps (staircase decay).

    ``rate(step) = initial_learning_rate * factor ** floor(step / step_size)``. The papers'
    fixed schedules are step decays:

    - GoogLeNet (Szegedy et al. 2015, section 6): "decreasing the learning rate by 4% every
      8 epochs": ``StepDecay(0.01, 8, factor=0.96)`` stepped per epoch, or
      ``StepDecay(0.01, 8 * steps_per_epoch, factor=0.96)`` per iteration.
    - AlphaGo's policy network (Silver et al. 2016, Methods): "initialized to 0.003 and halved
      every 80 million training steps": ``StepDecay(0.003, 80_000_000, factor=0.5)``.

    This is ``keras.optimizers.schedules.ExponentialDecay(..., staircase=True)`` with the
    papers' vocabulary and exact integer boundaries.

    Args:
        initial_learning_rate: rate for steps ``0 .. step_size - 1``.
        step_size: steps between two decays (positive integer).
        factor: multiplier applied at each boundary, in (0, 1].
        name: name scope of the ops.
    """

    def __init__(self, initial_learning_rate, step_size, factor=0.1, name="StepDecay"):
        super().__init__()
        self.initial_learning_rate = check_float("initial_learning_rate",
                                                 initial_learning_rate, minimum=0.0)
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.factor = check_float("factor", factor, minimum=0.0, maximum=1.0,
                                  min_inclusive=False)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _step_tensor(step)
            if _is_integer_dtype(step):
                exponent = ops.cast(ops.floor_divide(step, self.step_size), "float32")
            else:
                exponent = ops.floor(step / float(self.step_size))
            exponent = ops.maximum(exponent, 0.0)
            return self.initial_learning_rate * ops.power(self.factor, exponent)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "step_size": self.step_size, "factor": self.factor, "name": self.name}


@keras.saving.register_keras_serializable(package="kcnn")
class MultiStepDecay(Schedule):
    """Multiplies the rate by ``factor`` at each of the given steps (milestones).

    ``rate(step) = initial_learning_rate * factor ** (number of milestones <= step)``: the
    first ``milestones[0]`` steps use the initial rate and step ``milestones[0]`` already
    uses the decayed one (the convention of Caffe's "multistep" policy and PyTorch's
    ``MultiStepLR``). ResNet on CIFAR-10 (He et al. 2016, section 4.2): "start with a
    learning rate of 0.1, divide it by 10 at 32k and 48k iterations":
    ``MultiStepDecay(0.1, [32000, 48000])``.

    Args:
        initial_learning_rate: rate before the first milestone.
        milestones: strictly increasing non-negative integers.
        factor: multiplier applied at each milestone, in (0, 1].
        name: name scope of the ops.
    """

    def __init__(self, initial_learning_rate, milestones, factor=0.1, name="MultiStepDecay"):
        super().__init__()
        self.initial_learning_rate = check_float("initial_learning_rate",
                                                 initial_learning_rate, minimum=0.0)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError("`milestones` must be a sequence of integers. "
                            f"Received: milestones={milestones!r}")
        milestones = [check_int("milestones", m, minimum=0) for m in milestones]
        if not milestones or any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError("`milestones` must be a non-empty, strictly increasing sequence. "
                             f"Received: milestones={milestones!r}")
        self.milestones = milestones
        self.factor = check_float("factor", factor, minimum=0.0, maximum=1.0,
                                  min_inclusive=False)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _step_tensor(step)
            dtype = step.dtype if _is_integer_dtype(step) else "float32"
            # elementwise in the step: a vector of steps gives a vector of rates
            passed = ops.cast(ops.greater_equal(ops.expand_dims(step, -1), ops.convert_to_tensor(
                self.milestones, dtype)), "float32")
            return self.initial_learning_rate * ops.power(self.factor,
                                                          ops.sum(passed, axis=-1))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "milestones": list(self.milestones), "factor": self.factor,
                "name": self.name}


@keras.saving.register_keras_serializable(package="kcnn")
class OneCycle(Schedule):
    """The one-cycle policy (Smith & Topin 2019, arXiv:1708.07120), as PyTorch's ``OneCycleLR``.

    The rate rises from ``maximal_learning_rate / div_factor`` to ``maximal_learning_rate``
    over the first ``pct_start * total_steps - 1`` steps, then anneals to
    ``initial / final_div_factor`` at step ``total_steps - 1`` (and stays there). With
    ``three_phase=True`` the second phase returns symmetrically to the initial rate and a
    third phase anneals to the minimum. ``anneal="cos"`` interpolates with
    ``end + (start - end) * (1 + cos(pi * t)) / 2``, ``"linear"`` linearly, where ``t`` is
    the fraction of the phase done. Momentum is not cycled.

    Args:
        maximal_learning_rate: peak rate.
        total_steps: length of the cycle in steps (at least 2).
        pct_start: fraction of the cycle spent increasing the rate, in (0, 1).
        div_factor: initial rate is ``maximal_learning_rate / div_factor``.
        final_div_factor: final rate is ``initial rate / final_div_factor``.
        anneal: ``"cos"`` or ``"linear"``.
        three_phase: use the three-phase variant described above.
        name: name scope of the ops.
    """

    def __init__(self, maximal_learning_rate, total_steps, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4, anneal="cos", three_phase=False, name="OneCycle"):
        super().__init__()
        self.maximal_learning_rate = check_float("maximal_learning_rate",
                                                 maximal_learning_rate, minimum=0.0,
                                                 min_inclusive=False)
        self.total_steps = check_int("total_steps", total_steps, minimum=2)
        self.pct_start = check_float("pct_start", pct_start, minimum=0.0, maximum=1.0,
                                     min_inclusive=False, max_inclusive=False)
        self.div_factor = check_float("div_factor", div_factor, minimum=0.0,
                                      min_inclusive=False)
        self.final_div_factor = check_float("final_div_factor", final_div_factor,
                                            minimum=0.0, min_inclusive=False)
        self.anneal = check_choice("anneal", anneal, ("cos", "linear"))
        if not isinstance(three_phase, bool):
            raise TypeError(f"`three_phase` must be True or False. "
                            f"Received: three_phase={three_phase!r}")
        self.three_phase = three_phase
        self.name = name
        peak = float(self.pct_start * self.total_steps) - 1.0
        last = float(self.total_steps - 1)
        if peak <= 0.0 or (three_phase and 2 * peak >= last) or peak >= last:
            raise ValueError("`pct_start * total_steps` must leave at least one step in each "
                             f"phase. Received: pct_start={pct_start!r}, "
                             f"total_steps={total_steps!r}")

    def _phases(self):
        initial = self.maximal_learning_rate / self.div_factor
        minimum = initial / self.final_div_factor
        peak = float(self.pct_start * self.total_steps) - 1.0
        last = float(self.total_steps - 1)
        if self.three_phase:
            return [(peak, initial, self.maximal_learning_rate),
                    (2 * peak, self.maximal_learning_rate, initial),
                    (last, initial, minimum)]
        return [(peak, initial, self.maximal_learning_rate),
                (last, self.maximal_learning_rate, minimum)]

    def _interpolate(self, start, end, fraction):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (1.0 + ops.cos(math.pi * fraction))
        return start + (end - start) * fraction

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.cast(_step_tensor(step), "float32")
            phases = self._phases()
            result = ops.convert_to_tensor(phases[-1][2], "float32")
            begin = 0.0
            values = []
            for end_step, start, end in phases:
                fraction = ops.clip((step - begin) / (end_step - begin), 0.0, 1.0)
                values.append((end_step, self._interpolate(start, end, fraction)))
                begin = end_step
            # Select the phase the step falls in, from the last to the first.
            for end_step, value in reversed(values):
                result = ops.where(step <= end_step, value, result)
            return ops.cast(result, "float32")

    def get_config(self):
        return {"maximal_learning_rate": self.maximal_learning_rate,
                "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor,
                "anneal": self.anneal, "three_phase": self.three_phase, "name": self.name}


@keras.saving.register_keras_serializable(package="kcnn")
class Warmup(Schedule):
    """Warms the rate up over the first ``warmup_steps`` steps, then follows ``schedule``.

    For ``step < warmup_steps`` the rate goes from ``start_learning_rate`` towards the
    target ``T = schedule(warmup_steps)`` (``schedule(0)`` when ``offset``); let
    ``t = step / warmup_steps``:

    - ``"linear"``: ``start + (T - start) * t`` (Goyal et al. 2017, arXiv:1706.02677,
      "gradual warmup": from the base rate to ``k`` times it over 5 epochs);
    - ``"constant"``: ``start`` (He et al. 2016: ResNet-110 on CIFAR-10 trains at 0.01 for
      about 400 iterations before returning to 0.1; Goyal et al.'s "constant warmup");
    - ``"exponential"``: ``start * (T / start) ** t`` (needs ``start > 0``);
    - ``"cosine"``: ``start + (T - start) * (1 - cos(pi * t)) / 2``.

    From ``warmup_steps`` on the rate is ``schedule(step)``, or
    ``schedule(step - warmup_steps)`` when ``offset=True`` (the decay starts after the
    warmup instead of counting it). ``schedule`` may be any ``LearningRateSchedule`` or a
    float (a constant rate); wrapped in :class:`kcnn.schedules.ReduceOnPlateau`, a warmup
    also delays the plateau monitoring until it is over.

    Args:
        schedule: float or LearningRateSchedule followed after the warmup.
        warmup_steps: length of the warmup in steps (epochs when stepped per epoch).
        start_learning_rate: rate at step 0.
        kind: one of ``"linear"``, ``"constant"``, ``"exponential"``, ``"cosine"``.
        offset: shift ``schedule`` by ``warmup_steps``.
        name: name scope of the ops.
    """

    def __init__(self, schedule, warmup_steps, start_learning_rate=0.0, kind="linear",
                 offset=False, name="Warmup"):
        super().__init__()
        self.schedule = _check_schedule("schedule", schedule)
        self.warmup_steps = check_float("warmup_steps", warmup_steps, minimum=0.0,
                                        min_inclusive=False)
        if float(warmup_steps).is_integer():
            self.warmup_steps = int(warmup_steps)
        self.start_learning_rate = check_float("start_learning_rate", start_learning_rate,
                                               minimum=0.0)
        self.kind = check_choice("kind", kind, WARMUP_KINDS)
        if kind == "exponential" and self.start_learning_rate <= 0.0:
            raise ValueError("`start_learning_rate` must be > 0 for an exponential warmup. "
                             f"Received: start_learning_rate={start_learning_rate!r}")
        if not isinstance(offset, bool):
            raise TypeError(f"`offset` must be True or False. Received: offset={offset!r}")
        self.offset = offset
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _step_tensor(step)
            if not isinstance(self.warmup_steps, int):
                step = ops.cast(step, "float32")     # a fractional warmup length
            fstep = ops.cast(step, "float32")
            if self.offset:
                shifted = ops.maximum(step - ops.cast(self.warmup_steps, step.dtype), 0)
                after = _evaluate(self.schedule, shifted)
                target = _evaluate(self.schedule, ops.cast(0, step.dtype))
            else:
                after = _evaluate(self.schedule, step)
                target = _evaluate(self.schedule,
                                   ops.cast(self.warmup_steps, step.dtype))
            start = self.start_learning_rate
            t = ops.clip(fstep / float(self.warmup_steps), 0.0, 1.0)
            if self.kind == "linear":
                warm = start + (target - start) * t
            elif self.kind == "constant":
                warm = ops.convert_to_tensor(start, "float32")
            elif self.kind == "exponential":
                warm = start * ops.power(target / start, t)
            else:
                warm = start + (target - start) * (1.0 - ops.cos(math.pi * t)) / 2.0
            return ops.where(fstep < float(self.warmup_steps), warm, after)

    def get_config(self):
        return {"schedule": _serialize(self.schedule), "warmup_steps": self.warmup_steps,
                "start_learning_rate": self.start_learning_rate, "kind": self.kind,
                "offset": self.offset, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = _deserialize(config["schedule"])
        return cls(**config)


def scale_learning_rate(learning_rate, batch_size, *, base_batch_size=256):
    """The linear scaling rule (Goyal et al. 2017, arXiv:1706.02677, section 2.1).

    "When the minibatch size is multiplied by k, multiply the learning rate by k":
    ``learning_rate * batch_size / base_batch_size`` (ResNet-50: 0.1 for 256 images, so
    3.2 for 8192). Goyal et al. pair it with a gradual warmup of 5 epochs from the unscaled
    rate, e.g. ``Warmup(schedule, 5 * steps_per_epoch, start_learning_rate=0.1)``;
    :func:`kcnn.schedules.preset` does both when given a larger ``batch_size``.

    Args:
        learning_rate: rate tuned for ``base_batch_size``.
        batch_size: the (global) batch size actually used.
        base_batch_size: batch size ``learning_rate`` was tuned for.

    Returns:
        The scaled rate as a float.
    """
    learning_rate = check_float("learning_rate", learning_rate, minimum=0.0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    base_batch_size = check_int("base_batch_size", base_batch_size, minimum=1)
    return learning_rate * batch_size / base_batch_size
