"""What recipes share: configuration and command line, run folders, precision, strategy,
the training engines, evaluation and reports.

Write a recipe as a ``Recipe`` (see ``kcnn.training.recipe``) and call ``RECIPE.main()``;
``kcnn train <recipe>`` finds recipe files as ``kcnn.training.cli`` describes.
"""

from kcnn.training.callbacks import (EpochCheckpoint, HistoryWriter, NaNGuard, SummaryWriter,
                                     Throughput, TrainingDivergedError, current_learning_rate)
from kcnn.training.cli import available_recipes, cli_main, find_recipe, load_recipe_module
from kcnn.training.config import COMMON_DEFAULTS, Config
from kcnn.training.environment import (PRECISIONS, STRATEGIES, is_chief, make_strategy,
                                       resolve_precision, set_precision, set_seed, versions)
from kcnn.training.evaluation import evaluate, main_output
from kcnn.training.loop import fit_distributed, fit_keras
from kcnn.training.recipe import Data, Recipe, default_output, run
from kcnn.training.rundir import ConfigMismatchError, RunDirectory

__all__ = [
    "COMMON_DEFAULTS", "Config", "ConfigMismatchError", "Data", "EpochCheckpoint",
    "HistoryWriter", "NaNGuard", "PRECISIONS", "Recipe", "RunDirectory", "STRATEGIES",
    "SummaryWriter", "Throughput", "TrainingDivergedError", "available_recipes", "cli_main",
    "current_learning_rate", "default_output", "evaluate", "find_recipe", "fit_distributed",
    "fit_keras", "is_chief", "load_recipe_module", "main_output", "make_strategy", "run",
    "resolve_precision", "set_precision", "set_seed", "versions",
]
