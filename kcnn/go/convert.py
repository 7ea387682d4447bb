"""Turning SGF collections into training shards of feature planes.

Silver et al. 2016 trained the policy network on 29.4 million positions from 160,000 KGS
games and held out positions for testing; passes were removed. ``convert`` replays every
game in a source (file, folder, zip or tar archive), computes the planes of every position
before a move, and writes them with the move labels into fixed-size binary records. The
split into train and test is by game, decided by a hash of the record's bytes, so it does
not depend on the order of the files or the number of workers, and duplicate records land
in the same split. Broken or illegal records are skipped with an ``SgfWarning`` naming the
record and the move, and counted; they never stop a conversion.

Every shard is written under a temporary name and renamed when complete, and
``metadata.json`` is written last (atomically): a folder with ``metadata.json`` always holds a
whole conversion. One conversion at a time writes a folder (``kcnn._io.FolderLock``).

Layout of the output folder::

    metadata.json               board size, planes, record layout, files, counts, games
    train-00000.bin, ...        training records
    test-00000.bin, ...         test records

Each ``.bin`` file is a sequence of records of ``7 + ceil(size * size * planes / 8)`` bytes:

=======  ==================================================================================
bytes    content
=======  ==================================================================================
0-1      move label ``row * size + col``, uint16 little-endian
2-5      game id, uint32 little-endian (index into ``metadata["games"]``)
6        outcome for the player to move, int8: 1 won, -1 lost, 0 unknown
7-       the planes, ``(size, size, planes)`` 0/1 values in C order, ``numpy.packbits``
=======  ==================================================================================

``kcnn.go.dataset`` reads them with ``tf.data.FixedLengthRecordDataset``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import math
import multiprocessing
import os
import sys
import time
import warnings

import numpy as np

from kcnn._checks import check_bool, check_float, check_int
from kcnn._io import FolderLock, atomic_json, atomic_path
from kcnn.go.board import IllegalMoveError, colour_code
from kcnn.go.planes import features, num_planes
from kcnn.go.sgf import SgfError, SgfWarning, count_records, iter_records, parse_sgf, replay

__all__ = ["EmptySplitWarning", "convert", "record_dtype", "FORMAT", "HEADER_BYTES"]

FORMAT = "kcnn-go-shards"
VERSION = 1
HEADER_BYTES = 7
SPLITS = ("train", "test")


class EmptySplitWarning(UserWarning):
    """A conversion held out no test game (or kept no training game)."""


def record_dtype(size, planes):
    """The numpy dtype of one record."""
    nbytes = (size * size * planes + 7) // 8
    return np.dtype([("label", "<u2"), ("game", "<u4"), ("outcome", "i1"),
                     ("planes", "u1", (nbytes,))])


def game_split(data, index, test_fraction, seed):
    """"test" or "train" for game ``index`` of the record ``data`` (bytes)."""
    digest = hashlib.sha1(f"{seed}:{index}:".encode() + data).digest()
    return "test" if int.from_bytes(digest[:8], "little") / 2.0 ** 64 < test_fraction \
        else "train"


def _convert_record(name, data, config):
    """Returns ``[(game name, split, records or None, error or None), ...]``."""
    size, planes, test_fraction, seed = config
    try:
        games = parse_sgf(data, name)
    except SgfError as e:
        return [(name, None, None, f"skipped {e}")]
    except Exception as e:  # noqa: BLE001  (a record must never stop a conversion)
        return [(name, None, None, f"skipped {name}: unreadable ({type(e).__name__}: {e})")]
    dtype = record_dtype(size, planes)
    out = []
    buffer = np.zeros((size, size, max(planes, 48)), np.uint8)
    for index, game in enumerate(games):
        if game.size != size:
            out.append((game.name, None, None, f"skipped {game.name}: board size {game.size}, "
                                               f"not {size}"))
            continue
        rows = []
        winner = colour_code(game.winner) if game.winner else None
        number = 0
        try:
            for number, (state, move) in enumerate(replay(game, copy=False), 1):
                if move is None:
                    continue
                x = features(state, planes, out=buffer)
                outcome = 0 if winner is None else (1 if winner == state.to_play else -1)
                rows.append((move[0] * size + move[1], outcome, np.packbits(x.reshape(-1))))
        except (IllegalMoveError, SgfError) as e:
            out.append((game.name, None, None, f"skipped {e}"))
            continue
        except Exception as e:  # noqa: BLE001
            out.append((game.name, None, None, f"skipped {game.name}: move {number}: "
                                               f"{type(e).__name__}: {e}"))
            continue
        records = np.zeros(len(rows), dtype)
        if rows:
            records["label"] = [r[0] for r in rows]
            records["outcome"] = [r[1] for r in rows]
            records["planes"] = np.stack([r[2] for r in rows])
        out.append((game.name, game_split(data, index, test_fraction, seed), records, None))
    return out


def _convert_batch(batch, config):
    return [_convert_record(name, data, config) for name, data in batch]


class _ShardWriter:
    def __init__(self, directory, split, shard_size):
        self.directory, self.split, self.shard_size = directory, split, shard_size
        self.files, self.counts = [], []
        self._file = None
        self._commit = None

    def write(self, records):
        start = 0
        while start < len(records):
            if self._file is None or self.counts[-1] >= self.shard_size:
                self._open()
            room = self.shard_size - self.counts[-1]
            chunk = records[start:start + room]
            self._file.write(chunk.tobytes())
            self.counts[-1] += len(chunk)
            start += len(chunk)

    def _open(self):
        self.close()
        name = f"{self.split}-{len(self.files):05d}.bin"
        self._commit = contextlib.ExitStack()
        tmp = self._commit.enter_context(atomic_path(os.path.join(self.directory, name)))
        self._file = self._commit.enter_context(open(tmp, "wb"))
        self.files.append(name)
        self.counts.append(0)

    def close(self, error=None):
        """Closes the open shard: renamed into place, or removed after an ``error``."""
        if self._file is not None:
            commit, self._file, self._commit = self._commit, None, None
            if error is None:
                commit.close()
            else:
                commit.__exit__(type(error), error, error.__traceback__)


def _split_warnings(games, test_fraction):
    """Messages for an empty test (or training) split that the user did not ask for."""
    n_test = sum(1 for g in games if g["split"] == "test")
    n_games = len(games)
    if n_games and n_test == 0 and test_fraction > 0:
        need = math.ceil(1 / test_fraction)
        return [f"the test split is empty: none of the {n_games} games was held out. "
                f"test_fraction={test_fraction:g} holds out each game with that chance "
                f"(by a hash of its record), so a test split needs about {need} games or "
                f"more (1/test_fraction; {3 * need} to be fairly sure of one); convert more "
                f"games or raise --test-fraction."]
    if n_games and n_test == n_games and test_fraction < 1:
        return [f"the training split is empty: all {n_games} games were held out for "
                f"testing (test_fraction={test_fraction:g}); lower --test-fraction."]
    return []


class Progress:
    """A one-line progress bar on a stream (stderr by default).

    On a terminal the line is redrawn in place at most 5 times a second; elsewhere (logs)
    a plain line is written every 10 seconds and at the end.
    """

    def __init__(self, total, *, enabled=True, stream=None, label="converting"):
        self.total, self.enabled, self.label = total, enabled, label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self._last = time.monotonic()
        self.done = self.positions = self.skipped = 0

    def update(self, records, positions, skipped):
        self.done += records
        self.positions += positions
        self.skipped += skipped
        now = time.monotonic()
        if self.enabled and now - self._last > (0.2 if self.tty else 10.0):
            self._last = now
            self.draw()

    def message(self, text):
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            if self.tty:
                self.draw()

    def line(self):
        elapsed = max(time.monotonic() - self.start, 1e-9)
        frac = min(self.done / self.total, 1.0) if self.total else 1.0
        width = 24
        bar = "#" * int(frac * width) + "." * (width - int(frac * width))
        rate = self.positions / elapsed
        eta = (elapsed / frac - elapsed) if frac > 0 else 0.0
        return (f"{self.label} [{bar}] {self.done}/{self.total} records  "
                f"{self.positions:,} positions  {rate:,.0f} pos/s  {self.skipped} skipped  "
                f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")

    def draw(self):
        self.stream.write(("\r\033[K" + self.line()) if self.tty else self.line() + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write(("\r\033[K" + self.line() + "\n") if self.tty
                              else self.line() + "\n")
            self.stream.flush()


def _batches(records, batch_size):
    batch = []
    for item in records:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _pool(workers):
    methods = multiprocessing.get_all_start_methods()
    # fork shares the compiled engine with the workers; elsewhere they load numba's cache.
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ctx.Pool(workers)


def _default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def convert(source, out_dir, *, board_size=19, planes=49, test_fraction=0.034, seed=0,
            shard_size=100_000, workers=None, progress=True, overwrite=False):
    """Converts the SGF records in ``source`` into shards in ``out_dir``.

    Args:
        source: an ``.sgf`` file, a folder or a zip/tar archive (see ``iter_records``).
        out_dir: output folder (created).
        board_size: games of other sizes are skipped with a warning.
        planes: planes stored per position: 49 (default, serves the policy network's 48
            and the value network's 49), 48, or a smaller subset.
        test_fraction: share of games held out for testing; the default, 1/29.4, is the
            paper's (one million of 29.4 million positions).
        seed: seed of the split.
        shard_size: positions per shard file.
        workers: processes computing features (default: all cores available).
        progress: draw a progress bar on stderr.
        overwrite: replace an existing conversion in ``out_dir``.

    Returns:
        the metadata dict also written to ``out_dir/metadata.json``.
    """
    board_size = check_int("board_size", board_size, minimum=1, maximum=26)
    planes = num_planes(planes)
    test_fraction = check_float("test_fraction", test_fraction, minimum=0.0, maximum=1.0)
    seed = check_int("seed", seed, minimum=0)
    shard_size = check_int("shard_size", shard_size, minimum=1)
    workers = _default_workers() if workers is None else check_int("workers", workers)
    check_bool("progress", progress)
    check_bool("overwrite", overwrite)
    source = os.fspath(source)
    out_dir = os.fspath(out_dir)
    meta_path = os.path.join(out_dir, "metadata.json")
    if os.path.exists(meta_path) and not overwrite:
        raise FileExistsError(f"`out_dir` already holds a conversion; pass overwrite=True "
                              f"(--overwrite with `kcnn go convert`) to replace it. "
                              f"Received: out_dir={out_dir!r}")
    total = count_records(source)
    with FolderLock(out_dir, what="conversion"):
        if os.path.exists(meta_path):
            os.remove(meta_path)  # first: a folder with metadata.json holds a whole conversion
        for name in os.listdir(out_dir):
            if name.endswith(".bin") and name.lstrip(".").startswith(SPLITS):
                os.remove(os.path.join(out_dir, name))  # old shards and killed writes
        return _convert(source, out_dir, meta_path, total,
                        (board_size, planes, test_fraction, seed), shard_size=shard_size,
                        workers=workers, progress=progress)


def _convert(source, out_dir, meta_path, total, config, *, shard_size, workers, progress):
    """``convert`` once the arguments are checked and ``out_dir`` is locked and cleared."""
    board_size, planes, test_fraction, seed = config
    # Compile (or load) the engine before forking so every worker inherits it.
    _convert_record("warm-up", b"(;SZ[%d];B[aa])" % board_size, config)

    writers = {split: _ShardWriter(out_dir, split, shard_size) for split in SPLITS}
    games, skipped = [], []
    bar = Progress(total, enabled=progress)
    batches = _batches(iter_records(source), 4)
    pool = _pool(workers) if workers > 1 else None
    failure = None
    try:
        if pool is None:
            results = (_convert_batch(b, config) for b in batches)
        else:
            results = _ordered(pool, batches, config, 4 * workers)
        for batch in results:
            positions = n_skipped = 0
            for record in batch:
                for name, split, records, error in record:
                    if error is not None:
                        skipped.append({"name": name, "reason": error})
                        n_skipped += 1
                        bar.message(f"warning: {error}")
                        warnings.warn(error, SgfWarning, stacklevel=3)
                        continue
                    records["game"] = len(games)
                    writers[split].write(records)
                    games.append({"name": name, "split": split, "positions": len(records)})
                    positions += len(records)
            bar.update(len(batch), positions, n_skipped)
    except BaseException as error:
        failure = error
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        for w in writers.values():
            w.close(failure)
        bar.close()
    notes = _split_warnings(games, test_fraction)
    for note in notes:
        warnings.warn(note, EmptySplitWarning, stacklevel=3)
    dtype = record_dtype(board_size, planes)
    metadata = {
        "format": FORMAT, "version": VERSION, "board_size": board_size, "planes": planes,
        "record_bytes": dtype.itemsize, "header_bytes": HEADER_BYTES,
        "test_fraction": test_fraction, "seed": seed, "source": source,
        "splits": {s: {"files": w.files, "positions": int(sum(w.counts)),
                       "games": sum(1 for g in games if g["split"] == s)}
                   for s, w in writers.items()},
        "records": total, "skipped": skipped, "warnings": notes, "games": games,
    }
    atomic_json(meta_path, metadata, indent=1)
    return metadata


def _ordered(pool, batches, config, in_flight):
    """Runs batches on the pool in order, with at most ``in_flight`` pending."""
    pending = collections.deque()
    for batch in batches:
        pending.append(pool.apply_async(_convert_batch, (batch, config)))
        if len(pending) >= in_flight:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()

