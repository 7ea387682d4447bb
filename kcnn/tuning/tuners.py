"""The sweep's tuner: builds, compiles and trains each trial, and carries Hyperband's state.

:class:`SweepTuner` is a ``keras_tuner.Tuner`` running kcnn's search spaces
(:mod:`kcnn.tuning.spaces`, which declare hyperparameters and build models) on a
:class:`kcnn.data.catalog.SweepData`. Its :meth:`~SweepTuner.run_trial` builds the model,
compiles it with the trial's optimizer, rate schedule and batch size
(:mod:`kcnn.tuning.optim`), trains it with the trial reporter and early stopping
(:mod:`kcnn.tuning.early_stopping`), and records what was built. :func:`make_tuner` pairs it
with one of the oracles of :mod:`kcnn.tuning.keras_tuner_fixes` (where every workaround of
keras-tuner lives).

- **Same seed, same sweep.** Each trial seeds Keras (weights, dropout) and the shuffling from
  the sweep's seed and its trial id (:func:`trial_seed`), so a sweep run again with the same
  seed repeats its trials.
- **Hyperband continuations** reload the best epoch's weights but, in keras-tuner, not the
  optimizer: momentum slots and ``optimizer.iterations`` restart, so step-based schedules
  start over. kcnn saves the weights, the optimizer variables and the schedule callbacks'
  state at the end of every Hyperband trial and restores all of them in the trial that
  continues it: training continues as if it had not stopped.
- **Memory.** Before each model is built, the graphs traced by finished trials are released
  (:mod:`kcnn.tuning.memory`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
import warnings
import zlib

import keras
import keras_tuner
import numpy as np
from keras_tuner import errors as kt_errors

from kcnn._console import fit_verbose
from kcnn._io import atomic_json, atomic_path
from kcnn.tuning import keras_tuner_fixes as fixes
from kcnn.tuning import optim
from kcnn.tuning.early_stopping import PREFIX, TrialReporter
from kcnn.tuning.memory import current_rss_mb, custom_gradient_names, release_traced_graphs
from kcnn.tuning.spaces import model_structure, trainable_params

__all__ = ["SweepTuner", "make_tuner", "TUNERS", "TRIAL_RECORD", "trial_seed",
           "hyperband_trials_per_iteration", "check_bayesian_dependencies"]

TUNERS = ("random", "grid", "bayesian", "hyperband")
STATE_WEIGHTS = "last.weights.h5"
STATE_OPTIMIZER = "optimizer_state.npz"
SCHEDULE_STATE = "schedule_state.json"
TRIAL_RECORD = "kcnn_trial.json"


def trial_seed(seed, trial_id):
    """The seed of one trial: a function of the sweep's ``seed`` and the ``trial_id`` only."""
    return (int(seed) * 1_000_003 + zlib.crc32(str(trial_id).encode())) % (2 ** 31 - 1)


def hyperband_trials_per_iteration(max_epochs, factor):
    """Trials (trainings, continuations included) in one Hyperband iteration."""
    from keras_tuner.oracles import HyperbandOracle

    oracle = HyperbandOracle(objective="val_accuracy", max_epochs=max_epochs, factor=factor)
    return sum(oracle._get_size(b, r) for b in range(oracle._get_num_brackets())
               for r in range(b + 1))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, which every sweep gave
    from its sixth trial on: each trial traces the train step of its own new model, which is
    no excessive retracing."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


class SweepTuner(fixes.TunerFixes, keras_tuner.Tuner):
    """A keras-tuner ``Tuner`` running kcnn search spaces on a
    :class:`~kcnn.data.catalog.SweepData`.

    Args:
        oracle: one of :mod:`kcnn.tuning.keras_tuner_fixes`' oracles.
        hypermodel: a :class:`kcnn.tuning.spaces.SearchSpace`.
        epochs: epochs per trial (Hyperband: ``max_epochs``, set by the oracle per trial);
            the rate schedules span them.
        trial_seconds: wall-clock budget of a trial, or None.
        early_stopping: "median" or None.
        median_min_trials: finished trials needed before the median rule acts.
        median_grace_epochs: epochs a trial always runs before the rule applies.
        max_model_size: largest number of trainable parameters, or None.
        seed: the sweep's seed; each trial's is :func:`trial_seed` of it.
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
        self._gradients_before = custom_gradient_names()
        self._sizes = {}
        super().__init__(oracle, hypermodel, max_model_size=max_model_size, **kwargs)
        if max_model_size:
            oracle.model_size = self._oversized_size

    def search(self, *fit_args, **fit_kwargs):
        """Runs the sweep (see ``keras_tuner.Tuner.search``) without TensorFlow's retracing
        warning (:class:`_NoRetracingWarning`)."""
        quiet = _NoRetracingWarning()
        logger = logging.getLogger("tensorflow")
        logger.addFilter(quiet)
        try:
            return super().search(*fit_args, **fit_kwargs)
        finally:
            logger.removeFilter(quiet)

    # --- models ---

    def _size_of(self, hp):
        """Trainable parameters of the model ``hp`` builds (cached per builder arguments)."""
        key = repr(sorted(self.hypermodel.model_kwargs(hp.copy()).items()))
        if key not in self._sizes:
            keras.backend.clear_session()
            self._sizes[key] = trainable_params(self.hypermodel.build(hp))
            keras.backend.clear_session()
        return self._sizes[key]

    def _oversized_size(self, values):
        """The size of the model of ``values`` when it exceeds the limit, else None."""
        hp = self.hypermodel.search_space()
        hp.values = dict(values)
        hp.ensure_active_values()
        size = self._size_of(hp)
        return size if size > self.max_model_size else None

    def compile_model(self, model, hp, *, train_size, epochs):
        """Compiles ``model`` with the trial's optimizer and rate schedule.

        Args:
            model: the model the space built for ``hp``.
            hp: the trial's hyperparameters.
            train_size: training examples per epoch (the schedules count steps).
            epochs: epochs the schedule spans.
        """
        training = self.hypermodel.training(hp)
        steps = optim.steps_per_epoch(train_size, training["batch_size"])
        model.compile(
            optimizer=optim.make_optimizer(training, steps_per_epoch=steps, epochs=epochs),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit_model(self, model, hp, data, *, epochs, initial_epoch=0, callbacks=(),
                  verbose=0, seed=0, state_dir=None, include_validation=False):
        """Trains a compiled ``model`` on ``data`` with the trial's batch size and schedule
        callbacks; returns the ``History``."""
        training = self.hypermodel.training(hp)
        bs = int(training["batch_size"])
        transform = self.hypermodel.transform(hp.values)
        split = "train+val" if include_validation else "train"
        train = data.batches(split, bs, shuffle=True, seed=seed, transform=transform)
        val = None if include_validation else data.batches("val", bs, transform=transform)
        state = None if state_dir is None else os.path.join(state_dir, SCHEDULE_STATE)
        extra = optim.make_callbacks(
            training, steps_per_epoch=optim.steps_per_epoch(data.size(split), bs),
            state_path=state, plateau=self.hypermodel.plateau)
        return model.fit(train, validation_data=val, epochs=epochs,
                         initial_epoch=initial_epoch, callbacks=extra + list(callbacks),
                         shuffle=False, verbose=fit_verbose(verbose))

    # --- trials ---

    def run_trial(self, trial, data, *, callbacks=(), verbose=0):
        hp = trial.hyperparameters
        start = time.monotonic()
        epochs, initial_epoch = self.epochs, 0
        if "tuner/epochs" in hp.values:
            epochs = int(hp.values["tuner/epochs"])
            initial_epoch = int(hp.values["tuner/initial_epoch"])
        trial_dir = self.get_trial_dir(trial.trial_id)
        seed = trial_seed(self.seed, trial.trial_id)
        keras.utils.set_random_seed(seed)
        try:
            model = self._try_build(hp)
        except fixes.OversizedModelError as e:
            # Marked by a metric: gRPC drops trial messages, metrics reach the chief.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN objective
                self.oracle.update_trial(trial.trial_id, {
                    self.oracle.objective.name: float("nan"), fixes.OVERSIZED: 1.0,
                    f"{PREFIX}params": float(e.size)}, step=0)
            raise
        keras.utils.set_random_seed(seed)  # the build above drew from it
        self.compile_model(model, hp, train_size=data.train_size, epochs=self.epochs)
        structure = model_structure(model)
        past = hp.values.get("tuner/trial_id")
        restored = False
        if past is not None:
            restored = self._restore_state(model, self.get_trial_dir(past), trial_dir)

        median = None
        if self.early_stopping == "median" and "tuner/epochs" not in hp.values:
            median = (self.median_min_trials, self.median_grace_epochs)
        reporter = TrialReporter(self, trial, start=start, params=structure["params"],
                                 seconds=self.trial_seconds, median=median)
        user = self._deepcopy_callbacks(list(callbacks))
        self._configure_tensorboard_dir(user, trial)
        checkpoint = fixes.AtomicSaveBestEpoch(
            objective=self.oracle.objective,
            filepath=self._get_checkpoint_fname(trial.trial_id))
        history = self.fit_model(
            model, hp, data, epochs=epochs, initial_epoch=initial_epoch,
            callbacks=[keras.callbacks.TerminateOnNaN(), reporter, checkpoint] + user,
            verbose=verbose, seed=seed, state_dir=trial_dir)
        if "tuner/epochs" in hp.values:
            self._save_state(model, trial_dir)
        atomic_json(os.path.join(trial_dir, TRIAL_RECORD), {
            "trial_id": trial.trial_id,
            "worker": os.environ.get("KERASTUNER_TUNER_ID", self.tuner_id),
            "seed": seed,
            "epochs_run": reporter.epochs_run,
            "initial_epoch": initial_epoch,
            "stopped": reporter.stopped,
            "continued_from": past,
            "optimizer_state_restored": restored,
            "seconds": time.monotonic() - start,
            "rss_mb": current_rss_mb(),
            "structure": structure,
            "builder_kwargs": _jsonable(self.hypermodel.model_kwargs(hp.copy())),
        })
        if reporter.epochs_run == 0:
            raise kt_errors.FailedTrialError("The trial finished no epoch (time budget too "
                                             "short?).")
        return history

    def train_from_scratch(self, hp, data, *, epochs, seed, include_validation=False,
                           verbose=0):
        """Builds, compiles and trains the configuration ``hp`` anew (the sweep's best
        model); returns the trained model."""
        keras.backend.clear_session()
        release_traced_graphs(self._gradients_before)
        keras.utils.set_random_seed(seed)
        model = self.hypermodel.build(hp)
        split = "train+val" if include_validation else "train"
        self.compile_model(model, hp, train_size=data.size(split), epochs=epochs)
        self.fit_model(model, hp, data, epochs=epochs, verbose=verbose, seed=seed,
                       include_validation=include_validation)
        return model

    # --- Hyperband continuation state ---

    def _save_state(self, model, trial_dir):
        with atomic_path(os.path.join(trial_dir, STATE_WEIGHTS)) as tmp:
            model.save_weights(tmp)
        arrays = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
        with atomic_path(os.path.join(trial_dir, STATE_OPTIMIZER)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, *arrays)

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
            shutil.copyfile(state, os.path.join(trial_dir, SCHEDULE_STATE))
        return True


def make_tuner(space, *, tuner="random", max_trials=10, epochs=3, objective="val_accuracy",
               directory="kcnn_tune", project_name="trials", overwrite=False, seed=0,
               factor=3, hyperband_iterations=1, num_initial_points=None,
               max_model_size=None, trial_seconds=None, early_stopping="median",
               median_min_trials=3, median_grace_epochs=1, max_consecutive_failed_trials=3):
    """A :class:`SweepTuner` of kind ``tuner`` over ``space``.

    Applies kcnn's keras-tuner patch first (:func:`kcnn.tuning.keras_tuner_fixes.
    apply_patches`).

    Args:
        space: a :class:`kcnn.tuning.spaces.SearchSpace`.
        tuner: "random", "grid", "bayesian" or "hyperband".
        max_trials: trials of the random, grid and Bayesian tuners (None: the grid runs
            to exhaustion). Hyperband ignores it (see ``hyperband_iterations``).
        epochs: epochs per trial; Hyperband's ``max_epochs``.
        objective: metric to optimize, e.g. "val_accuracy" (maximized) or "val_loss".
        directory, project_name: where keras-tuner keeps its state.
        overwrite: start afresh instead of resuming.
        seed: seed of the sampling, of each trial's weights and of the data shuffling.
        factor, hyperband_iterations: Hyperband's reduction factor and iterations.
        num_initial_points: Bayesian: random trials before the Gaussian process (default
            a quarter of ``max_trials``, at least 3).
        max_model_size: largest number of trainable parameters; larger models are skipped.
        trial_seconds: wall-clock budget of one trial.
        early_stopping: "median" (random, grid, Bayesian) or None.
        median_min_trials, median_grace_epochs: see
            :func:`kcnn.tuning.early_stopping.median_stop`.
        max_consecutive_failed_trials: failures in a row that stop the sweep.
    """
    from kcnn.tuning.hparams import check_grid_space

    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {', '.join(TUNERS)}. Received: "
                         f"tuner={tuner!r}")
    fixes.apply_patches()
    common = dict(objective=objective, hyperparameters=space.search_space(),
                  seed=int(seed) + 1,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if tuner == "random":
        oracle = fixes.RandomOracle(max_trials=max_trials, **common)
    elif tuner == "grid":
        check_grid_space(space.search_space())
        oracle = fixes.GridOracle(max_trials=max_trials, **common)
    elif tuner == "bayesian":
        check_bayesian_dependencies()
        if num_initial_points is None:
            num_initial_points = max(3, math.ceil((max_trials or 12) / 4))
        oracle = fixes.BayesianOracle(max_trials=max_trials,
                                      num_initial_points=num_initial_points, **common)
    else:
        oracle = fixes.HyperbandSweepOracle(max_epochs=epochs, factor=factor,
                                            hyperband_iterations=hyperband_iterations,
                                            **common)
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
