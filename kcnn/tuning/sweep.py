"""Running a sweep end to end: data, space, tuner, search, ranked table, plot, best model.

Everything goes into one output folder::

    OUTPUT/
      sweep.json          the sweep's settings (a resumed sweep must match them)
      trials/             keras-tuner's state: oracle.json, trial_*/trial.json, checkpoints
      results.csv         ranked trials, one column per hyperparameter
      results.json        the same with nested hyperparameters
      scores.png          score against the main hyperparameters and the model size
      best_model.keras    the best configuration retrained
      best.json           its hyperparameters, builder arguments and scores

Running the same command again resumes: finished trials are kept and only the missing ones
run (give a larger ``max_trials`` to extend a sweep). Every argument is checked before anything
is written, and one process at a time writes a sweep folder (``kcnn._io.FolderLock``; the
workers of a distributed sweep share the chief's).
"""

from __future__ import annotations

import dataclasses
import json
import os

from kcnn._io import FolderLock, atomic_json, atomic_path

__all__ = ["search", "SweepResult", "SETTINGS_FILE", "OBJECTIVES", "check_sweep_arguments"]

SETTINGS_FILE = "sweep.json"
PROJECT = "trials"
RESULTS = ("results.csv", "results.json", "scores.png", "best_model.keras", "best.json")
# Settings that define a sweep; resuming with others would mix incomparable trials.
IDENTITY = ("space", "variant", "data", "image_size", "validation_fraction", "limit",
            "tuner", "objective", "overrides", "seed", "factor", "epochs")


@dataclasses.dataclass
class SweepResult:
    """What :func:`search` produced.

    Attributes:
        output: the output folder.
        rows: the ranked table (see :func:`kcnn.tuning.report.trial_rows`).
        best: the best row, or None if no trial finished.
        best_model_path: the retrained best model (``.keras``), or None.
        best_metrics: the retrained model's validation / test metrics.
        table_paths: ``(csv, json)`` paths.
        plot_path: the PNG, or None.
        tuner: the keras-tuner tuner (for ``get_best_models`` and friends).
        stop_reason: why the sweep ended: "max_trials" (the budget ran), "exhausted" (no
            point of the space is left), "oversized" (only models over ``max_params`` were
            left to sample), or None (Hyperband, a worker).
        oversized: points skipped for their size, ``[{"values", "params"}]``.
    """

    output: str
    rows: list
    best: dict | None
    best_model_path: str | None
    best_metrics: dict
    table_paths: tuple
    plot_path: str | None
    tuner: object = None
    stop_reason: str | None = None
    oversized: list = dataclasses.field(default_factory=list)


def _serialize_override(value):
    from kcnn.tuning.hparams import Range

    if isinstance(value, Range):
        return {"range": dataclasses.asdict(value)}
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if hasattr(value, "get_config"):
        return {type(value).__name__: value.get_config()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _check_settings(output, settings, overwrite, role):
    path = os.path.join(output, SETTINGS_FILE)
    if role == "worker":
        return
    if os.path.exists(path) and not overwrite:
        with open(path) as f:
            old = json.load(f)
        changed = [k for k in IDENTITY if old.get(k) != settings.get(k)]
        if changed:
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise ValueError(f"{output!r} holds a sweep with other settings ({diff}). "
                             "Use another output folder, or overwrite=True (--overwrite) to "
                             "start afresh.")
    if overwrite:
        for name in RESULTS:
            if os.path.exists(os.path.join(output, name)):
                os.remove(os.path.join(output, name))
    os.makedirs(output, exist_ok=True)
    atomic_json(path, settings, indent=1)


# What a trial's model reports (sparse categorical cross-entropy and accuracy).
OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")


def check_sweep_arguments(*, tuner, max_trials, epochs, seed=0, max_params=None,
                          trial_seconds=None, median_min_trials=3, median_grace_epochs=1,
                          factor=3, hyperband_iterations=None, num_initial_points=None,
                          retrain="train", retrain_epochs=None, early_stopping="median",
                          image_size=None, validation_fraction=0.2, limit=None,
                          objective="val_accuracy"):
    """Refuses impossible sweep settings at once, naming the argument (nothing is written).

    Raises:
        ValueError, TypeError: naming the argument, what was expected and the value.
    """
    from kcnn._checks import check_float, check_int
    from kcnn.tuning.tuners import TUNERS

    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {', '.join(TUNERS)}. "
                         f"Received: tuner={tuner!r}")
    if retrain not in ("train", "train+val", "none", None):
        raise ValueError("`retrain` must be 'train', 'train+val' or 'none'. "
                         f"Received: retrain={retrain!r}")
    if early_stopping not in ("median", None, "none"):
        raise ValueError("`early_stopping` must be 'median' or None. "
                         f"Received: early_stopping={early_stopping!r}")
    if isinstance(objective, str) and objective not in OBJECTIVES:
        import difflib

        close = difflib.get_close_matches(objective, OBJECTIVES, n=2)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"`objective` must be one of {', '.join(OBJECTIVES)} (what a trial "
                         f"reports).{hint} Received: objective={objective!r}")
    check_int("epochs", epochs, minimum=1)
    check_int("seed", seed, minimum=0)
    check_int("factor", factor, minimum=2)
    check_int("median_min_trials", median_min_trials, minimum=1)
    check_int("median_grace_epochs", median_grace_epochs, minimum=1)
    check_float("validation_fraction", validation_fraction, minimum=0.0, maximum=1.0,
                min_inclusive=False, max_inclusive=False)
    for name, value in (("max_trials", max_trials), ("max_params", max_params),
                        ("hyperband_iterations", hyperband_iterations),
                        ("num_initial_points", num_initial_points),
                        ("retrain_epochs", retrain_epochs), ("image_size", image_size),
                        ("limit", limit)):
        if value is not None:
            check_int(name, value, minimum=1)
    if trial_seconds is not None:
        check_float("trial_seconds", trial_seconds, minimum=0.0, min_inclusive=False)


def search(space, data="digits", *, tuner="random", max_trials=10, epochs=3,
           output="kcnn_tune", overrides=None, objective="val_accuracy", seed=0,
           variant=None, image_size=None, validation_fraction=0.2, limit=None,
           max_params=None, trial_seconds=None, early_stopping="median",
           median_min_trials=3, median_grace_epochs=1, factor=3,
           hyperband_iterations=None, num_initial_points=None, retrain="train",
           retrain_epochs=None, overwrite=False, role=None, oracle_address=None,
           worker_id=None, callbacks=(), verbose=0):
    """Runs a hyperparameter sweep and writes its results to ``output``.

    Args:
        space: search space name (``kcnn.tuning.list_spaces()``) or SearchSpace class.
        data: dataset name or path (see ``kcnn.data.catalog``), a
            :class:`~kcnn.data.catalog.SweepData`, or arrays
            ``((x_train, y_train), (x_val, y_val)[, (x_test, y_test)])``.
        tuner: "random", "grid", "bayesian" or "hyperband".
        max_trials: trials to run (random, grid, Bayesian): the sweep samples until this
            many trials ran or the space is exhausted (models over ``max_params`` are
            skipped without counting). For Hyperband, which budgets
            by iterations, ``max_trials`` is mapped to
            ``hyperband_iterations = max_trials // T`` where T is the number of trainings
            of one iteration (:func:`~kcnn.tuning.tuners.hyperband_trials_per_iteration`);
            fewer than T is refused. Pass None to give ``hyperband_iterations`` instead.
        epochs: epochs per trial; Hyperband's ``max_epochs``.
        output: the output folder (resumed when it holds the same sweep).
        overrides: hyperparameters to fix or narrow (see :mod:`kcnn.tuning.hparams`).
        objective: metric to optimize ("val_accuracy", "val_loss", ...).
        seed: seed of the validation split, the sampling, each trial's weights and its
            shuffling (each trial's from ``seed`` and its id): the same seed repeats a sweep.
        variant: ResNet space: the named network whose values are the defaults.
        image_size, validation_fraction, limit: see :func:`kcnn.data.catalog.load_data`.
        max_params: skip models with more trainable parameters.
        trial_seconds: wall-clock budget of one trial.
        early_stopping: "median" or None (Hyperband stops bad trials by its brackets).
        median_min_trials, median_grace_epochs: see :func:`kcnn.tuning.early_stopping.median_stop`.
        factor, hyperband_iterations: Hyperband settings.
        num_initial_points: Bayesian random start.
        retrain: retrain the best configuration on "train", on "train+val", or "none".
        retrain_epochs: epochs of the retraining (default: those of the best trial).
        overwrite: discard a previous sweep in ``output``.
        role: None (one process), "chief" (serves the oracle; writes the results) or
            "worker" (runs trials for the chief at ``oracle_address``).
        oracle_address: the chief's ``HOST:PORT``.
        worker_id: this worker's id (unique per worker, without "chief").
        callbacks: extra Keras callbacks for every trial (deep-copied per trial).
        verbose: Keras verbosity of the trials; 1 also prints keras-tuner's progress.

    Returns:
        A :class:`SweepResult` (for a worker: without table or model).
    """
    from kcnn.data.catalog import SweepData, load_data
    from kcnn.tuning.distributed import check_role
    from kcnn.tuning.spaces import get_space
    from kcnn.tuning.tuners import hyperband_trials_per_iteration

    check_sweep_arguments(
        tuner=tuner, max_trials=max_trials, epochs=epochs, seed=seed, max_params=max_params,
        trial_seconds=trial_seconds, median_min_trials=median_min_trials,
        median_grace_epochs=median_grace_epochs, factor=factor,
        hyperband_iterations=hyperband_iterations, num_initial_points=num_initial_points,
        retrain=retrain, retrain_epochs=retrain_epochs, early_stopping=early_stopping,
        image_size=image_size, validation_fraction=validation_fraction, limit=limit,
        objective=objective)
    check_role(role, oracle_address, worker_id)
    early_stopping = None if early_stopping == "none" else early_stopping
    if tuner == "hyperband":
        per_iteration = hyperband_trials_per_iteration(epochs, factor)
        if max_trials is not None and hyperband_iterations is not None:
            raise ValueError("Give Hyperband either max_trials or hyperband_iterations, not "
                             f"both. Received: max_trials={max_trials}, "
                             f"hyperband_iterations={hyperband_iterations}")
        if max_trials is not None:
            if max_trials < per_iteration:
                raise ValueError(
                    f"One Hyperband iteration with max_epochs={epochs} and factor={factor} "
                    f"trains {per_iteration} models; max_trials={max_trials} cannot hold "
                    f"one. Use --max-trials >= {per_iteration} (mapped to "
                    f"max_trials // {per_iteration} iterations), fewer --epochs, a larger "
                    "--factor, or --hyperband-iterations.")
            hyperband_iterations = max_trials // per_iteration
        hyperband_iterations = hyperband_iterations or 1

    if isinstance(data, SweepData):
        sweep_data, data_name = data, data.name
    elif isinstance(data, (tuple, list)):
        import numpy as np

        parts = list(data) + [(None, None)] * (3 - len(data))
        (xt, yt), (xv, yv), (xs, ys) = parts[:3]
        sweep_data = SweepData("arrays", np.asarray(xt, "float32"), np.asarray(yt, "int32"),
                               np.asarray(xv, "float32"), np.asarray(yv, "int32"),
                               None if xs is None else np.asarray(xs, "float32"),
                               None if ys is None else np.asarray(ys, "int32"))
        data_name = "arrays"
    else:
        sweep_data = load_data(data, image_size=image_size,
                               validation_fraction=validation_fraction, seed=seed,
                               limit=limit)
        data_name = data
    space_name = space if isinstance(space, str) else space.name
    space_kwargs = {"variant": variant} if variant is not None else {}
    search_space = get_space(space, input_shape=sweep_data.input_shape,
                             num_classes=sweep_data.num_classes, overrides=overrides,
                             **space_kwargs)
    settings = {
        "space": space_name, "variant": getattr(search_space, "variant", None),
        "data": data_name if isinstance(data_name, str) else str(data_name),
        "image_size": image_size, "validation_fraction": validation_fraction,
        "limit": limit, "tuner": tuner, "objective": objective,
        "overrides": {k: _serialize_override(v) for k, v in (overrides or {}).items()},
        "seed": seed, "factor": factor if tuner == "hyperband" else None,
        "max_trials": max_trials, "epochs": epochs,
        "hyperband_iterations": hyperband_iterations, "max_params": max_params,
        "trial_seconds": trial_seconds, "early_stopping": early_stopping,
        "input_shape": list(sweep_data.input_shape), "num_classes": sweep_data.num_classes,
        "train_size": sweep_data.train_size, "validation_size": int(len(sweep_data.x_val)),
    }
    # One writer per sweep folder; a distributed sweep's workers write under the chief's.
    lock = FolderLock(output, what="sweep") if role != "worker" else None
    if lock is not None:
        lock.acquire()
    try:
        return _run(search_space, sweep_data, settings, output=output, role=role,
                    oracle_address=oracle_address, worker_id=worker_id, tuner=tuner,
                    max_trials=max_trials, epochs=epochs, objective=objective, seed=seed,
                    factor=factor, hyperband_iterations=hyperband_iterations,
                    num_initial_points=num_initial_points, max_params=max_params,
                    trial_seconds=trial_seconds, early_stopping=early_stopping,
                    median_min_trials=median_min_trials,
                    median_grace_epochs=median_grace_epochs, overwrite=overwrite,
                    callbacks=callbacks, verbose=verbose, retrain=retrain,
                    retrain_epochs=retrain_epochs, space_name=space_name)
    finally:
        if lock is not None:
            lock.release()


def _run(search_space, sweep_data, settings, *, output, role, oracle_address, worker_id,
         tuner, max_trials, epochs, objective, seed, factor, hyperband_iterations,
         num_initial_points, max_params, trial_seconds, early_stopping, median_min_trials,
         median_grace_epochs, overwrite, callbacks, verbose, retrain, retrain_epochs,
         space_name):
    from kcnn.tuning import report
    from kcnn.tuning.distributed import distributed_env
    from kcnn.tuning.tuners import make_tuner

    _check_settings(output, settings, overwrite and role != "worker", role)
    with distributed_env(role, oracle_address, worker_id):
        kt_tuner = make_tuner(
            search_space, tuner=tuner, max_trials=max_trials, epochs=epochs,
            objective=objective, directory=output, project_name=PROJECT,
            overwrite=bool(overwrite) and role != "worker", seed=seed, factor=factor,
            hyperband_iterations=hyperband_iterations,
            num_initial_points=num_initial_points, max_model_size=max_params,
            trial_seconds=trial_seconds, early_stopping=early_stopping,
            median_min_trials=median_min_trials, median_grace_epochs=median_grace_epochs)
        kt_tuner.search(sweep_data, callbacks=list(callbacks), verbose=verbose)
    if role == "worker":
        return SweepResult(output, [], None, None, {}, (), None, kt_tuner)

    project_dir = os.path.join(output, PROJECT)
    oracle = kt_tuner.oracle
    rows = report.trial_rows(oracle, project_dir=project_dir)
    paths = report.write_table(rows, output,
                               order=[hp.name for hp in search_space.search_space().space])
    plot = report.plot_scores(rows, search_space.main, os.path.join(output, "scores.png"),
                              title=f"{space_name} on {settings['data']} ({tuner})")
    best = next((r for r in rows if r["score"] is not None), None)
    model_path, metrics = None, {}
    if best is not None and retrain not in ("none", None):
        model_path, metrics = _retrain(search_space, kt_tuner, best, sweep_data, output,
                                       retrain=retrain, epochs=retrain_epochs or None,
                                       default_epochs=epochs, seed=seed, verbose=verbose)
    stop_reason = None if tuner == "hyperband" else getattr(oracle, "stop_reason", None)
    return SweepResult(output, rows, best, model_path, metrics, paths, plot, kt_tuner,
                       stop_reason=stop_reason, oversized=list(getattr(oracle, "oversized",
                                                                      [])))


def _retrain(space, kt_tuner, best, data, output, *, retrain, epochs, default_epochs, seed,
             verbose):
    """Trains the best configuration from scratch and saves it as ``best_model.keras``."""
    from kcnn.tuning.spaces import model_structure
    from kcnn.tuning.tuners import _jsonable

    trial = kt_tuner.oracle.trials[best["trial_id"]]
    hp = trial.hyperparameters.copy()
    epochs = epochs or int(hp.values.get("tuner/epochs", default_epochs))
    with_val = retrain == "train+val"
    path = os.path.join(output, "best_model.keras")
    info_path = os.path.join(output, "best.json")
    if os.path.exists(path) and os.path.exists(info_path):
        # A finished sweep run again: the same best model is not trained twice.
        with open(info_path) as f:
            info = json.load(f)
        if (info.get("trial_id"), info.get("retrained_on"), info.get("epochs")) == \
                (best["trial_id"], retrain, epochs):
            return path, info.get("metrics", {})
    model = kt_tuner.train_from_scratch(hp, data, epochs=epochs, seed=seed,
                                        include_validation=with_val, verbose=verbose)
    bs = int(space.training(hp)["batch_size"])
    transform = space.transform(hp.values)
    metrics = {}
    for split in ("val", "test"):
        if split == "val" and with_val:
            continue
        if split == "test" and data.x_test is None:
            continue
        result = model.evaluate(data.batches(split, bs, transform=transform), verbose=0,
                                return_dict=True)
        metrics.update({f"{split}_{k}": float(v) for k, v in result.items()})
    with atomic_path(path) as tmp:
        model.save(tmp)
    atomic_json(info_path, _jsonable({
        "trial_id": best["trial_id"], "score": best["score"], "objective": best["objective"],
        "hyperparameters": best["hyperparameters"],
        "builder": f"{type(space).__module__}.{type(space).__name__}.build_model",
        "builder_kwargs": space.model_kwargs(hp.copy()),
        "retrained_on": retrain, "epochs": epochs, "metrics": metrics,
        "params": model_structure(model)["params"], "model": os.path.basename(path),
    }))
    return path, metrics
