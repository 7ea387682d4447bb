"""Recipes: a paper's training settings plus the functions that build data, model and
optimizer, and the runner that trains them into a run folder.

A recipe file (``recipes/<model>_<dataset>.py``) defines ``RECIPE = training.Recipe(...)``
and ``main(argv=None)``::

    from kcnn import training

    def data(cfg):                      # -> training.Data (batched tf.data pipelines)
        ...
    def model(cfg, data):               # built inside the strategy's scope
        return kcnn.build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes)
    def compile(cfg, data):             # keyword arguments of model.compile
        return {"optimizer": ..., "loss": ..., "metrics": [...]}

    RECIPE = training.Recipe(name="lenet5_digits", description="...",
                             defaults={"epochs": 30, "batch_size": 32, "lr": 1e-3, ...},
                             data=data, model=model, compile=compile,
                             smoke={"epochs": 1, "steps_per_epoch": 2})

    def main(argv=None):
        return RECIPE.main(argv)

    if __name__ == "__main__":
        raise SystemExit(main())

``RECIPE.main`` parses the command line (one option per setting, see
``kcnn.training.config``), trains with ``run`` and prints a summary whose last line is
``test accuracy: 0.xxxx``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from kcnn.training import config as config_lib
from kcnn.training.config import COMMON_CHOICES, COMMON_DEFAULTS, COMMON_HELP


@dataclasses.dataclass
class Data:
    """The datasets of a run, as batched ``tf.data`` pipelines of ``(x, y)``.

    Attributes:
        train: training batches of the global batch size (shuffled, augmented, prefetched).
        test: held-out batches; ``x`` of rank 5 means several crops per image (averaged).
        validation: optional batches evaluated after every epoch (``val_`` metrics).
        num_classes: number of classes.
        input_shape: shape of one model input, e.g. ``(32, 32, 1)``.
        train_size: training examples per epoch (for steps per epoch and images/s).
        test_size: held-out examples.
        description: one line for the summary, e.g. ``"digits 1437/360 (sklearn)"``.
        eval_protocol: name of the test protocol (``"center crop"``, ``"ten crops"``).
    """

    train: Any
    test: Any
    validation: Any = None
    num_classes: int | None = None
    input_shape: tuple | None = None
    train_size: int | None = None
    test_size: int | None = None
    description: str = ""
    eval_protocol: str | None = None


@dataclasses.dataclass
class Recipe:
    """A paper's training recipe.

    Attributes:
        name: recipe name (the file name without ``.py``); the default run folder is
            ``./runs/<name>``.
        description: one paragraph for ``--help``.
        defaults: the paper's settings; merged over ``COMMON_DEFAULTS`` (``epochs``,
            ``batch_size``, ``seed``, ``deterministic``, ``precision``, ``jit_compile``,
            ``run_eagerly``, ``strategy``, ``steps_per_epoch``, ``smoke``).
        data: ``data(cfg) -> Data``; must honour ``cfg.smoke`` (tiny generated data, see
            ``kcnn.data.synthetic``).
        model: ``model(cfg, data) -> keras.Model``, called inside the strategy's scope.
        compile: ``compile(cfg, data) -> dict`` of ``model.compile`` arguments (optimizer,
            loss, loss_weights, metrics); ``jit_compile`` is added from the configuration.
        callbacks: optional ``callbacks(cfg, data, run) -> list`` of extra Keras callbacks
            (learning-rate schedules; ``run.schedule_state_path`` is where they keep their
            state for resuming); they run before kcnn's writers, so a learning rate they put
            into the epoch logs reaches history.csv and TensorBoard.
        evaluate: optional ``evaluate(cfg, model, data) -> dict`` replacing the default
            test evaluation (``kcnn.training.evaluate``); must return ``"accuracy"`` in [0, 1].
        smoke: settings applied by ``--smoke`` unless given explicitly (tiny sizes, one
            epoch, one or two steps); ``run_eagerly`` is always among them, since running
            two steps eagerly is quicker than tracing the train step.
        help: help text per setting.
        choices: allowed values per setting.
    """

    name: str
    description: str
    defaults: Mapping
    data: Callable
    model: Callable
    compile: Callable
    callbacks: Callable | None = None
    evaluate: Callable | None = None
    smoke: Mapping = dataclasses.field(default_factory=dict)
    help: Mapping = dataclasses.field(default_factory=dict)
    choices: Mapping = dataclasses.field(default_factory=dict)

    @property
    def all_defaults(self):
        return {**COMMON_DEFAULTS, **self.defaults}

    def parser(self):
        return config_lib.build_parser(
            self.name, self.description, self.all_defaults,
            help={**COMMON_HELP, **self.help}, choices={**COMMON_CHOICES, **self.choices})

    def parse(self, argv=None):
        """Parses a command line; returns ``(cfg, run_options)``."""
        args = self.parser().parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
        given = {k: v for k, v in vars(args).items()
                 if k in self.all_defaults and v is not None}
        given.update(config_lib.parse_overrides(args.overrides, self.all_defaults))
        return self.config(**given), {"output": args.output, "overwrite": args.overwrite,
                                      "verbose": args.verbose}

    def config(self, **settings):
        """The resolved configuration for ``settings`` over the defaults."""
        return config_lib.resolve(self.all_defaults, given=settings,
                                  smoke_overrides={"run_eagerly": True, **self.smoke})

    def run(self, cfg=None, *, output=None, overwrite=False, verbose=1, **settings):
        """Trains and evaluates; see ``kcnn.training.run``."""
        cfg = cfg if cfg is not None else self.config(**settings)
        return run(self, cfg, output=output, overwrite=overwrite, verbose=verbose)

    def main(self, argv=None):
        """Command-line entry point; returns the exit code."""
        from kcnn.training.callbacks import TrainingDivergedError
        from kcnn.training.rundir import ConfigMismatchError

        try:
            cfg, options = self.parse(argv)
            metrics = run(self, cfg, **options)
        except (ConfigMismatchError, TrainingDivergedError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1 if isinstance(error, TrainingDivergedError) else 2
        if metrics.get("chief", True):
            print(f"test accuracy: {metrics['test_accuracy']:.4f}", flush=True)
        return 0


def default_output(name, *, smoke=False):
    """``./runs/<name>`` (``./runs/<name>_smoke`` for smoke runs)."""
    return os.path.join("runs", f"{name}_smoke" if smoke else name)


def run(recipe, cfg, *, output=None, overwrite=False, verbose=1):
    """Trains ``recipe`` with configuration ``cfg`` into a run folder and evaluates it.

    Resumes an interrupted run with the same configuration from its last finished epoch;
    a finished run is reported again without training.

    Returns:
        The metrics dict written to ``metrics.json`` (``test_accuracy`` in [0, 1]).

    Raises:
        ConfigMismatchError: the folder holds a different configuration (and not
            ``overwrite``).
        TrainingDivergedError: the loss became NaN or infinite.
    """
    from kcnn.training import environment as env
    from kcnn.training.rundir import RunDirectory

    # A multi-worker strategy must exist before TensorFlow runs any operation.
    strategy = env.make_strategy(cfg.strategy)
    chief = env.is_chief()
    say = print if (chief and verbose) else (lambda *a, **k: None)
    folder = output or default_output(recipe.name, smoke=cfg.smoke)
    run_dir = RunDirectory(folder, recipe=recipe.name, config=cfg.to_dict(),
                           overwrite=overwrite, chief=chief)
    try:
        return _train(recipe, cfg, run_dir, strategy=strategy, chief=chief, say=say,
                      verbose=verbose)
    finally:
        run_dir.cleanup()  # a non-chief worker's temporary folder


def _train(recipe, cfg, run_dir, *, strategy, chief, say, verbose):
    """``run`` once the strategy and run folder exist."""
    from kcnn.training import environment as env
    from kcnn.training import evaluation, loop, report
    from kcnn.training.callbacks import (EpochCheckpoint, HistoryWriter, NaNGuard,
                                         SummaryWriter, Throughput)
    from kcnn.training.rundir import write_json

    finished = run_dir.finished_metrics()
    if finished is not None:
        for line in report.summary_lines(finished, run_dir=run_dir.root):
            say(line)
        say("(this run had finished; --overwrite trains it again)")
        return {**finished, "chief": chief}

    env.set_seed(cfg.seed, deterministic=cfg.deterministic)
    policy = env.set_precision(cfg.precision)
    hint = env.precision_hint(cfg.precision, policy)
    if hint:
        say(hint)
    replicas = strategy.num_replicas_in_sync
    run_dir.write_config(resolved={"precision": policy, "strategy": cfg.strategy,
                                   "replicas": replicas}, versions=env.versions())
    if run_dir.resumed:
        say(f"Resuming the run in {run_dir.root}")

    data = recipe.data(cfg)
    train = data.train
    steps = cfg.steps_per_epoch
    if steps:
        train = train.repeat()
    steps_needed = math.ceil(data.train_size / cfg.batch_size) if data.train_size else None
    with strategy.scope():
        model = recipe.model(cfg, data)
        model.compile(**recipe.compile(cfg, data), jit_compile=cfg.jit_compile,
                      run_eagerly=cfg.run_eagerly and not cfg.jit_compile)

    throughput = Throughput(cfg.batch_size)
    extra = list(recipe.callbacks(cfg, data, run_dir)) if recipe.callbacks else []
    callbacks = [*extra, NaNGuard(run_dir), throughput, HistoryWriter(run_dir),
                 SummaryWriter(run_dir.log_dir), EpochCheckpoint(run_dir, keep=2)]
    say(f"{recipe.name}: {model.name} ({model.count_params():,} parameters) on "
        f"{data.description}; {policy}, {replicas} replica(s); run folder {run_dir.root}")
    start = time.perf_counter()
    try:
        if cfg.strategy == "multi_worker":
            loop.fit_distributed(model, train, strategy=strategy, epochs=cfg.epochs,
                                 steps_per_epoch=steps or steps_needed, run=run_dir,
                                 callbacks=callbacks, validation=data.validation,
                                 verbose=verbose)
        else:
            loop.fit_keras(model, train, epochs=cfg.epochs, run=run_dir, callbacks=callbacks,
                           validation=data.validation, steps_per_epoch=steps,
                           verbose=verbose if chief else 0)
    finally:
        wall = time.perf_counter() - start

    model.save(run_dir.model_path)
    if recipe.evaluate is not None:
        result = recipe.evaluate(cfg, model, data)
    else:
        result = evaluation.evaluate(model, data.test, run_eagerly=cfg.run_eagerly)
    rows = run_dir.read_history()
    metrics = {
        "recipe": recipe.name, "model": model.name, "completed": True,
        "test_accuracy": float(result["accuracy"]),
        **{f"test_{k}": float(v) for k, v in result.items()
           if k not in ("accuracy", "examples")},
        "test_examples": int(result.get("examples", data.test_size or 0)),
        "eval_protocol": data.eval_protocol,
        "epochs": cfg.epochs, "epochs_done": len(rows), "resumed": run_dir.resumed,
        "train_seconds": throughput.seconds, "wall_seconds": wall,
        "images_per_second": throughput.images_per_second,
        "precision": policy, "strategy": cfg.strategy, "replicas": replicas,
        "final_epoch": rows[-1] if rows else None, "model_path": run_dir.model_path,
    }
    write_json(run_dir.metrics_path, metrics)
    if rows and chief:
        report.plot_history(rows, run_dir.plot_path, title=f"{recipe.name} ({model.name})")
    shutil.rmtree(run_dir.backup_dir, ignore_errors=True)
    for line in report.summary_lines(metrics, run_dir=run_dir.root):
        say(line)
    return {**metrics, "chief": chief}
