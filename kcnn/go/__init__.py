"""Go for the AlphaGo networks: rules, SGF records, the 48 feature planes, symmetries, data.

    >>> import kcnn.go
    >>> game = kcnn.go.read_sgf("game.sgf")
    >>> for state, move in kcnn.go.replay(game):
    ...     x = kcnn.go.features(state)          # (19, 19, 48) uint8
    ...     label = None if move is None else move[0] * 19 + move[1]

Silver et al. 2016, "Mastering the game of Go with deep neural networks and tree search",
Nature 529: the policy network's input is 48 planes (Extended Data Table 2) computed from
KGS records; the value network adds a 49th. ``kcnn.go.convert`` turns SGF collections into
training shards, ``kcnn.go.dataset`` reads them as a ``tf.data`` pipeline with random
symmetries, ``kcnn.go.predict_move`` and ``kcnn.go.evaluate_policy`` use a trained network.

The engine is compiled with numba on first use (cached on disk afterwards). numba and
sgfmill are optional dependencies: ``pip install "kcnn[go]"``.
"""

import importlib.util as _util

_missing = [p for p in ("numba", "sgfmill") if _util.find_spec(p) is None]
if _missing:
    raise ImportError(f"kcnn.go needs {' and '.join(_missing)}, not installed: pip install "
                      f"\"kcnn[go]\" (or pip install {' '.join(_missing)}).")

from kcnn.go.board import BLACK, EMPTY, WHITE, GoState, IllegalMoveError
from kcnn.go.convert import convert
from kcnn.go.dataset import dataset, load_metadata, read_split
from kcnn.go.planes import FEATURE_SETS, PLANE_NAMES, features, num_planes
from kcnn.go.sgf import (Game, SgfError, SgfWarning, final_state, iter_records, parse_sgf,
                         read_games, read_sgf, replay)
from kcnn.go.symmetry import inverse, transform, transform_label, transform_point
from kcnn.go.policy import evaluate_policy, move_probabilities, predict_move
from kcnn.go.synthetic import random_game, write_random_games

__all__ = ["BLACK", "WHITE", "EMPTY", "GoState", "IllegalMoveError", "FEATURE_SETS",
           "PLANE_NAMES", "features", "num_planes", "Game", "SgfError", "SgfWarning",
           "final_state", "iter_records", "parse_sgf", "read_games", "read_sgf", "replay",
           "inverse", "transform", "transform_label", "transform_point", "random_game",
           "write_random_games", "convert", "dataset", "load_metadata", "read_split",
           "evaluate_policy", "move_probabilities", "predict_move"]
