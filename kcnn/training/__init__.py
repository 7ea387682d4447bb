"""What recipes share: configuration and command line, run folders, precision, strategy,
the training engines, evaluation and reports.

A recipe file declares its settings as a frozen dataclass subclassing ``Config`` (each
field typed, with a default, help and bounds, ``kcnn.training.config``), defines
``RECIPE = kcnn.training.Recipe(name=..., config=..., data=..., model=..., preset=...,
compile_args=..., callbacks=..., evaluate=..., smoke={...})`` and
``main(argv=None) -> RECIPE.main(argv)`` (see ``kcnn.training.recipe`` for the hooks).
``RECIPE.main`` parses the command line and validates every setting (a refused command
writes nothing), and ``run`` then

1. creates the strategy (``--strategy``) and checks the run folder (``RunDirectory``):
   same configuration -> resume or report the finished run, different -> refuse;
   ``--overwrite`` starts afresh (the old run is deleted when training starts, step 4);
2. seeds (``--seed``, ``--deterministic``), sets the dtype policy (``--precision``);
3. builds data, then the model, and inside ``strategy.scope()`` the recipe's schedule
   preset, once: its optimizer goes to ``model.compile``, its callbacks to training;
4. writes config.json with the software versions (training starts), trains with
   ``model.fit`` (default, mirrored) or kcnn's ``strategy.run`` loop (multi_worker), with
   checkpoints, backup, history, TensorBoard and the NaN guard;
5. saves model.keras, evaluates the test set (top-1/top-5, centre or multi-crop), writes
   metrics.json and curves.png, prints the summary and ``test accuracy: 0.xxxx``.

Helpers for image classifiers live in ``kcnn.training.classification`` (compile
arguments, the schedule preset bound to a run) and ``kcnn.training.imagenet``
(``image_folder_recipe``); ``kcnn.training.toy`` is a recipe that trains in seconds.
``kcnn train <recipe>`` finds recipe files as ``kcnn.training.cli`` describes.
"""

from kcnn.training.callbacks import (EpochCheckpoint, HistoryWriter, NaNGuard, SummaryWriter,
                                     Throughput, TrainingDivergedError, current_learning_rate)
from kcnn.training.cli import available_recipes, cli_main, find_recipe, load_recipe_module
from kcnn.training.config import COMMON_DEFAULTS, Config, Setting, setting
from kcnn.training.environment import (PRECISIONS, STRATEGIES, is_chief, make_strategy,
                                       resolve_precision, set_precision, set_seed, versions)
from kcnn.training.evaluation import evaluate, main_output
from kcnn.training.loop import fit_distributed, fit_keras
from kcnn.training.recipe import Data, Recipe, Setup, default_output, run
from kcnn.training.rundir import ConfigMismatchError, RunDirectory

__all__ = [
    "COMMON_DEFAULTS", "Config", "ConfigMismatchError", "Data", "EpochCheckpoint",
    "HistoryWriter", "NaNGuard", "PRECISIONS", "Recipe", "RunDirectory", "STRATEGIES",
    "SummaryWriter", "Throughput", "TrainingDivergedError", "available_recipes", "cli_main",
    "current_learning_rate", "default_output", "evaluate", "find_recipe", "fit_distributed",
    "fit_keras", "is_chief", "load_recipe_module", "main_output", "make_strategy", "run",
    "resolve_precision", "set_precision", "set_seed", "Setting", "setting", "Setup",
    "versions",
]
