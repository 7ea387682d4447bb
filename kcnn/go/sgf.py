"""Game records: SGF reading (with sgfmill), replay, and writing.

Coordinates: SGF letters count columns from the left and rows from the TOP (``pd`` is
column 15, row 3). sgfmill reports ``(row, col)`` with row 0 at the BOTTOM; this module
turns them into ``(row, col)`` with row 0 at the top, the same orientation as SGF letters and
as the feature planes (``B[pd]`` is ``(3, 15)``). A vertically mirrored game still replays
legally, so tests pin the orientation with a hand-written record.

Sources can be single ``.sgf`` files (several games in one file are a collection), folders
(searched recursively) and the zip and tar archives (``.zip``, ``.tar``, ``.tar.gz``,
``.tgz``, ``.tar.bz2``, ``.tbz2``, ``.tar.xz``) the KGS archive distributes, also inside
folders. Broken records raise ``SgfError``, illegal moves ``IllegalMoveError``; both name
the record and the move.
"""

from __future__ import annotations

import dataclasses
import os
import tarfile
import warnings
import zipfile

from sgfmill import sgf, sgf_grammar

from kcnn.go.board import GoState, IllegalMoveError, colour_code, point_name

__all__ = ["Game", "SgfError", "SgfWarning", "read_sgf", "parse_sgf", "read_games",
           "iter_records", "count_records", "replay", "final_state"]

_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class SgfError(ValueError):
    """A record that cannot be read: bad syntax, bad board size, bad coordinates."""


class SgfWarning(UserWarning):
    """A record was skipped; the message names the record and the move."""


@dataclasses.dataclass
class Game:
    """One game record.

    Attributes:
        size: board size.
        moves: ``[(colour, point), ...]`` in order, colour ``"b"`` or ``"w"``, point
            ``(row, col)`` with row 0 at the top, or None for a pass.
        setup: ``{move_index: (black, white, empty)}``: setup stones (AB, AW, AE) placed
            before the move of that index (0: the root, e.g. handicap stones).
        komi: komi (0.0 when absent or unreadable).
        handicap: handicap stones announced by HA (None when absent).
        result: the RE property as written ("B+R", "W+0.5", ...), or None.
        winner: ``"b"``, ``"w"`` or None (no result, draw, unknown).
        name: where the record came from, used in messages.
        properties: the root's other text properties of interest (PB, PW, BR, WR, DT, EV).
    """

    size: int = 19
    moves: list = dataclasses.field(default_factory=list)
    setup: dict = dataclasses.field(default_factory=dict)
    komi: float = 0.0
    handicap: int | None = None
    result: str | None = None
    winner: str | None = None
    name: str = "<game>"
    properties: dict = dataclasses.field(default_factory=dict)

    def to_sgf(self):
        """The record as SGF bytes (FF[4])."""
        game = sgf.Sgf_game(self.size)
        root = game.get_root()
        flip = self._to_sgfmill
        if 0 in self.setup:
            black, white, empty = self.setup[0]
            root.set_setup_stones([flip(p) for p in black], [flip(p) for p in white],
                                  [flip(p) for p in empty] or None)
        root.set("KM", float(self.komi))
        if self.handicap:
            root.set("HA", int(self.handicap))
        if self.result:
            root.set("RE", self.result)
        for key, value in self.properties.items():
            root.set(key, value)
        for i, (colour, move) in enumerate(self.moves):
            node = game.extend_main_sequence()
            if i > 0 and i in self.setup:
                black, white, empty = self.setup[i]
                node.set_setup_stones([flip(p) for p in black], [flip(p) for p in white],
                                      [flip(p) for p in empty] or None)
            node.set_move(colour, None if move is None else flip(move))
        return game.serialise()

    def _to_sgfmill(self, point):
        return (self.size - 1 - point[0], point[1])


# --- reading -------------------------------------------------------------------------------

def parse_sgf(data, name="<sgf>"):
    """Parses SGF bytes (or text) into a list of ``Game``, one per game tree.

    Raises:
        SgfError: the data is not SGF, or a game has a bad size, point or property.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        trees = sgf_grammar.parse_sgf_collection(data)
    except ValueError as e:
        raise SgfError(f"{name}: not a readable SGF record ({e})") from None
    games = []
    for i, tree in enumerate(trees):
        label = name if len(trees) == 1 else f"{name}[{i}]"
        try:
            game = sgf.Sgf_game.from_coarse_game_tree(tree)
        except ValueError as e:
            raise SgfError(f"{label}: {e}") from None
        games.append(_convert(game, label))
    return games


def _convert(game, name):
    try:
        size = game.get_size()
    except ValueError as e:
        raise SgfError(f"{name}: bad board size ({e})") from None
    if not 1 <= size <= 26:
        raise SgfError(f"{name}: unsupported board size {size}")
    try:
        nodes = game.get_main_sequence()
    except ValueError as e:
        raise SgfError(f"{name}: {e}") from None
    root = game.get_root()
    result = Game(size=size, name=name)
    try:
        result.komi = float(game.get_komi())
    except ValueError:
        result.komi = 0.0
    try:
        result.handicap = game.get_handicap()
    except ValueError:
        result.handicap = None
    if root.has_property("RE"):
        try:
            result.result = root.get("RE")
        except ValueError:
            result.result = None
    result.winner = game.get_winner() if result.result else None
    for key in ("PB", "PW", "BR", "WR", "DT", "EV", "RU"):
        if root.has_property(key):
            try:
                result.properties[key] = root.get(key)
            except ValueError:
                pass

    def flip(point):
        return (size - 1 - point[0], point[1])

    for node in nodes:
        index = len(result.moves)
        if node.has_setup_stones():
            try:
                black, white, empty = node.get_setup_stones()
            except ValueError as e:
                raise SgfError(f"{name}: bad setup stones before move {index + 1} ({e})") \
                    from None
            old = result.setup.get(index, ([], [], []))
            result.setup[index] = (
                old[0] + sorted(flip(p) for p in black), old[1] + sorted(flip(p) for p in white),
                old[2] + sorted(flip(p) for p in empty))
        try:
            colour, move = node.get_move()
        except ValueError:
            colour, raw = node.get_raw_move()
            raw = raw.decode(errors="replace")
            raise SgfError(f"{name}: move {index + 1} ({colour.upper()}[{raw}]) is not a point "
                           f"on the {size}x{size} board") from None
        if colour is not None:
            result.moves.append((colour, None if move is None else flip(move)))
    return result


def read_sgf(path):
    """Reads the (first) game of an SGF file.

    Args:
        path: an ``.sgf`` file.

    Returns:
        a ``Game``; ``read_games`` reads collections, folders and archives.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    return parse_sgf(data, name=path)[0]


def _is_archive(name):
    lower = name.lower()
    return lower.endswith(_ARCHIVES)


def _is_sgf(name):
    return name.lower().endswith(".sgf")


def iter_records(source):
    """Yields ``(name, bytes)`` for every SGF file in ``source``, in a stable order.

    ``source`` is an ``.sgf`` file, an archive (zip or tar, any compression tarfile reads),
    or a folder searched recursively for both (sorted by path). Names of archive members
    read ``archive.zip:member.sgf``.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for f in sorted(files):
                path = os.path.join(root, f)
                if _is_sgf(f) or _is_archive(f):
                    yield from iter_records(path)
        return
    if not os.path.exists(source):
        raise FileNotFoundError(f"`source` does not exist. Received: source={source!r}")
    lower = source.lower()
    if lower.endswith(".zip"):
        with zipfile.ZipFile(source) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and _is_sgf(info.filename):
                    yield f"{source}:{info.filename}", zf.read(info)
    elif _is_archive(lower):
        with tarfile.open(source) as tf:
            for member in tf:
                if member.isfile() and _is_sgf(member.name):
                    yield f"{source}:{member.name}", tf.extractfile(member).read()
    else:
        with open(source, "rb") as f:
            yield source, f.read()


def count_records(source):
    """The number of SGF files ``iter_records`` would yield (archives are listed, not read)."""
    source = os.fspath(source)
    if os.path.isdir(source):
        total = 0
        for root, _, files in os.walk(source):
            for f in files:
                if _is_sgf(f) or _is_archive(f):
                    total += count_records(os.path.join(root, f))
        return total
    lower = source.lower()
    if lower.endswith(".zip"):
        with zipfile.ZipFile(source) as zf:
            return sum(1 for i in zf.infolist() if not i.is_dir() and _is_sgf(i.filename))
    if _is_archive(lower):
        with tarfile.open(source) as tf:
            return sum(1 for m in tf if m.isfile() and _is_sgf(m.name))
    return 1


def read_games(source, *, on_error="warn"):
    """Yields every game in ``source`` (file, collection, folder or archive).

    Args:
        source: see ``iter_records``.
        on_error: ``"warn"`` skips unreadable records with an ``SgfWarning`` naming the
            record; ``"raise"`` raises the ``SgfError``. Illegal moves surface in
            ``replay``.
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"`on_error` must be 'warn' or 'raise'. Received: on_error={on_error!r}")
    for name, data in iter_records(source):
        try:
            games = parse_sgf(data, name)
        except SgfError as e:
            if on_error == "raise":
                raise
            warnings.warn(f"skipped {e}", SgfWarning, stacklevel=2)
            continue
        yield from games


# --- replay --------------------------------------------------------------------------------

def replay(game, *, copy=True):
    """Replays a game, yielding ``(state, move)`` for every move in order.

    ``state`` is the position before the move, with the mover to play; ``move`` is
    ``(row, col)`` (row 0 at the top) or None for a pass. The policy label of a move is
    ``row * size + col``; passes are yielded (they advance the game) but are not training
    examples. Setup stones (AB/AW/AE, handicap) are placed before the move they precede.

    Args:
        game: a ``Game``.
        copy: yield an independent copy of the state (default). With ``copy=False`` the
            same object is yielded and advanced afterwards: use it before the next step.

    Raises:
        IllegalMoveError: a move breaks the rules; the message names the record and the move.
    """
    state = GoState(game.size)
    for i, (colour, move) in enumerate(game.moves):
        if i in game.setup:
            _apply_setup(state, game, i)
        c = colour_code(colour)
        state.to_play = c
        yield (state.copy() if copy else state), move
        try:
            state.play(move, c)
        except IllegalMoveError as e:
            raise IllegalMoveError(f"{game.name}: move {i + 1} "
                                   f"({colour.upper()}[{'' if move is None else point_name(move)}])"
                                   f" is illegal: {str(e).split(': ', 1)[-1]}") from None


def final_state(game):
    """The position after the last move of ``game`` (and any setup after it)."""
    state = None
    for state, _ in replay(game, copy=False):
        pass
    if state is None:
        state = GoState(game.size)
    n = len(game.moves)
    if n in game.setup:
        _apply_setup(state, game, n)
    return state


def _apply_setup(state, game, i):
    black, white, empty = game.setup[i]
    try:
        state.setup(black=black, white=white, empty=empty)
    except (IllegalMoveError, ValueError) as e:
        raise IllegalMoveError(f"{game.name}: setup stones before move {i + 1} are "
                               f"illegal: {e}") from None
