"""Every workaround kcnn applies to keras-tuner, in one place, for the versions it was written for.

keras-tuner 1.4 (with TensorFlow 2.21 and Keras 3) is the engine of kcnn's sweeps. What it gets
wrong is fixed here, by subclassing its oracles and its ``Tuner`` (used by
:mod:`kcnn.tuning.tuners`) and by one process-wide patch, :func:`apply_patches`, which
:func:`kcnn.tuning.make_tuner` calls (importing kcnn changes nothing in keras-tuner):

- **TensorBoard import.** keras-tuner imports ``tensorboard.plugins.hparams`` at the start
  of every trial, so every trial fails when TensorBoard is missing. kcnn imports it only
  when a ``keras.callbacks.TensorBoard`` is among the callbacks, and then only warns if it
  is missing.
- **Model-size limit.** keras-tuner marks an oversized model as a failed trial, and three
  of them in a row stop the sweep ("consecutive failures"). The random and Bayesian oracles
  here check the size of every sampled point before it becomes a trial and sample again
  (an oversized point is recorded, with its size, and never proposed again), so a sweep runs
  ``max_trials`` trials unless the space is exhausted; it stops after
  :data:`OVERSIZED_STREAK` oversized samples in a row and says so. The grid and Hyperband
  oracles run oversized points as trials that fail at once without counting as failures nor
  against ``max_trials``.
- **Resume.** Trials interrupted by a crash are run again with their metrics cleared
  (keras-tuner averaged the old epochs into the new ones); the grid oracle rebuilds its
  position from the finished trials (keras-tuner's grid stopped at once on resume); state
  files and each trial's best-epoch checkpoint (:class:`AtomicSaveBestEpoch`) are written
  atomically (``kcnn._io``) so a kill during a write cannot corrupt them,
  and a trial whose file was written but not yet the oracle's state (a kill between the two)
  is run again instead of being lost.
- **Bayesian** proposals that repeat a finished point fall back to a random new point;
  trials that are neither finished nor running are skipped instead of reusing another
  trial's score. (The number of initial random points, a quarter of the budget, is set by
  :func:`kcnn.tuning.make_tuner`.)
- **Distributed** (chief/worker): workers wait 1 s before asking again when the oracle is
  busy instead of spinning, the chief serves the oracle with
  :func:`kcnn.tuning.distributed.serve_oracle` (which exits as soon as the last worker is
  done), and the oversized marker survives gRPC (which drops trial messages).
- **Memory.** keras-tuner's ``_try_build`` only clears the Keras session; kcnn's also
  releases the graphs finished trials left in TensorFlow's gradient registry
  (:mod:`kcnn.tuning.memory`), which keeps a long sweep's memory flat.
- **Stray print.** keras-tuner 1.4's ``Parent.to_proto`` prints the first value of every
  conditional scope to stdout at each gRPC call; :func:`apply_patches` replaces it with a
  silent copy. This is the only change to keras-tuner's own classes.
- **Seed 0** means "random" to keras-tuner; :func:`kcnn.tuning.make_tuner` passes
  ``seed + 1``.

The fixes read private attributes of keras-tuner 1.4 (``_retry_queue``, ``_tried_so_far``,
``_ordered_ids``, ...). :data:`WRITTEN_FOR` lists the versions they were checked against;
with another version :func:`apply_patches` skips the process-wide patch and warns once that
the subclass fixes are unchecked (``pytest tests/test_tuning.py`` checks them).
"""

from __future__ import annotations

import functools
import os
import time
import warnings

import keras_tuner
from keras_tuner import errors as kt_errors
from keras_tuner.src.engine import tuner_utils
from keras_tuner.oracles import (BayesianOptimizationOracle, GridSearchOracle,
                                 HyperbandOracle, RandomSearchOracle)

from kcnn._io import atomic_json, atomic_path

__all__ = ["WRITTEN_FOR", "OVERSIZED", "OVERSIZED_STREAK", "OversizedModelError",
           "apply_patches", "keras_tuner_version", "is_oversized", "RandomOracle",
           "GridOracle", "BayesianOracle", "HyperbandSweepOracle", "TunerFixes",
           "AtomicSaveBestEpoch"]

WRITTEN_FOR = ("1.4.7", "1.4.8")  # keras-tuner versions these fixes were checked against
OVERSIZED = "kcnn_oversized"      # metric marking a trial whose model was too large
OVERSIZED_STREAK = 200            # oversized samples in a row that end a random/Bayesian sweep

_applied = []
_warned = []


def keras_tuner_version():
    """The installed keras-tuner's version string."""
    return getattr(keras_tuner, "__version__", "unknown")


def apply_patches():
    """Applies the process-wide keras-tuner patch once, if the version is one it was written
    for; otherwise warns once and skips it.

    Returns:
        The names of the patches in effect (``()`` with an unchecked keras-tuner version).
    """
    version = keras_tuner_version()
    if version not in WRITTEN_FOR:
        if not _warned:
            _warned.append(version)
            warnings.warn(
                f"kcnn's keras-tuner fixes were written for keras-tuner "
                f"{' and '.join(WRITTEN_FOR)}; keras-tuner {version} is installed. The patch "
                "of Parent.to_proto is skipped, and the oracle and tuner fixes (resume, grid, "
                "Bayesian, model-size limit) are unchecked with this version: run "
                "`pytest tests/test_tuning.py`, or pip install 'keras-tuner>=1.4.7,<1.5'.",
                RuntimeWarning, stacklevel=2)
        return ()
    if not _applied:
        from keras_tuner.src.engine import conditions

        conditions.Parent.to_proto = _silent_parent_to_proto
        _applied.append("Parent.to_proto")
    return tuple(_applied)


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


class OversizedModelError(kt_errors.FailedTrialError):
    """The trial's model has more trainable parameters than the sweep allows."""

    def __init__(self, size, limit):
        super().__init__(f"Oversized model: {size:,} trainable parameters > "
                         f"max_model_size={limit:,}")
        self.size = size
        self.limit = limit


def is_oversized(trial):
    """Whether ``trial`` was run and marked as holding an oversized model."""
    return trial.metrics.exists(OVERSIZED)


# === Oracles ===

class _OracleFixes:
    """Mixed into each keras-tuner oracle (see the module docstring).

    Attributes:
        model_size: ``values -> trainable parameters or None``, set by the tuner when the
            sweep has a size limit; used by oracles whose ``filters_sizes`` is True.
        max_model_size: the limit.
        oversized: ``[{"values": ..., "params": ...}]`` of the points skipped for their size.
        stop_reason: why the oracle last stopped: "max_trials", "exhausted" or "oversized".
    """

    filters_sizes = False

    @property
    def max_trials(self):
        base = self.__dict__.get("_budget")
        if base is None:
            return None
        return base + sum(1 for t in self.trials.values() if is_oversized(t))

    @max_trials.setter
    def max_trials(self, value):
        self.__dict__["_budget"] = value

    @property
    def oversized(self):
        return self.__dict__.setdefault("_oversized", [])

    def _propose(self, trial_id):
        return super().populate_space(trial_id)

    def populate_space(self, trial_id):
        size_of = self.__dict__.get("model_size")
        streak = 0
        while True:
            response = self._propose(trial_id)
            values = response.get("values")
            if response.get("status") != "RUNNING" or values is None:
                if response.get("status") == "STOPPED":
                    self.stop_reason = "exhausted"
                return response
            if not (self.filters_sizes and size_of is not None):
                return response
            size = size_of(values)
            if size is None:
                return response
            self.oversized.append({"values": dict(values), "params": int(size)})
            self._tried_so_far.add(self._compute_values_hash(values))
            streak += 1
            if streak >= OVERSIZED_STREAK:
                self.stop_reason = "oversized"
                warnings.warn(f"Stopping the sweep: the last {streak} sampled models all "
                              "exceeded the model-size limit. Narrow the space or raise "
                              "--max-params.")
                return {"status": "STOPPED", "values": None}

    def _check_consecutive_failures(self):
        run = 0
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if is_oversized(trial):
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
        trial = super().create_trial(tuner_id)
        if trial.status == "STOPPED" and self.max_trials and \
                len(self.trials) >= self.max_trials:
            self.stop_reason = "max_trials"
        return trial

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

    def get_state(self):
        state = super().get_state()
        state["kcnn_oversized"] = list(self.oversized)
        return state

    def set_state(self, state):
        super().set_state(state)
        self.__dict__["_oversized"] = list(state.get("kcnn_oversized", []))

    def save(self):
        atomic_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        atomic_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                    trial.get_state())


class RandomOracle(_OracleFixes, RandomSearchOracle):
    """keras-tuner's random search oracle with kcnn's fixes."""

    filters_sizes = True


class HyperbandSweepOracle(_OracleFixes, HyperbandOracle):
    """keras-tuner's Hyperband oracle with kcnn's fixes."""


class BayesianOracle(_OracleFixes, BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimization oracle with kcnn's fixes."""

    filters_sizes = True

    def _propose(self, trial_id):
        with warnings.catch_warnings():
            # The Gaussian process often ends a length scale at its bound on a few points.
            warnings.filterwarnings("ignore", message=".*length_scale is close to the")
            response = BayesianOptimizationOracle.populate_space(self, trial_id)
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


# === The tuner ===

class AtomicSaveBestEpoch(tuner_utils.SaveBestEpoch):
    """keras-tuner's best-epoch checkpoint, written to a temporary file and renamed, so a
    kill during the write leaves the previous checkpoint whole (kcnn's trials run in one
    process, under the default distribution strategy)."""

    def _save_model(self):
        with atomic_path(self.filepath) as tmp:
            self.model.save_weights(tmp)


class TunerFixes:
    """Mixed into kcnn's ``keras_tuner.Tuner`` subclass (see the module docstring).

    The tuner keeps ``_gradients_before`` (:func:`kcnn.tuning.memory.custom_gradient_names`
    when it was made) so that each build releases the graphs traced by finished trials.
    """

    def _try_build(self, hp):
        import keras

        from kcnn.tuning.memory import release_traced_graphs
        from kcnn.tuning.spaces import trainable_params

        keras.backend.clear_session()
        release_traced_graphs(self._gradients_before)
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise kt_errors.FatalTypeError(f"The space built {type(model)}, not a Model.")
        size = trainable_params(model)
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
        atomic_json(self._get_tuner_fname(), self.get_state())

    def search(self, *fit_args, **fit_kwargs):
        """Runs trials until the oracle stops (the chief serves the oracle instead)."""
        from keras_tuner.src.distribute import utils as dist_utils

        from kcnn.tuning.distributed import serve_oracle

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
