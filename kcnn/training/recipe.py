"""Recipes: a paper's training settings plus the functions that build data, model and
optimizer, and the runner that trains them into a run folder.

A recipe file (``recipes/<model>_<dataset>.py``) declares its settings as a frozen
dataclass (``kcnn.training.config``) and defines ``RECIPE = training.Recipe(...)`` and
``main(argv=None)``::

    import dataclasses
    from kcnn import training

    @dataclasses.dataclass(frozen=True)
    class CifarConfig(training.Config):
        model: str = training.setting("resnet20", "registry name of the network")
        epochs: int = 182
        batch_size: int = 128
        lr: float | None = training.setting(None, "initial rate (default: the preset's)")

    def data(cfg):                      # -> training.Data (batched tf.data pipelines)
        ...
    def model(cfg, data):               # built inside the strategy's scope
        return kcnn.build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes)

    RECIPE = training.Recipe(name="resnet_cifar10", description="...", config=CifarConfig,
                             data=data, model=model, preset="resnet_cifar",
                             smoke={"epochs": 1, "steps_per_epoch": 2})

    def main(argv=None):
        return RECIPE.main(argv)

    if __name__ == "__main__":
        raise SystemExit(main())

A recipe names a ``kcnn.schedules`` preset (the paper's optimizer, rate, momentum, weight
decay and schedule; see ``kcnn.training.classification.schedule_preset`` for the settings
that adjust it), or gives an ``optimizer(cfg, data)`` hook. A run builds the preset once and
passes its optimizer to ``model.compile`` and its callbacks to ``fit``. ``RECIPE.main``
parses the command line (one option per setting), trains with ``run`` and prints a summary
whose last line is ``test accuracy: 0.xxxx``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from kcnn.training import config as config_lib

__all__ = ["Data", "Recipe", "Setup", "default_output", "run"]

# Set on a ValueError or TypeError that ``run`` raised after training started: settings,
# data, model and optimizer were accepted, so ``Recipe.main`` shows it as the bug it is
# instead of refusing the command in one line.
_DURING_TRAINING = "_kcnn_during_training"


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


@dataclasses.dataclass(frozen=True)
class Setup:
    """How a run trains, built once: ``model.compile`` arguments (optimizer included), the
    callbacks that drive the learning rate, and the preset they come from (or None)."""

    compile_args: Mapping
    callbacks: list
    preset: Any = None


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe.

    Attributes:
        name: recipe name (the file name without ``.py``); the default run folder is
            ``./runs/<name>``.
        description: one paragraph for ``--help``.
        data: ``data(cfg) -> Data``; must honour ``cfg.smoke`` (tiny generated data, see
            ``kcnn.data.synthetic``).
        model: ``model(cfg, data) -> keras.Model``, called inside the strategy's scope.
        config: the recipe's frozen :class:`kcnn.training.Config` subclass (its defaults
            are the paper's settings). Without it, ``defaults`` (with ``help`` and
            ``choices``) declares the settings, typed by their default values.
        preset: ``kcnn.schedules`` preset name, or ``preset(cfg) -> name``: the run builds
            it once (``classification.schedule_preset``) and trains with its optimizer and
            callbacks.
        optimizer: ``optimizer(cfg, data) -> keras optimizer`` for recipes without a
            preset.
        compile_args: ``compile_args(cfg, data) -> dict`` of the other ``model.compile``
            arguments (loss, loss_weights, metrics); default: sparse categorical
            cross-entropy and accuracy. ``jit_compile`` is added from the configuration.
        callbacks: optional ``callbacks(cfg, data, run) -> list`` of extra Keras callbacks
            (``run.schedule_state_path`` is where learning-rate callbacks keep their state
            for resuming); they run after the preset's and before kcnn's writers, so a
            learning rate they put into the epoch logs reaches history.csv and TensorBoard.
        evaluate: optional ``evaluate(cfg, model, data) -> dict`` replacing the default
            test evaluation (``kcnn.training.evaluate``); must return ``"accuracy"`` in [0, 1].
        smoke: settings applied by ``--smoke`` unless given explicitly (tiny sizes, one
            epoch, one or two steps); ``run_eagerly`` is always among them, since running
            two steps eagerly is quicker than tracing the train step.
        defaults, help, choices: settings declared as a flat dictionary (when ``config``
            is None).
    """

    name: str
    description: str
    data: Callable
    model: Callable
    config: type | None = None
    preset: str | Callable | None = None
    optimizer: Callable | None = None
    compile_args: Callable | None = None
    callbacks: Callable | None = None
    evaluate: Callable | None = None
    smoke: Mapping = dataclasses.field(default_factory=dict)
    defaults: Mapping = dataclasses.field(default_factory=dict)
    help: Mapping = dataclasses.field(default_factory=dict)
    choices: Mapping = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.config is None:
            object.__setattr__(self, "config", config_lib.config_class(
                self.name, self.defaults, help=self.help, choices=self.choices))
        elif not (isinstance(self.config, type) and issubclass(self.config, config_lib.Config)
                  and dataclasses.is_dataclass(self.config)):
            raise TypeError("`config` must be a dataclass subclassing kcnn.training.Config. "
                            f"Received: config={self.config!r}")
        if (self.preset is None) == (self.optimizer is None):
            raise ValueError(f"Recipe {self.name!r} must give exactly one of `preset` (a "
                             "kcnn.schedules preset name) and `optimizer` (a hook). "
                             f"Received: preset={self.preset!r}, optimizer={self.optimizer!r}")
        if isinstance(self.preset, str):
            from kcnn.schedules import PRESETS

            if self.preset not in PRESETS:
                import difflib

                close = difflib.get_close_matches(self.preset, PRESETS, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(f"`preset` must be one of {', '.join(map(repr, PRESETS))}."
                                 f"{hint} Received: preset={self.preset!r}")
        unknown = set(self.smoke) - {s.name for s in self.config.settings()}
        if unknown:
            raise ValueError(f"`smoke` names unknown settings of {self.name!r}: "
                             f"{sorted(unknown)}. Received: smoke={dict(self.smoke)!r}")

    @property
    def settings(self):
        """The :class:`kcnn.training.config.Setting` of every setting."""
        return self.config.settings()

    @property
    def all_defaults(self):
        """``{setting: default}`` (the paper's values)."""
        return {s.name: s.default for s in self.settings}

    def parser(self):
        return config_lib.build_parser(self.name, self.description, self.settings)

    def parse(self, argv=None):
        """Parses and validates a command line; returns ``(cfg, run_options)``."""
        args = self.parser().parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
        names = {s.name for s in self.settings}
        given = {k: v for k, v in vars(args).items() if k in names and v is not None}
        given.update(config_lib.parse_overrides(args.overrides, self.settings))
        return self.configure(**given), {"output": args.output, "overwrite": args.overwrite,
                                          "verbose": args.verbose}

    def configure(self, **settings):
        """The validated configuration for ``settings`` over the defaults (the smoke
        settings apply when ``smoke`` is set and the user did not give that setting)."""
        names = {s.name for s in self.settings}
        unknown = set(settings) - names
        if unknown:
            import difflib

            hints = [f"{k!r} (did you mean {', '.join(map(repr, close))}?)" if close else repr(k)
                     for k in sorted(unknown)
                     for close in [difflib.get_close_matches(k, names, n=2)]]
            raise ValueError(f"Unknown settings for recipe {self.name!r}: {', '.join(hints)}. "
                             f"Received: {settings!r}")
        smoke = settings.get("smoke", self.all_defaults.get("smoke", False))
        values = dict({"run_eagerly": True, **self.smoke} if smoke else {})
        values.update(settings)
        return self.config(**values)

    def setup(self, cfg, data, run=None):
        """The optimizer (the preset's, built once, or the ``optimizer`` hook's), the other
        compile arguments and the learning-rate callbacks of a run, as a :class:`Setup`."""
        from kcnn.training import classification

        preset = None
        callbacks = []
        if self.preset is not None:
            name = self.preset(cfg) if callable(self.preset) else self.preset
            preset = classification.schedule_preset(name, cfg, data, run)
            optimizer = preset.make_optimizer()
            callbacks = list(preset.callbacks)
        else:
            optimizer = self.optimizer(cfg, data)
        if self.compile_args is not None:
            extra = dict(self.compile_args(cfg, data))
        else:
            extra = classification.classifier_compile(num_classes=data.num_classes, top5=False)
        return Setup(compile_args={"optimizer": optimizer, **extra}, callbacks=callbacks,
                     preset=preset)

    def run(self, cfg=None, *, output=None, overwrite=False, verbose=1, **settings):
        """Trains and evaluates; see ``kcnn.training.run``."""
        cfg = cfg if cfg is not None else self.configure(**settings)
        return run(self, cfg, output=output, overwrite=overwrite, verbose=verbose)

    def main(self, argv=None, *, runner=None):
        """Command-line entry point; returns the exit code (2 for a refused command).

        ``runner(cfg, **options)`` replaces ``run(self, cfg, **options)`` for a recipe that
        chains several runs (``recipes/finetune_folder.py``) and returns the last one's
        metrics; refusals, divergence and Ctrl-C are reported the same way. A bad setting,
        data folder or model refuses the command in one line; a ``ValueError`` or
        ``TypeError`` raised once training started is a bug and keeps its traceback.
        """
        from kcnn.training.callbacks import TrainingDivergedError
        from kcnn._io import FolderBusyError
        from kcnn.training.rundir import ConfigMismatchError

        try:
            cfg, options = self.parse(argv)
            metrics = (runner or functools.partial(run, self))(cfg, **options)
        except (ConfigMismatchError, TrainingDivergedError, ValueError, TypeError,
                FolderBusyError) as error:
            if getattr(error, _DURING_TRAINING, False):
                raise  # a bug once training started: keep its traceback
            print(f"error: {error}", file=sys.stderr)
            return 1 if isinstance(error, TrainingDivergedError) else 2
        except KeyboardInterrupt:  # one line: what was saved, the command that resumes
            from kcnn.training.report import interrupted

            return interrupted()
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
    except (ValueError, TypeError) as error:
        if run_dir.started:  # the settings were accepted: a bug, not a refused command
            setattr(error, _DURING_TRAINING, True)
        raise
    finally:
        run_dir.cleanup()  # releases the folder's lock


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

    data = recipe.data(cfg)
    train = data.train
    steps = cfg.steps_per_epoch
    if steps:
        train = train.repeat()
    steps_needed = math.ceil(data.train_size / cfg.batch_size) if data.train_size else None
    with strategy.scope():
        model = recipe.model(cfg, data)
        setup = recipe.setup(cfg, data, run_dir)  # the preset, built once
        model.compile(**setup.compile_args, jit_compile=cfg.jit_compile,
                      run_eagerly=cfg.run_eagerly and not cfg.jit_compile)
    extra = list(recipe.callbacks(cfg, data, run_dir)) if recipe.callbacks else []

    # Training starts: only now is the configuration written, so a command refused while
    # the data, model or optimizer were built leaves no run behind.
    run_dir.write_config(resolved={"precision": policy, "strategy": cfg.strategy,
                                   "replicas": replicas}, versions=env.versions())
    if run_dir.resumed:
        say(f"Resuming the run in {run_dir.root}")
    throughput = Throughput(cfg.batch_size)
    callbacks = [*setup.callbacks, *extra, NaNGuard(run_dir), throughput,
                 HistoryWriter(run_dir), SummaryWriter(run_dir.log_dir),
                 EpochCheckpoint(run_dir, keep=2)]
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

    run_dir.save_model(model)
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
    metrics.update(report.run_notes())
    write_json(run_dir.metrics_path, metrics)
    if rows and chief:
        report.plot_history(rows, run_dir.plot_path, title=f"{recipe.name} ({model.name})")
    shutil.rmtree(run_dir.backup_dir, ignore_errors=True)
    for line in report.summary_lines(metrics, run_dir=run_dir.root):
        say(line)
    return {**metrics, "chief": chief}
