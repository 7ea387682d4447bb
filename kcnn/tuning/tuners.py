"""keras-tuner's four tuners with kcnn's fixes, budgets and early stopping.

keras-tuner 1.4 (TF 2.21, Keras 3) is used as the engine; :class:`SweepTuner` and the oracle
classes here work around what it gets wrong:

- **TensorBoard import.** keras-tuner imports ``tensorboard.plugins.hparams`` at the start
  of every trial, so every trial fails when TensorBoard is missing. kcnn imports it only
  when a ``keras.callbacks.TensorBoard`` is among the callbacks, and then only warns if it
  is missing.
- **Hyperband continuations** reload the best epoch's weights but not the optimizer:
  momentum slots and ``optimizer.iterations`` restart, so step-based schedules start over.
  kcnn saves the weights, the optimizer variables and the schedule callbacks' state at the
  end of every Hyperband trial and restores all of them in the trial that continues it:
  training continues as if it had not stopped.
- **Model-size limit.** keras-tuner marks an oversized model as a failed trial, and three
  of them in a row stop the sweep ("consecutive failures"). kcnn records them as
  *oversized* (with their size), does not count them as failures nor against
  ``max_trials``, and stops only after ``max(10, 2 * max_trials)`` of them.
- **Resume.** Trials interrupted by a crash are run again with their metrics cleared
  (keras-tuner averaged the old epochs into the new ones); the grid oracle rebuilds its
  position from the finished trials (keras-tuner's grid stopped at once on resume); state
  files are written atomically so a kill during a write cannot corrupt them, and a trial
  whose file was written but not yet the oracle's state (a kill between the two) is run
  again instead of being lost.
- **Bayesian** proposals that repeat a finished point fall back to a random new point;
  trials that are neither finished nor running are skipped instead of reusing another
  trial's score; the number of initial random points defaults to a quarter of the budget
  (keras-tuner's three per dimension exceeds most budgets).
- **Distributed** (chief/worker): the chief exits as soon as the last worker is done
  (keras-tuner polls every 20 s), workers wait 1 s before asking again when the oracle is
  busy instead of spinning, and the oversized marker survives gRPC (which drops trial
  messages).
- **Memory.** Every Keras train step traced under TensorFlow's default distribution
  strategy calls ``all_reduce``, whose graph-mode ``tf.custom_gradient`` registers a gradient
  function in TensorFlow's global registry; that function keeps the whole traced graph
  alive after the model is gone, about 6-8 MB per trial of a small convnet. kcnn removes the
  registrations made by finished trials before building the next model, which keeps the
  memory of a long sweep flat (``benchmarks/tuning_memory.py``).
- **Seed 0** means "random" to keras-tuner; kcnn passes ``seed + 1``.
- A leftover ``print`` in keras-tuner's ``Parent.to_proto`` wrote the first value of every
  conditional scope to stdout at each gRPC call; kcnn replaces that method with a silent
  copy.

Early stopping: with the random, grid and Bayesian tuners a trial stops when its best score
after an epoch is worse than the median of the finished trials' best scores at the same
epoch (the median stopping rule of Golovin et al., "Google Vizier", KDD 2017), once
``min_trials`` trials have finished that epoch. Hyperband's brackets already stop bad trials.
Each trial can also have a wall-clock budget (``trial_seconds``), checked after every batch.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import time
import warnings
import zlib

import keras
import keras_tuner
import numpy as np
from keras_tuner import errors as kt_errors
from keras_tuner.oracles import (BayesianOptimizationOracle, GridSearchOracle,
                                 HyperbandOracle, RandomSearchOracle)

from kcnn.tuning.spaces import model_structure

__all__ = ["SweepTuner", "make_tuner", "TUNERS", "OversizedModelError",
           "hyperband_trials_per_iteration", "median_stop", "current_rss_mb"]

TUNERS = ("random", "grid", "bayesian", "hyperband")
OVERSIZED = "kcnn_oversized"          # metric marking a trial whose model was too large
PREFIX = "kcnn_"                       # metrics kcnn adds to every epoch report
STATE_WEIGHTS = "last.weights.h5"
STATE_OPTIMIZER = "optimizer_state.npz"
SCHEDULE_STATE = "schedule_state.json"
TRIAL_RECORD = "kcnn_trial.json"


class OversizedModelError(kt_errors.FailedTrialError):
    """The trial's model has more trainable parameters than the sweep allows."""

    def __init__(self, size, limit):
        super().__init__(f"Oversized model: {size:,} trainable parameters > "
                         f"max_model_size={limit:,}")
        self.size = size
        self.limit = limit


def current_rss_mb():
    """Resident memory of this process in MiB (peak RSS where /proc is unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _silent_parent_to_proto(self):
    """keras-tuner 1.4's ``Parent.to_proto`` without its stray ``print``."""
    from keras_tuner.src import protos

    proto = protos.get_proto()
    first = self.values[0]
    if isinstance(first, str):
        values = [proto.Value(string_value=v) for v in self.values]
    elif isinstance(first, bool):
        values = [proto.Value(boolean_value=v) for v in self.values]
    elif isinstance(first, int):
        values = [proto.Value(int_value=v) for v in self.values]
    else:
        values = [proto.Value(float_value=v) for v in self.values]
    return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))


def _patch_keras_tuner():
    from keras_tuner.src.engine import conditions

    conditions.Parent.to_proto = _silent_parent_to_proto


_patch_keras_tuner()


def _custom_gradient_names():
    """Names in TensorFlow's gradient registry made by ``tf.custom_gradient``."""
    try:
        from tensorflow.python.framework import ops

        return {k for k in ops._gradient_registry._registry if k.startswith("CustomGradient-")}
    except (ImportError, AttributeError):  # another TensorFlow layout: nothing to release
        return set()


def release_traced_graphs(keep):
    """Drops the custom-gradient registrations not in ``keep`` (see the module docstring).

    Call it only when the models traced since ``keep`` was taken are gone.
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return
    for name in _custom_gradient_names() - set(keep):
        registry.pop(name, None)
    gc.collect()


def _atomic_json(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _is_oversized(trial):
    return trial.metrics.exists(OVERSIZED)


# === Oracles ===

class _OracleFixes:
    """Mixed into each keras-tuner oracle (see the module docstring)."""

    @property
    def max_trials(self):
        base = self.__dict__.get("_budget")
        if base is None:
            return None
        return base + sum(1 for t in self.trials.values() if _is_oversized(t))

    @max_trials.setter
    def max_trials(self, value):
        self.__dict__["_budget"] = value

    def _oversized_limit(self):
        budget = self.__dict__.get("_budget")
        return max(10, 2 * budget) if budget else 10

    def populate_space(self, trial_id):
        oversized = sum(1 for t in self.trials.values() if _is_oversized(t))
        if oversized >= self._oversized_limit():
            warnings.warn(f"Stopping the sweep: {oversized} sampled models exceeded the "
                          "model-size limit. Narrow the space or raise --max-params.")
            return {"status": "STOPPED", "values": None}
        return super().populate_space(trial_id)

    def _check_consecutive_failures(self):
        run = 0
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if _is_oversized(trial):
                continue  # neither a failure nor a success
            run = run + 1 if trial.status == "FAILED" else 0
            if run == self.max_consecutive_failed_trials:
                raise RuntimeError("Number of consecutive failures exceeded the limit of "
                                   f"{self.max_consecutive_failed_trials}.\n"
                                   + (trial.message or ""))

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id not in self.ongoing_trials and self._retry_queue:
            # A trial run again (after a crash) starts with empty metrics.
            from keras_tuner.src.engine import metrics_tracking

            self.trials[self._retry_queue[-1]].metrics = metrics_tracking.MetricsTracker()
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        # keras-tuner saved before removing the trial from the ongoing ones: a stop right
        # after that would run the finished trial again on resume.
        self.save()

    def reload(self):
        super().reload()
        # keras-tuner writes a new trial's file before the oracle's state: a stop between
        # the two leaves a trial that the oracle does not list as running, which it would
        # never run again (and the sweep would end one trial short). Any trial still
        # marked running is queued again.
        for trial_id, trial in sorted(self.trials.items()):
            if trial.status == "RUNNING" and trial_id not in self._retry_queue:
                self._retry_queue.append(trial_id)
                if trial_id not in self.start_order:
                    self.start_order.append(trial_id)
                if self._id_to_hash[trial_id] is None:
                    self._record_values(trial)  # so that no later trial samples them

    def save(self):
        _atomic_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        _atomic_json(path, trial.get_state())


class RandomOracle(_OracleFixes, RandomSearchOracle):
    """keras-tuner's random search oracle with kcnn's fixes."""


class HyperbandSweepOracle(_OracleFixes, HyperbandOracle):
    """keras-tuner's Hyperband oracle with kcnn's fixes."""


class BayesianOracle(_OracleFixes, BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimization oracle with kcnn's fixes."""

    def populate_space(self, trial_id):
        with warnings.catch_warnings():
            # The Gaussian process often ends a length scale at its bound on a few points.
            warnings.filterwarnings("ignore", message=".*length_scale is close to the")
            response = super().populate_space(trial_id)
        if response.get("status") == "RUNNING" and response.get("values") is not None:
            hps = self.hyperparameters.copy()
            hps.values = dict(response["values"])
            hps.ensure_active_values()
            if self._duplicate(hps.values):
                return self._random_populate_space()
        return response

    def _vectorize_trials(self):
        ongoing = {t.trial_id for t in self.ongoing_trials.values()}
        kept = {k: t for k, t in self.trials.items()
                if t.status == "COMPLETED" or t.trial_id in ongoing}
        saved = self.trials
        self.trials = kept
        try:
            return super()._vectorize_trials()
        finally:
            self.trials = saved


class GridOracle(_OracleFixes, GridSearchOracle):
    """keras-tuner's grid oracle with kcnn's fixes; resumes where it stopped."""

    def set_state(self, state):
        super().set_state(state)
        from keras_tuner.src.tuners.gridsearch import LinkedList

        ids = [i for i in self.start_order if i in self.trials]
        order = sorted(ids, key=functools.cmp_to_key(
            lambda a, b: self._compare(self.trials[a].hyperparameters.values,
                                       self.trials[b].hyperparameters.values)))
        self._ordered_ids = LinkedList()
        for trial_id in order:
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(ids)


def hyperband_trials_per_iteration(max_epochs, factor):
    """Trials (trainings, continuations included) in one Hyperband iteration."""
    oracle = HyperbandOracle(objective="val_accuracy", max_epochs=max_epochs, factor=factor)
    return sum(oracle._get_size(b, r) for b in range(oracle._get_num_brackets())
               for r in range(b + 1))


# === Early stopping and budgets ===

def median_stop(best_so_far, others, step, *, direction, min_trials=3):
    """The median stopping rule.

    Args:
        best_so_far: the running trial's best objective value up to ``step``.
        others: for each finished trial, ``{step: value}`` of its objective.
        step: the epoch just finished.
        direction: "max" or "min".
        min_trials: finished trials that must have reached ``step`` for the rule to act.

    Returns:
        True when ``best_so_far`` is worse than the median of the other trials' best values
        up to ``step``.
    """
    bests = []
    for curve in others:
        seen = [v for s, v in curve.items() if s <= step and not math.isnan(v)]
        if seen and max(curve) >= step:
            bests.append(max(seen) if direction == "max" else min(seen))
    if len(bests) < min_trials:
        return False
    median = float(np.median(bests))
    return best_so_far < median if direction == "max" else best_so_far > median


class _TrialCallback(keras.callbacks.Callback):
    """Reports every epoch to the oracle, applies the time budget and the median rule."""

    def __init__(self, tuner, trial, *, start, params, seconds=None, median=None):
        super().__init__()
        self.tuner = tuner
        self.trial = trial
        self.start = start
        self.n_params = params
        self.seconds = seconds
        self.median = median  # (min_trials, grace_epochs) or None
        self.stopped = None
        self.epochs_run = 0
        self.best = None

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is not None and time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True
            self.stopped = "time budget"

    def on_epoch_end(self, epoch, logs=None):
        objective = self.tuner.oracle.objective
        logs = dict(logs or {})
        metrics = {k: float(v) for k, v in logs.items()
                   if isinstance(v, (int, float, np.floating, np.integer))
                   or (hasattr(v, "shape") and not getattr(v, "shape", (1,)))}
        if objective.name not in metrics:
            return
        self.epochs_run += 1
        value = metrics[objective.name]
        better = (lambda a, b: a > b) if objective.direction == "max" else (lambda a, b: a < b)
        if self.best is None or math.isnan(self.best) or (
                not math.isnan(value) and better(value, self.best)):
            self.best = value
        metrics.update({
            f"{PREFIX}params": float(self.n_params),
            f"{PREFIX}seconds": time.monotonic() - self.start,
            f"{PREFIX}rss_mb": current_rss_mb(),
            f"{PREFIX}iterations": float(keras.ops.convert_to_numpy(
                self.model.optimizer.iterations)),
        })
        self.tuner.oracle.update_trial(self.trial.trial_id, metrics, step=int(epoch))
        if self.median is not None and self.stopped is None:
            if epoch + 1 >= self.median[1] and self._median_says_stop(epoch, objective):
                self.model.stop_training = True
                self.stopped = "median rule"

    def _median_says_stop(self, epoch, objective):
        trials = self.tuner.oracle.get_best_trials(10 ** 6)
        curves = []
        for t in trials:
            if t.trial_id == self.trial.trial_id or t.status != "COMPLETED":
                continue
            if not t.metrics.exists(objective.name):
                continue
            curves.append({int(o.step): float(o.mean())
                           for o in t.metrics.get_history(objective.name)})
        return median_stop(self.best, curves, int(epoch), direction=objective.direction,
                           min_trials=self.median[0])


# === The tuner ===

class SweepTuner(keras_tuner.Tuner):
    """A keras-tuner ``Tuner`` running kcnn search spaces on a :class:`SweepData`.

    Args:
        oracle: one of this module's oracles.
        hypermodel: a :class:`kcnn.tuning.spaces.SearchSpace`.
        epochs: epochs per trial (Hyperband: ``max_epochs``, set by the oracle per trial).
        trial_seconds: wall-clock budget of a trial, or None.
        early_stopping: "median" or None.
        median_min_trials: finished trials needed before the median rule acts.
        median_grace_epochs: epochs a trial always runs before the rule applies.
        max_model_size: largest number of trainable parameters, or None.
        seed: seed of the data shuffling.
        **kwargs: ``keras_tuner.Tuner`` arguments (``directory``, ``project_name``,
            ``overwrite``, ...).
    """

    def __init__(self, oracle, hypermodel, *, epochs, trial_seconds=None,
                 early_stopping="median", median_min_trials=3, median_grace_epochs=1,
                 max_model_size=None, seed=0, **kwargs):
        self.epochs = int(epochs)
        self.trial_seconds = trial_seconds
        self.early_stopping = early_stopping
        self.median_min_trials = int(median_min_trials)
        self.median_grace_epochs = int(median_grace_epochs)
        self.seed = int(seed)
        self._gradients_before = _custom_gradient_names()
        super().__init__(oracle, hypermodel, max_model_size=max_model_size, **kwargs)

    # --- trials ---

    def _try_build(self, hp):
        keras.backend.clear_session()
        release_traced_graphs(self._gradients_before)
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise kt_errors.FatalTypeError(f"The space built {type(model)}, not a Model.")
        size = int(sum(math.prod(w.shape) for w in model.trainable_weights))
        if self.max_model_size and size > self.max_model_size:
            raise OversizedModelError(size, self.max_model_size)
        return model

    def _try_run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        try:
            self._run_and_update_trial(trial, *fit_args, **fit_kwargs)
            trial.status = "COMPLETED"
        except OversizedModelError as e:  # expected: no traceback printed
            trial.status = "FAILED"
            trial.message = str(e)
        except Exception as e:  # keras-tuner's handling
            if isinstance(e, kt_errors.FatalError):
                raise
            import traceback

            from keras_tuner.src import config as kt_config

            if kt_config.DEBUG:
                traceback.print_exc()
            trial.status = "FAILED" if isinstance(e, kt_errors.FailedTrialError) \
                else "INVALID"
            trial.message = traceback.format_exc()

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        # run_trial reports every epoch itself; nothing is left to report at the end.
        self.run_trial(trial, *fit_args, **fit_kwargs)

    def run_trial(self, trial, data, *, callbacks=(), verbose=0):
        hp = trial.hyperparameters
        start = time.monotonic()
        epochs, initial_epoch = self.epochs, 0
        if "tuner/epochs" in hp.values:
            epochs = int(hp.values["tuner/epochs"])
            initial_epoch = int(hp.values["tuner/initial_epoch"])
        trial_dir = self.get_trial_dir(trial.trial_id)
        try:
            model = self._try_build(hp)
        except OversizedModelError as e:
            # Marked by a metric: gRPC drops trial messages, metrics reach the chief.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN objective
                self.oracle.update_trial(trial.trial_id, {
                    self.oracle.objective.name: float("nan"), OVERSIZED: 1.0,
                    f"{PREFIX}params": float(e.size)}, step=0)
            raise
        structure = model_structure(model)
        past = hp.values.get("tuner/trial_id")
        restored = False
        if past is not None:
            restored = self._restore_state(model, self.get_trial_dir(past), trial_dir)

        median = None
        if self.early_stopping == "median" and "tuner/epochs" not in hp.values:
            median = (self.median_min_trials, self.median_grace_epochs)
        reporter = _TrialCallback(self, trial, start=start, params=structure["params"],
                                  seconds=self.trial_seconds, median=median)
        user = self._deepcopy_callbacks(list(callbacks))
        self._configure_tensorboard_dir(user, trial)
        from keras_tuner.src.engine import tuner_utils

        checkpoint = tuner_utils.SaveBestEpoch(objective=self.oracle.objective,
                                               filepath=self._get_checkpoint_fname(
                                                   trial.trial_id))
        all_callbacks = [keras.callbacks.TerminateOnNaN(), reporter, checkpoint] + user
        history = self.hypermodel.fit(hp, model, data, epochs=epochs,
                                      initial_epoch=initial_epoch, callbacks=all_callbacks,
                                      verbose=verbose,
                                      seed=self.seed + zlib.crc32(trial.trial_id.encode()),
                                      state_dir=trial_dir)
        if "tuner/epochs" in hp.values:
            self._save_state(model, trial_dir)
        record = {
            "trial_id": trial.trial_id,
            "worker": os.environ.get("KERASTUNER_TUNER_ID", self.tuner_id),
            "epochs_run": reporter.epochs_run,
            "initial_epoch": initial_epoch,
            "stopped": reporter.stopped,
            "continued_from": past,
            "optimizer_state_restored": restored,
            "seconds": time.monotonic() - start,
            "rss_mb": current_rss_mb(),
            "structure": structure,
            "builder_kwargs": _jsonable(self.hypermodel.model_kwargs(hp.copy())),
        }
        _atomic_json(os.path.join(trial_dir, TRIAL_RECORD), record)
        if reporter.epochs_run == 0:
            raise kt_errors.FailedTrialError("The trial finished no epoch (time budget too "
                                             "short?).")
        return history

    # --- Hyperband continuation state ---

    def _save_state(self, model, trial_dir):
        model.save_weights(os.path.join(trial_dir, STATE_WEIGHTS))
        arrays = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
        np.savez(os.path.join(trial_dir, STATE_OPTIMIZER), *arrays)

    def _restore_state(self, model, past_dir, trial_dir):
        weights = os.path.join(past_dir, STATE_WEIGHTS)
        opt = os.path.join(past_dir, STATE_OPTIMIZER)
        if not (os.path.exists(weights) and os.path.exists(opt)):
            warnings.warn(f"No saved state in {past_dir}: continuing from the best "
                          "checkpoint's weights with a fresh optimizer.")
            model.load_weights(os.path.join(past_dir, os.path.basename(
                self._get_checkpoint_fname("x"))))
            return False
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        model.load_weights(weights)
        with np.load(opt) as f:
            arrays = [f[f"arr_{i}"] for i in range(len(f.files))]
        variables = optimizer.variables
        if len(arrays) != len(variables) or any(
                tuple(a.shape) != tuple(v.shape) for a, v in zip(arrays, variables)):
            warnings.warn("The saved optimizer state does not match the optimizer; "
                          "continuing with a fresh optimizer.")
            return False
        for v, a in zip(variables, arrays):
            v.assign(a)
        state = os.path.join(past_dir, SCHEDULE_STATE)
        if os.path.exists(state):
            import shutil

            shutil.copyfile(state, os.path.join(trial_dir, SCHEDULE_STATE))
        return True

    # --- keras-tuner fixes ---

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if not any(cb.__class__.__name__ == "TensorBoard" for cb in callbacks):
            return
        try:
            import tensorboard.plugins.hparams.api  # noqa: F401
        except ImportError:
            for cb in callbacks:
                if cb.__class__.__name__ == "TensorBoard":
                    cb.log_dir = self._get_tensorboard_dir(cb.log_dir, trial.trial_id,
                                                           execution)
            warnings.warn("tensorboard's hparams plugin is missing: logging without "
                          "hyperparameters.")
            return
        super()._configure_tensorboard_dir(callbacks, trial, execution)

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        _atomic_json(self._get_tuner_fname(), self.get_state())

    def search(self, *fit_args, **fit_kwargs):
        """Runs trials until the oracle stops (the chief serves the oracle instead)."""
        from keras_tuner.src.distribute import utils as dist_utils

        if "verbose" in fit_kwargs and (not dist_utils.has_chief_oracle()
                                        or dist_utils.is_chief_oracle()):
            self.oracle.verbose = fit_kwargs["verbose"]
        if dist_utils.is_chief_oracle():
            self.save()
            serve_oracle(self.oracle)
            return
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == "STOPPED":
                break
            if trial.status == "IDLE":
                time.sleep(1.0)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()


def serve_oracle(oracle, *, poll=0.2):
    """Serves ``oracle`` to the workers over gRPC until the sweep is over.

    Listens on ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT``; returns once the oracle has
    told every worker to stop and no trial is running.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if not server.add_insecure_port(address):
        raise OSError(f"Could not listen on {address}.")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=2).wait()


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def make_tuner(space, *, tuner="random", max_trials=10, epochs=3, objective="val_accuracy",
               directory="kcnn_tune", project_name="trials", overwrite=False, seed=0,
               factor=3, hyperband_iterations=1, num_initial_points=None,
               max_model_size=None, trial_seconds=None, early_stopping="median",
               median_min_trials=3, median_grace_epochs=1, max_consecutive_failed_trials=3):
    """A :class:`SweepTuner` of kind ``tuner`` over ``space``.

    Args:
        space: a :class:`kcnn.tuning.spaces.SearchSpace`.
        tuner: "random", "grid", "bayesian" or "hyperband".
        max_trials: trials of the random, grid and Bayesian tuners (None: the grid runs
            to exhaustion). Hyperband ignores it (see ``hyperband_iterations``).
        epochs: epochs per trial; Hyperband's ``max_epochs``.
        objective: metric to optimize, e.g. "val_accuracy" (maximized) or "val_loss".
        directory, project_name: where keras-tuner keeps its state.
        overwrite: start afresh instead of resuming.
        seed: seed of the sampling and of the data shuffling.
        factor, hyperband_iterations: Hyperband's reduction factor and iterations.
        num_initial_points: Bayesian: random trials before the Gaussian process (default
            a quarter of ``max_trials``, at least 3).
        max_model_size: largest number of trainable parameters; larger models are skipped.
        trial_seconds: wall-clock budget of one trial.
        early_stopping: "median" (random, grid, Bayesian) or None.
        median_min_trials, median_grace_epochs: see :func:`median_stop`.
        max_consecutive_failed_trials: failures in a row that stop the sweep.
    """
    from kcnn.tuning.hparams import check_grid_space

    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {', '.join(TUNERS)}. Received: "
                         f"tuner={tuner!r}")
    common = dict(objective=objective, hyperparameters=space.search_space(),
                  seed=int(seed) + 1,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if tuner == "random":
        oracle = RandomOracle(max_trials=max_trials, **common)
    elif tuner == "grid":
        check_grid_space(space.search_space())
        oracle = GridOracle(max_trials=max_trials, **common)
    elif tuner == "bayesian":
        check_bayesian_dependencies()
        if num_initial_points is None:
            num_initial_points = max(3, math.ceil((max_trials or 12) / 4))
        oracle = BayesianOracle(max_trials=max_trials, num_initial_points=num_initial_points,
                                **common)
    else:
        oracle = HyperbandSweepOracle(max_epochs=epochs, factor=factor,
                                      hyperband_iterations=hyperband_iterations, **common)
    return SweepTuner(oracle, space, epochs=epochs, trial_seconds=trial_seconds,
                      early_stopping=early_stopping if tuner != "hyperband" else None,
                      median_min_trials=median_min_trials,
                      median_grace_epochs=median_grace_epochs,
                      max_model_size=max_model_size, seed=seed, directory=directory,
                      project_name=project_name, overwrite=overwrite)


def check_bayesian_dependencies():
    """The Bayesian tuner needs scipy and scikit-learn; says so before the sweep starts."""
    import importlib

    missing = []
    for module, package in (("scipy.optimize", "scipy"),
                            ("sklearn.gaussian_process", "scikit-learn")):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(f"The Bayesian tuner needs {' and '.join(missing)}: "
                          f"pip install {' '.join(missing)}")

