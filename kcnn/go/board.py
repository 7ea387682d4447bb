"""Go rules and the game state: placement, captures, suicide, simple ko, passes.

Rules (those of the KGS records Silver et al. 2016 trained on): a stone is put on an empty
point; opponent groups left without liberties are captured, then the move is illegal if its
own group has no liberties (suicide). Simple ko: when a single stone has just captured a
single stone and is left with one liberty, the opponent may not retake at once (no
superko); a capture of several stones, as in a snapback, sets no ban. Passing is always
legal and lifts the ko ban.

Coordinates are ``(row, col)`` with row 0 at the top, as SGF letters count (``B[pd]`` is
``(3, 15)``); flat indices are ``row * size + col``, the policy network's labels.

The state tracks every group's stones and liberties incrementally (a bit set per group)
and the move number at which each stone was placed, so features need no flood fill and a
copy is three small numpy arrays.
"""

from __future__ import annotations

import threading

import numpy as np

from kcnn._checks import check_int
from kcnn.go import _core
from kcnn.go._core import BLACK, EMPTY, WHITE

__all__ = ["BLACK", "WHITE", "EMPTY", "GoState", "IllegalMoveError", "colour_code",
           "point_name"]

_COLOUR_NAMES = {"b": BLACK, "w": WHITE, "black": BLACK, "white": WHITE,
                 BLACK: BLACK, WHITE: WHITE}
_TABLES = {}
_LOCAL = threading.local()
_NO_JOURNAL = _core.no_journal()
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class IllegalMoveError(ValueError):
    """A move that the rules forbid (occupied point, suicide, ko, off the board)."""


def colour_code(colour, name="colour"):
    """``BLACK``/``WHITE`` (1/2) from 1, 2, "b", "w", "black" or "white"."""
    key = colour.lower() if isinstance(colour, str) else colour
    if isinstance(key, bool) or key not in _COLOUR_NAMES:
        raise ValueError(f"`{name}` must be 'b', 'w', kcnn.go.BLACK or kcnn.go.WHITE. "
                         f"Received: {name}={colour!r}")
    return _COLOUR_NAMES[key]


def point_name(move):
    """The SGF letters of a ``(row, col)`` point (row 0 at the top); "pass" for None."""
    if move is None:
        return "pass"
    return _LETTERS[move[1]] + _LETTERS[move[0]]


def tables(size):
    """Neighbour tables for a board size (cached)."""
    if size not in _TABLES:
        _TABLES[size] = _core.neighbour_tables(size)
    return _TABLES[size]


def ladder_scratch(size, depth):
    """Per-thread scratch space for the ladder search on ``size`` boards, ``depth`` plies:
    the arguments of ``_core.fill_features`` after ``nplanes`` and before ``max_nodes``."""
    key = (size, depth)
    scratch = getattr(_LOCAL, "scratch", None)
    if scratch is None:
        scratch = _LOCAL.scratch = {}
    if key not in scratch:
        n = size * size
        w = (n + 63) // 64
        scratch[key] = (
            np.zeros((_core.GRID_ROWS, n), np.int64), np.zeros((n, w), np.uint64),
            np.zeros(_core.META_LEN, np.int64), _core.journal(40 * n + 1024),
            np.zeros((depth, n), np.int64), np.zeros(depth, np.int64),
            np.zeros(depth, np.int64), np.zeros(depth, np.int64), np.zeros(depth, np.int64),
            np.zeros((depth, _core.META_LEN), np.int64))
    return scratch[key]


class GoState:
    """A Go position with the player to move, the ko point and the age of every stone.

    Args:
        size: board size (1 to 26, the SGF limit; 19 by default).

    Attributes:
        size: the board size.
        to_play: ``BLACK`` (1) or ``WHITE`` (2).
        move_number: moves played so far, passes included.
        ko: the point ``(row, col)`` the player to move may not retake, or None.
        captures: ``{BLACK: n, WHITE: n}``, stones captured by each side.
    """

    __slots__ = ("size", "grid", "libs", "meta")

    def __init__(self, size=19):
        size = check_int("size", size, minimum=1, maximum=26)
        n = size * size
        self.size = size
        self.grid = np.zeros((_core.GRID_ROWS, n), np.int64)
        self.grid[_core.HEAD] = -1
        self.libs = np.zeros((n, (n + 63) // 64), np.uint64)
        self.meta = np.zeros(_core.META_LEN, np.int64)
        self.meta[_core.TO_PLAY] = BLACK
        self.meta[_core.KO] = -1

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_board(cls, board, to_play=BLACK):
        """A position from a ``(size, size)`` array or list of strings.

        Strings use ``X`` (or ``B``) for black, ``O`` (or ``W``) for white and ``.`` for
        empty, row 0 first (the top). All stones count as setup stones (8 or more turns
        old); the position must not contain groups without liberties.
        """
        if isinstance(board, (list, tuple)) and board and isinstance(board[0], str):
            rows = [r.replace(" ", "") for r in board]
            codes = {".": EMPTY, "+": EMPTY, "X": BLACK, "B": BLACK, "O": WHITE, "W": WHITE}
            try:
                board = np.array([[codes[ch] for ch in r] for r in rows], np.int32)
            except KeyError as e:
                raise ValueError(f"`board` rows may contain only X, B, O, W, '.' and '+'. "
                                 f"Received: board={board!r}") from e
        board = np.asarray(board)
        if board.ndim != 2 or board.shape[0] != board.shape[1] or not np.isin(
                board, (EMPTY, BLACK, WHITE)).all():
            raise ValueError("`board` must be a square array of 0 (empty), 1 (black) and "
                             f"2 (white). Received: board with shape {board.shape}")
        state = cls(board.shape[0])
        black = [tuple(p) for p in np.argwhere(board == BLACK)]
        white = [tuple(p) for p in np.argwhere(board == WHITE)]
        state.setup(black=black, white=white)
        state.to_play = to_play
        return state

    def setup(self, black=(), white=(), empty=()):
        """Places setup stones (SGF AB/AW/AE, handicap) and recomputes the groups.

        Setup stones are older than any move ("8 or more" turns since). The ko ban is lifted.

        Raises:
            IllegalMoveError: a setup point is off the board or the result has a group
                without liberties.
        """
        for colour, points in ((BLACK, black), (WHITE, white), (EMPTY, empty)):
            for point in points:
                p = self._index(point, "setup point")
                self.grid[_core.COLOR, p] = colour
                self.grid[_core.PLACED, p] = _core.SETUP_PLACED
        self.meta[_core.KO] = -1
        dead = _core.rebuild(self.grid, self.libs, tables(self.size)[0])
        if dead:
            raise IllegalMoveError(f"setup stones leave {dead} group(s) without liberties")

    def copy(self):
        """An independent copy (three array copies)."""
        new = GoState.__new__(GoState)
        new.size = self.size
        new.grid = self.grid.copy()
        new.libs = self.libs.copy()
        new.meta = self.meta.copy()
        return new

    __copy__ = copy

    # --- properties ------------------------------------------------------------------------

    @property
    def to_play(self):
        return int(self.meta[_core.TO_PLAY])

    @to_play.setter
    def to_play(self, colour):
        self.meta[_core.TO_PLAY] = colour_code(colour, "to_play")

    @property
    def move_number(self):
        return int(self.meta[_core.MOVE])

    @property
    def ko(self):
        p = int(self.meta[_core.KO])
        if p < 0 or self.meta[_core.KO_COLOUR] != self.to_play:
            return None
        return divmod(p, self.size)

    @property
    def captures(self):
        return {BLACK: int(self.meta[_core.CAPTURED_BY_BLACK]),
                WHITE: int(self.meta[_core.CAPTURED_BY_WHITE])}

    @property
    def board(self):
        """``(size, size)`` int8 array: 0 empty, 1 black, 2 white, row 0 at the top."""
        return self.grid[_core.COLOR].reshape(self.size, self.size).astype(np.int8)

    def stone_age(self):
        """``(size, size)`` int array of moves since each stone was placed (1 for the
        newest stone, passes counted), a large number for setup stones and 0 on empty points."""
        age = self.meta[_core.MOVE] - self.grid[_core.PLACED].astype(np.int64)
        age[self.grid[_core.COLOR] == EMPTY] = 0
        return age.reshape(self.size, self.size)

    # --- groups ----------------------------------------------------------------------------

    def group(self, point):
        """The stones of the group at ``point`` as a sorted list of ``(row, col)``."""
        p = self._index(point)
        h = self.grid[_core.HEAD, p]
        if h < 0:
            return []
        stones, s = [], h
        while True:
            stones.append(divmod(int(s), self.size))
            s = self.grid[_core.NEXT, s]
            if s == h:
                break
        return sorted(stones)

    def liberties(self, point):
        """The number of liberties of the group at ``point`` (0 on an empty point)."""
        p = self._index(point)
        h = self.grid[_core.HEAD, p]
        return 0 if h < 0 else int(self.grid[_core.NLIBS, h])

    def liberty_points(self, point):
        """The liberties of the group at ``point`` as a sorted list of ``(row, col)``."""
        p = self._index(point)
        h = self.grid[_core.HEAD, p]
        if h < 0:
            return []
        bits = np.unpackbits(self.libs[h].view(np.uint8), bitorder="little")
        return [divmod(int(i), self.size) for i in np.flatnonzero(bits[:self.size ** 2])]

    # --- moves -----------------------------------------------------------------------------

    def is_legal(self, move, colour=None):
        """Whether ``move`` (``(row, col)`` or None for a pass) is legal for ``colour``
        (default: the player to move)."""
        if move is None:
            return True
        c = self.to_play if colour is None else colour_code(colour)
        r, col = move
        if not (0 <= r < self.size and 0 <= col < self.size):
            return False
        return bool(_core.is_legal(self.grid, self.meta, tables(self.size)[0],
                                   r * self.size + col, c))

    def legal_moves(self, colour=None):
        """``(size, size)`` bool array of the legal points for ``colour`` (passes aside)."""
        c = self.to_play if colour is None else colour_code(colour)
        out = np.zeros(self.size * self.size, np.bool_)
        _core.legal_mask(self.grid, self.meta, tables(self.size)[0], c, out)
        return out.reshape(self.size, self.size)

    def play(self, move, colour=None):
        """Plays ``move`` (``(row, col)`` or None for a pass) for ``colour`` (default: the
        player to move); the opponent moves next. Returns the number of stones captured.

        Raises:
            IllegalMoveError: the point is off the board, occupied, a suicide or a ko
                retake. The state is unchanged.
        """
        c = self.to_play if colour is None else colour_code(colour)
        if move is None:
            self.meta[_core.KO] = -1
            self.meta[_core.MOVE] += 1
            self.meta[_core.TO_PLAY] = 3 - c
            return 0
        p = self._index(move, "move", IllegalMoveError)
        nbr = tables(self.size)[0]
        if not _core.is_legal(self.grid, self.meta, nbr, p, c):
            raise IllegalMoveError(f"{'black' if c == BLACK else 'white'} "
                                   f"{point_name(move)} {tuple(move)} is illegal: "
                                   f"{self._why_illegal(p, c)}")
        return int(_core.place(self.grid, self.libs, self.meta, nbr, p, c, _NO_JOURNAL))

    def _why_illegal(self, p, c):
        if self.grid[_core.COLOR, p] != EMPTY:
            return "the point is occupied"
        if p == self.meta[_core.KO] and c == self.meta[_core.KO_COLOUR]:
            return "it retakes a ko"
        return "suicide"

    def _index(self, point, name="point", error=ValueError):
        try:
            r, c = (int(v) for v in point)
        except (TypeError, ValueError):
            raise error(f"`{name}` must be a (row, col) pair. Received: {name}={point!r}") \
                from None
        if not (0 <= r < self.size and 0 <= c < self.size):
            raise error(f"`{name}` must lie on the {self.size}x{self.size} board. "
                        f"Received: {name}={point!r}")
        return r * self.size + c

    # --- display ---------------------------------------------------------------------------

    def __str__(self):
        chars = {EMPTY: ".", BLACK: "X", WHITE: "O"}
        rows = ["".join(chars[int(v)] for v in row) for row in self.board]
        mover = "black" if self.to_play == BLACK else "white"
        return "\n".join(rows) + f"\n{mover} to play, move {self.move_number}"

    def __repr__(self):
        return f"<GoState {self.size}x{self.size}, move {self.move_number}, " \
               f"{'black' if self.to_play == BLACK else 'white'} to play>"

