"""Hyperparameter sweeps over the classic networks with keras-tuner.

Search spaces (``convnet``, ``resnet``, ``vgg``, ``googlenet``, ``alphago_policy``) call
kcnn's builders and declare each hyperparameter once with the paper's value as default (the
training defaults come from the paper's ``kcnn.schedules`` preset); per-stage and per-layer
hyperparameters sit in conditional scopes. Any hyperparameter can be fixed or narrowed with
``overrides`` (``--set`` on the command line). :func:`search` runs keras-tuner's random,
grid, Bayesian or Hyperband tuner with kcnn's fixes (see
:mod:`kcnn.tuning.keras_tuner_fixes`), resumes interrupted sweeps, and writes a ranked
table, a plot and the retrained best model into one folder::

    import kcnn.tuning
    from kcnn.tuning import Range

    result = kcnn.tuning.search(
        "convnet", "digits", tuner="bayesian", max_trials=20, epochs=5,
        output="runs/digits", image_size=16,
        overrides={"num_stages": Range(1, 3), "filters": [8, 16, 32], "dense_layers": 1})
    result.best, result.best_model_path

The same from the command line: ``kcnn tune convnet --data digits --image-size 16
--tuner bayesian --max-trials 20 --epochs 5 --output runs/digits --set num_stages=1:3
--set filters=8,16,32 --set dense_layers=1``.

Modules: ``spaces`` (hypermodels), ``hparams`` (declaring and overriding), ``optim``
(training hyperparameters), ``tuners`` (the tuner: compile, fit, Hyperband state),
``keras_tuner_fixes`` (every workaround of keras-tuner), ``early_stopping`` (median rule,
time budget), ``distributed`` (chief/worker), ``memory``, ``sweep`` (end to end),
``report`` (table and plot), ``cli`` (``kcnn tune``). The datasets are
:mod:`kcnn.data.catalog`'s.

keras-tuner is an optional dependency: ``pip install "kcnn[tuning]"``.
"""

try:
    import keras_tuner as _keras_tuner  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised in a fresh process by the tests
    raise ImportError(
        "kcnn.tuning needs keras-tuner, which is not installed: pip install "
        "\"kcnn[tuning]\" (or pip install \"keras-tuner>=1.4.7,<1.5\").") from _error

from kcnn.data.catalog import SweepData, load_data
from kcnn.tuning.cli import cli_main
from kcnn.tuning.early_stopping import median_stop
from kcnn.tuning.hparams import Range, describe_space, parse_overrides
from kcnn.tuning.spaces import (SPACES, AlphaGoPolicySpace, ConvNetSpace, GoogLeNetSpace,
                                ResNetSpace, SearchSpace, VGGSpace, get_space, list_spaces,
                                model_structure)
from kcnn.tuning.sweep import SweepResult, search
from kcnn.tuning.tuners import (TUNERS, SweepTuner, hyperband_trials_per_iteration,
                                make_tuner, trial_seed)

__all__ = ["search", "SweepResult", "get_space", "list_spaces", "SPACES", "SearchSpace",
           "ConvNetSpace", "ResNetSpace", "VGGSpace", "GoogLeNetSpace", "AlphaGoPolicySpace",
           "Range", "parse_overrides", "describe_space", "make_tuner", "SweepTuner",
           "TUNERS", "median_stop", "hyperband_trials_per_iteration", "trial_seed",
           "SweepData", "load_data", "model_structure", "cli_main"]
