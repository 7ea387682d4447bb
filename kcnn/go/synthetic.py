"""Seeded random legal games, for tests, smoke runs and fixtures.

The games are legal but not good Go: each move is drawn uniformly from the sensible moves
(legal, not filling an own eye) of the player to move, or from all legal moves when there
is no sensible one, so groups get captured, kos arise and long games keep capturing. A
player without legal moves passes; a game ends after ``num_moves`` moves or two passes in
a row.
"""

from __future__ import annotations

import os

import numpy as np

from kcnn._checks import check_float, check_int
from kcnn.go import _core
from kcnn.go.board import BLACK, GoState, tables
from kcnn.go.sgf import Game

__all__ = ["random_game", "write_random_games"]


def random_game(size=19, num_moves=200, *, seed=0, pass_probability=0.0, handicap=0):
    """A random legal game.

    Args:
        size: board size.
        num_moves: moves to play at most (passes count).
        seed: seed of the game; the same seed gives the same game.
        pass_probability: chance that a player passes although it has sensible moves.
        handicap: black setup stones placed at random before white's first move.

    Returns:
        a ``Game`` whose ``result`` is "B+R" or "W+R" at random (the value planes need a
        winner; the games are not scored).
    """
    size = check_int("size", size, minimum=2, maximum=26)
    num_moves = check_int("num_moves", num_moves, minimum=0)
    check_float("pass_probability", pass_probability, minimum=0.0, maximum=1.0)
    handicap = check_int("handicap", handicap, minimum=0, maximum=size * size // 2)
    rng = np.random.default_rng(seed)
    state = GoState(size)
    game = Game(size=size, name=f"random-{size}x{size}-{seed}")
    if handicap:
        points = rng.choice(size * size, handicap, replace=False)
        stones = sorted(divmod(int(p), size) for p in points)
        state.setup(black=stones)
        game.setup[0] = (stones, [], [])
        game.handicap = handicap
        state.to_play = "w"
    nbr, diag = tables(size)
    mask = np.zeros(size * size, np.bool_)
    passes = 0
    while len(game.moves) < num_moves and passes < 2:
        colour = "b" if state.to_play == BLACK else "w"
        _core.sensible_mask(state.grid, state.meta, nbr, diag, state.to_play, mask)
        choices = np.flatnonzero(mask)
        if len(choices) == 0:
            _core.legal_mask(state.grid, state.meta, nbr, state.to_play, mask)
            choices = np.flatnonzero(mask)
        if len(choices) == 0 or rng.random() < pass_probability:
            move = None
            passes += 1
        else:
            move = divmod(int(rng.choice(choices)), size)
            passes = 0
        state.play(move)
        game.moves.append((colour, move))
    game.result = "B+R" if rng.random() < 0.5 else "W+R"
    game.winner = game.result[0].lower()
    return game


def write_random_games(directory, num_games, *, size=19, num_moves=200, seed=0):
    """Writes ``num_games`` random games as ``game-0000.sgf``, ... into ``directory``.

    Game ``i`` uses seed ``seed + i``. Returns the list of paths.
    """
    num_games = check_int("num_games", num_games, minimum=0)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(num_games):
        game = random_game(size, num_moves, seed=seed + i)
        path = os.path.join(directory, f"game-{i:04d}.sgf")
        with open(path, "wb") as f:
            f.write(game.to_sgf())
        paths.append(path)
    return paths
