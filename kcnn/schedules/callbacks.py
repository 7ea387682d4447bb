"""Callbacks that drive, reduce and log the learning rate, and resume where they stopped.

Keras 3's ``LearningRateScheduler`` and ``ReduceLROnPlateau`` raise ``TypeError`` when the
optimizer's rate is a schedule object, record nothing when a schedule drives the optimizer,
and lose their counters when ``keras.callbacks.BackupAndRestore`` restarts a run. The
callbacks here:

- compute the rate from the **epoch and batch index** Keras passes to the hooks (never from
  ``optimizer.iterations``, which a partial weight reload can reset), so a restarted run
  continues the schedule exactly where the restored epoch begins;
- keep what cannot be derived from the position (plateau counters, reductions done, batch
  counts when the epoch length is unknown) per finished epoch, in memory and, with
  ``state_path``, in a JSON file rewritten atomically at every epoch end. A run resuming at
  epoch ``e`` uses the state saved after epoch ``e - 1``, whichever order the callbacks run
  in; epoch 0 always starts afresh;
- write the rate of the epoch's last batch to ``logs["learning_rate"]`` at every epoch end,
  so ``History``, ``CSVLogger`` and ``TensorBoard`` record it (put them after these
  callbacks in the ``callbacks`` list: Keras calls callbacks in list order, and ``History``
  always comes last);
- work in a custom training loop (for example one run through ``strategy.run`` for
  multi-worker training) without the Keras hooks: ask ``learning_rate_at(epoch, batch)``
  before each step, assign it to the optimizer, and call ``on_epoch_end(epoch, logs)`` with
  the epoch's metrics.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import warnings

import keras
import numpy as np

from kcnn._checks import check_bool, check_choice, check_float, check_int
from kcnn.schedules.decay import Schedule, Warmup, _check_schedule

__all__ = ["LearningRateCallback", "ScheduleCallback", "ReduceOnPlateau",
           "LearningRateLogger", "LOG_KEY"]

LOG_KEY = "learning_rate"
UNITS = ("step", "epoch")
UPDATES = ("batch", "epoch")
_STATE_FORMAT = 1
_BLOCK = 512      # batches whose rates are computed together
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou", "top_k", "top1", "top5")
_MINIMIZED = ("loss", "error", "mse", "mae", "crossentropy", "hinge")


def _inner_optimizer(optimizer):
    """The optimizer holding the rate (a LossScaleOptimizer forwards to its inner one)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _to_float(value):
    return float(keras.ops.convert_to_numpy(value))


def _batched_schedule(schedule, dtype):
    """``positions -> [rate, ...]`` evaluating a ``LearningRateSchedule`` for many steps
    in one compiled call on the current Keras backend.

    TensorFlow maps the schedule over the steps inside one ``tf.function``; JAX vectorizes
    it with ``jax.vmap`` under ``jax.jit`` (``ops.cond`` becomes a select); other backends
    call the schedule on the whole vector of steps when it is elementwise (checked against
    single-step calls at both ends) and step by step otherwise.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def rates(steps):
            return tf.map_fn(lambda step: tf.cast(schedule(step), tf.float32), steps,
                             fn_output_signature=tf.float32)

        # Every callback traces its own function once; TensorFlow's warning about
        # functions traced "in a loop" would misread many callbacks as retracing.
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            fn = tf.function(rates, autograph=False).get_concrete_function(
                tf.TensorSpec([None], dtype))
        finally:
            logger.setLevel(level)
        return lambda positions: [float(r) for r in fn(tf.constant(positions, dtype)).numpy()]
    if backend == "jax":
        import jax

        fn = jax.jit(jax.vmap(lambda step: keras.ops.cast(schedule(step), "float32")))
        # without jax_enable_x64 JAX holds integers in int32 (steps up to 2**31 - 1)
        np_dtype = dtype if jax.config.jax_enable_x64 or dtype != "int64" else "int32"
        return lambda positions: [float(r) for r in np.asarray(
            fn(np.asarray(positions, np_dtype)))]

    def one(step):
        return _to_float(schedule(keras.ops.convert_to_tensor(step, dtype)))

    vectorized = [True]

    def rates(positions):
        if vectorized[0] and len(positions) > 1:
            try:
                out = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(
                    schedule(keras.ops.convert_to_tensor(np.asarray(positions), dtype)),
                    "float32")), dtype=np.float64)
            except Exception:   # a schedule with Python control flow on the step
                out = None
            if (out is not None and out.shape == (len(positions),)
                    and np.allclose(out[[0, -1]], [one(positions[0]), one(positions[-1])],
                                    rtol=1e-6, atol=0.0)):
                return [float(r) for r in out]
            vectorized[0] = False
        return [one(p) for p in positions]

    return rates


class LearningRateCallback(keras.callbacks.Callback):
    """Base class: sets the optimizer's rate from ``(epoch, batch)`` and logs it.

    Subclasses define the rate with :meth:`learning_rate_at` and may keep per-epoch state
    (see the module docstring). Not used directly.

    Args:
        schedule: float, ``LearningRateSchedule`` or callable ``step -> rate``.
        unit: what the schedule's step counts: ``"step"`` (optimizer iterations: step
            ``epoch * steps_per_epoch + batch``) or ``"epoch"`` (epochs; the fraction
            ``batch / steps_per_epoch`` is added when updating per batch).
        update: ``"batch"`` sets the rate before every batch, ``"epoch"`` once at the
            start of every epoch.
        steps_per_epoch: batches per epoch; by default ``fit``'s ``steps`` parameter, or
            counted while training when the dataset size is unknown.
        state_path: JSON file keeping the per-epoch state for resuming; None keeps it in
            memory only.
        write_state: whether this process writes ``state_path`` (set False on every
            worker but the chief in multi-worker training; all workers read it).
        verbose: 1 prints the rate when it changes at an epoch start.
    """

    # The batch-end hook only counts batches, so Keras may run it in its background thread
    # instead of waiting for every step's logs.
    async_safe = True

    def __init__(self, schedule, *, unit="step", update="batch", steps_per_epoch=None,
                 state_path=None, write_state=True, verbose=0):
        super().__init__()
        if not (isinstance(schedule, (Schedule, numbers.Real)) or callable(schedule)):
            raise TypeError("`schedule` must be a float, a LearningRateSchedule or a "
                            f"callable step -> rate. Received: schedule={schedule!r}")
        if not callable(schedule):
            schedule = _check_schedule("schedule", schedule)
        self.schedule = schedule
        self.unit = check_choice("unit", unit, UNITS)
        self.update = check_choice("update", update, UPDATES)
        if steps_per_epoch is not None:
            steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        self._steps_per_epoch = steps_per_epoch
        if state_path is not None and not isinstance(state_path, (str, os.PathLike)):
            raise TypeError("`state_path` must be a path or None. "
                            f"Received: state_path={state_path!r}")
        self.state_path = None if state_path is None else os.fspath(state_path)
        self.write_state = check_bool("write_state", write_state)
        self.verbose = check_int("verbose", verbose, minimum=0)
        self._states = {}        # finished epoch -> state dict
        self._loaded = False
        self._warned = set()
        self._epoch = 0
        self._batches_seen = 0
        self._last_applied = None    # (epoch, rate) set by the hooks
        self._applied_value = None   # value last assigned to the optimizer
        self._block = {}             # (epoch, batch) -> rate, for a block of batches
        self._compiled = {}

    # === Positions ===

    @property
    def steps_per_epoch(self):
        """Batches per epoch: the argument, else ``fit``'s ``steps`` parameter, else None."""
        if self._steps_per_epoch is not None:
            return self._steps_per_epoch
        steps = (getattr(self, "params", None) or {}).get("steps")
        return int(steps) if steps else None

    def position(self, epoch, batch=0):
        """The schedule's step for batch ``batch`` of epoch ``epoch`` (both 0-based)."""
        epoch = check_int("epoch", epoch, minimum=0)
        batch = check_int("batch", batch, minimum=0)
        spe = self.steps_per_epoch
        if self.unit == "epoch":
            if self.update == "batch" and batch:
                if spe is None:
                    spe = self.state_at(epoch - 1).get("last_epoch_steps")
                return epoch + batch / spe if spe else epoch
            return epoch
        if spe is not None:
            return epoch * spe + batch
        return self.state_at(epoch - 1)["steps"] + batch

    def _base_rate_at(self, epoch, batch):
        """The schedule's rate at ``(epoch, batch)`` before any reduction.

        Rates are computed for a block of consecutive batches in one traced call (about
        0.3 ms), not batch by batch: running a schedule's ops eagerly costs several
        milliseconds, too much to pay before every step."""
        rate = self._block.get((epoch, batch))
        if rate is not None:
            return rate
        if self.update == "epoch":
            batches = [batch]
        else:
            spe = self.steps_per_epoch
            end = batch + _BLOCK if spe is None else max(batch + 1, min(batch + _BLOCK, spe))
            batches = range(batch, end)
        rates = self._evaluate([self.position(epoch, b) for b in batches])
        self._block = {(epoch, b): r for b, r in zip(batches, rates)}
        return rates[0]

    def _evaluate(self, positions):
        schedule = self.schedule
        if isinstance(schedule, Schedule):
            integral = all(isinstance(p, numbers.Integral) for p in positions)
            dtype = "int64" if integral else "float32"
            fn = self._compiled.get(dtype)
            if fn is None:
                fn = self._compiled[dtype] = _batched_schedule(schedule, dtype)
            return fn(positions)
        if callable(schedule):
            return [_to_float(schedule(p)) for p in positions]
        return [float(schedule)] * len(positions)

    def learning_rate_at(self, epoch, batch=0):
        """The rate for batch ``batch`` of epoch ``epoch``, given the state saved after
        epoch ``epoch - 1``. Custom training loops call this before every step."""
        return self._base_rate_at(epoch, batch)

    # === State kept per finished epoch ===

    def _initial_state(self):
        return {"steps": 0}

    def _needs_state(self):
        """Whether resuming needs the saved state (not derivable from the position)."""
        return self.unit == "step" and self.steps_per_epoch is None

    def _next_state(self, epoch, state, logs, batches):
        """The state after ``epoch`` given the state before it; subclasses extend."""
        return state

    def _fingerprint(self):
        return {"class": type(self).__name__, "unit": self.unit}

    def state_at(self, epoch):
        """The state saved after ``epoch`` finished (the initial state for ``epoch < 0``)."""
        if epoch < 0:
            return self._initial_state()
        self._load()
        done = [e for e in self._states if e <= epoch]
        if not done:
            self._warn_missing(epoch)
            return self._initial_state()
        last = max(done)
        if last != epoch:
            self._warn_missing(epoch)
        return dict(self._states[last])

    def _warn_missing(self, epoch):
        if not self._needs_state() or epoch in self._warned:
            return
        self._warned.add(epoch)
        where = (f"in {self.state_path!r}" if self.state_path
                 else "(pass `state_path` to keep it across restarts)")
        warnings.warn(f"{type(self).__name__}: training continues after epoch {epoch} but "
                      f"no state was saved for that epoch {where}; using the latest state "
                      "before it.", stacklevel=3)

    def _load(self):
        if self._loaded:
            return
        self._loaded = True
        if not self.state_path or not os.path.exists(self.state_path):
            return
        with open(self.state_path) as f:
            saved = json.load(f)
        if saved.get("fingerprint") != self._fingerprint():
            warnings.warn(f"{type(self).__name__}: {self.state_path!r} was written with "
                          f"other settings ({saved.get('fingerprint')}); its counters are "
                          "used anyway.", stacklevel=3)
        for epoch, state in saved.get("epochs", {}).items():
            self._states.setdefault(int(epoch), state)

    def _save(self):
        if not (self.state_path and self.write_state):
            return
        directory = os.path.dirname(os.path.abspath(self.state_path))
        os.makedirs(directory, exist_ok=True)
        payload = {"format": _STATE_FORMAT, "fingerprint": self._fingerprint(),
                   "epochs": {str(e): s for e, s in sorted(self._states.items())}}
        from kcnn._io import atomic_json

        atomic_json(self.state_path, payload, indent=1)  # temporary file, fsync, rename

    # === Applying the rate ===

    def _apply(self, epoch, rate):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise ValueError(f"{type(self).__name__} needs a compiled model: "
                             "`model.optimizer` is None.")
        self._last_applied = (epoch, rate)
        if self._applied_value == rate:
            return
        try:
            optimizer.learning_rate = rate
        except TypeError as e:
            raise TypeError(
                f"{type(self).__name__} sets the optimizer's learning rate, but this "
                "optimizer was created with a LearningRateSchedule object as its "
                "`learning_rate`. Create it with a float rate and give the schedule to the "
                "callback, or keep the schedule in the optimizer and use "
                "kcnn.schedules.LearningRateLogger() to log the rate.") from e
        self._applied_value = rate

    # === Keras hooks ===

    def on_train_begin(self, logs=None):
        self._applied_value = None
        self._last_applied = None
        self._block = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batches_seen = 0
        self._applied_value = None   # a weight reload may have changed the variable
        if self.update == "epoch":
            rate = self.learning_rate_at(epoch, 0)
            if self.verbose and (self._last_applied is None or self._last_applied[1] != rate):
                print(
                    f"\nEpoch {epoch + 1}: {type(self).__name__} sets the learning rate "
                    f"to {rate:.6g}.")
            self._apply(epoch, rate)

    def on_train_batch_begin(self, batch, logs=None):
        if self.update == "batch":
            self._apply(self._epoch, self.learning_rate_at(self._epoch, batch))

    def on_train_batch_end(self, batch, logs=None):
        self._batches_seen = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        """Logs the epoch's last rate into ``logs`` and saves the state after ``epoch``.

        Custom loops call it with the epoch's metrics (the monitored one included)."""
        previous = self.state_at(epoch - 1)
        if self._epoch == epoch and self._batches_seen:
            batches = self._batches_seen
        elif self.steps_per_epoch is not None:
            batches = self.steps_per_epoch
        elif self.unit == "step" or self.update == "batch":
            raise ValueError(f"{type(self).__name__} cannot tell how many batches epoch "
                             f"{epoch} had: pass `steps_per_epoch` when driving it from a "
                             "custom training loop. Received: steps_per_epoch=None")
        else:
            batches = 1
        if self._last_applied is not None and self._last_applied[0] == epoch:
            rate = self._last_applied[1]
        else:
            last_batch = batches - 1 if self.update == "batch" else 0
            rate = self.learning_rate_at(epoch, last_batch)
        state = dict(previous)
        state["steps"] = previous["steps"] + batches
        state["last_epoch_steps"] = batches
        state = self._next_state(epoch, state, logs or {}, batches=batches)
        self._states = {e: s for e, s in self._states.items() if e < epoch}
        self._states[epoch] = state
        self._block = {}       # positions of later epochs may depend on this state
        self._save()
        if logs is not None:
            logs[LOG_KEY] = rate
        self._batches_seen = 0


class ScheduleCallback(LearningRateCallback):
    """Drives a float-rate optimizer from a schedule, by epoch and batch index.

    The same schedule objects work as an optimizer's ``learning_rate``; through this
    callback the rate is also recorded in ``History`` / CSV / TensorBoard, can be stepped
    per epoch, and continues correctly after ``BackupAndRestore`` restores an epoch.

    >>> cb = ScheduleCallback(StepDecay(0.01, 8, factor=0.96), unit="epoch")  # GoogLeNet
    >>> model.compile(keras.optimizers.SGD(0.01, momentum=0.9), ...)
    >>> model.fit(..., callbacks=[cb, keras.callbacks.CSVLogger("log.csv")])

    Args:
        schedule: float, ``LearningRateSchedule`` or callable ``step -> rate``.
        unit: ``"step"`` (default: the schedule counts iterations) or ``"epoch"``.
        update: ``"batch"`` or ``"epoch"``; defaults to ``"batch"`` for ``unit="step"``
            and ``"epoch"`` for ``unit="epoch"``.
        steps_per_epoch, state_path, write_state, verbose: see
            :class:`LearningRateCallback`. The rate is a function of the position, so
            ``state_path`` is only needed when the epoch length is unknown.
    """

    def __init__(self, schedule, *, unit="step", update=None, steps_per_epoch=None,
                 state_path=None, write_state=True, verbose=0):
        if update is None:
            update = "batch" if unit == "step" else "epoch"
        super().__init__(schedule, unit=unit, update=update, steps_per_epoch=steps_per_epoch,
                         state_path=state_path, write_state=write_state, verbose=verbose)

    def _next_state(self, epoch, state, logs, batches):
        return state


class ReduceOnPlateau(LearningRateCallback):
    """Divides the rate when the monitored metric stops improving, as the papers did.

    AlexNet (Krizhevsky et al. 2012, section 5): "divide the learning rate by 10 when the
    validation error rate stopped improving with the current learning rate. The learning
    rate was initialized at 0.01 and reduced three times prior to termination":
    ``ReduceOnPlateau(0.01, monitor="val_accuracy", factor=0.1, max_reductions=3)``. VGG
    and ResNet on ImageNet did the same from 0.01 and 0.1.

    The rate is ``base(position) * factor ** reductions`` (never below
    ``min_learning_rate`` once reduced), where ``base`` is ``learning_rate``: a float or any
    schedule. A :class:`kcnn.schedules.Warmup` there warms up first, and epochs whose last
    batch is still inside the warmup are not monitored. The counting follows Keras's
    ``ReduceLROnPlateau``: a value counts as an improvement if it beats the best by more
    than ``min_delta``; after ``patience`` epochs without one the rate is reduced, then
    ``cooldown`` epochs pass before epochs count again. Unlike Keras's callback it stops
    after ``max_reductions``, composes with schedules, applies the reduction from the next
    epoch on, and resumes its counters after a restart (``state_path``).

    Args:
        learning_rate: float or ``LearningRateSchedule`` (the rate before reductions).
        monitor: name of the metric in the epoch logs, e.g. ``"val_loss"``.
        factor: multiplier of each reduction, in (0, 1).
        patience: epochs without improvement before a reduction.
        max_reductions: most reductions made; None for no limit.
        min_delta: least change that counts as an improvement.
        cooldown: epochs after a reduction during which epochs are not counted.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the metric's name: accuracy-like
            names are maximized, loss- and error-like names minimized).
        min_learning_rate: lower bound of the reduced rate.
        unit, update, steps_per_epoch, state_path, write_state, verbose: see
            :class:`LearningRateCallback`; ``update`` defaults to ``"epoch"`` for a float
            rate or ``unit="epoch"``, else ``"batch"``.
    """

    def __init__(self, learning_rate, *, monitor="val_loss", factor=0.1, patience=10,
                 max_reductions=None, min_delta=1e-4, cooldown=0, mode="auto",
                 min_learning_rate=0.0, unit="step", update=None, steps_per_epoch=None,
                 state_path=None, write_state=True, verbose=0):
        if update is None:
            constant = isinstance(learning_rate, numbers.Real)
            update = "epoch" if constant or unit == "epoch" else "batch"
        super().__init__(learning_rate, unit=unit, update=update,
                         steps_per_epoch=steps_per_epoch, state_path=state_path,
                         write_state=write_state, verbose=verbose)
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"`monitor` must be a metric name. Received: monitor={monitor!r}")
        self.monitor = monitor
        self.factor = check_float("factor", factor, minimum=0.0, maximum=1.0,
                                  min_inclusive=False, max_inclusive=False)
        self.patience = check_int("patience", patience, minimum=1)
        if max_reductions is not None:
            max_reductions = check_int("max_reductions", max_reductions, minimum=0)
        self.max_reductions = max_reductions
        self.min_delta = abs(check_float("min_delta", min_delta))
        self.cooldown = check_int("cooldown", cooldown, minimum=0)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self.min_learning_rate = check_float("min_learning_rate", min_learning_rate,
                                             minimum=0.0)

    @property
    def warmup_steps(self):
        """Length of the warmup of ``learning_rate`` in schedule steps (0 without one)."""
        return self.schedule.warmup_steps if isinstance(self.schedule, Warmup) else 0

    def _initial_state(self):
        return {"steps": 0, "best": None, "wait": 0, "cooldown": 0, "reductions": 0}

    def _needs_state(self):
        return True

    def _fingerprint(self):
        return {"class": type(self).__name__, "unit": self.unit, "monitor": self.monitor,
                "factor": self.factor, "patience": self.patience,
                "max_reductions": self.max_reductions, "cooldown": self.cooldown}

    def _reduced(self, base, reductions):
        if not reductions:
            return base
        return max(base * self.factor ** reductions, self.min_learning_rate)

    def learning_rate_at(self, epoch, batch=0):
        reductions = self.state_at(epoch - 1)["reductions"]
        return self._reduced(self._base_rate_at(epoch, batch), reductions)

    def _resolved_mode(self):
        if self.mode != "auto":
            return self.mode
        name = self.monitor.lower().removeprefix("val_")
        for metric in getattr(getattr(self, "model", None), "metrics", None) or ():
            for m in getattr(metric, "metrics", None) or [metric]:
                if getattr(m, "name", None) == name and hasattr(m, "_direction"):
                    return "max" if m._direction == "up" else "min"
        if any(key in name for key in _MINIMIZED):
            return "min"
        if any(key in name for key in _MAXIMIZED):
            return "max"
        raise ValueError(f"ReduceOnPlateau cannot tell whether {self.monitor!r} should be "
                         "maximized or minimized: pass mode='max' or mode='min'. "
                         f"Received: mode={self.mode!r}")

    def _improved(self, value, best):
        if best is None:
            return True
        if self._resolved_mode() == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def _next_state(self, epoch, state, logs, batches):
        last_batch = batches - 1 if self.update == "batch" else 0
        if self.position(epoch, last_batch) < self.warmup_steps:
            return state
        value = logs.get(self.monitor)
        if value is None:
            if ("missing", epoch) not in self._warned:
                self._warned.add(("missing", epoch))
                warnings.warn(f"ReduceOnPlateau: {self.monitor!r} is not in the logs of "
                              f"epoch {epoch} (available: {sorted(logs)}); the epoch is "
                              "not counted.", stacklevel=3)
            return state
        value = _to_float(value)
        if math.isnan(value):
            return state
        in_cooldown = state["cooldown"] > 0
        if in_cooldown:
            state["cooldown"] -= 1
            state["wait"] = 0
        if self._improved(value, state["best"]):
            state["best"] = value
            state["wait"] = 0
        elif not in_cooldown:
            state["wait"] += 1
            if state["wait"] >= self.patience and self._can_reduce(epoch, state, batches):
                state["reductions"] += 1
                state["wait"] = 0
                state["cooldown"] = self.cooldown
                if self.verbose:
                    rate = self._reduced(self._base_rate_at(epoch, last_batch),
                                         state["reductions"])
                    limit = "" if self.max_reductions is None else f" of {self.max_reductions}"
                    print(
                        f"\nEpoch {epoch + 1}: ReduceOnPlateau reduces the learning rate to "
                        f"{rate:.6g} (reduction {state['reductions']}{limit}).")
        return state

    def _can_reduce(self, epoch, state, batches):
        if self.max_reductions is not None and state["reductions"] >= self.max_reductions:
            return False
        last_batch = batches - 1 if self.update == "batch" else 0
        current = self._reduced(self._base_rate_at(epoch, last_batch), state["reductions"])
        return current > self.min_learning_rate * (1 + 1e-7)


class LearningRateLogger(keras.callbacks.Callback):
    """Writes the optimizer's rate to ``logs["learning_rate"]`` at every epoch end.

    For runs whose optimizer holds a schedule object (Keras records no rate for them) or a
    rate set by other means. With a schedule, the value logged is the rate of the epoch's
    last step, ``schedule(optimizer.iterations - 1)``, like the other kcnn callbacks; put
    it before ``CSVLogger`` / ``TensorBoard`` in the ``callbacks`` list.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = _inner_optimizer(self.model.optimizer)
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, Schedule):
            step = max(int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
            logs[LOG_KEY] = _to_float(schedule(step))
        else:
            logs[LOG_KEY] = _to_float(optimizer.learning_rate)
