"""Compiled core of the Go engine: incremental groups, liberties, the 48 planes, ladders.

Everything here works on three arrays, so that a position is cheap to copy (three
``np.copy`` calls):

* ``grid``: int64 ``(6, N)`` with ``N = size * size`` points, flat index ``row * size + col``.
  Rows: ``COLOR`` (0 empty, 1 black, 2 white), ``HEAD`` (the representative point of the
  stone's group, -1 on empty points), ``NEXT`` (circular list of a group's stones), ``SIZE``
  and ``NLIBS`` (stones and liberties of a group, valid at its head) and ``PLACED`` (the move
  number at which the stone was put down).
* ``libs``: uint64 ``(N, W)``, the liberties of the group headed at each point as a bit set
  of ``W = ceil(N / 64)`` words, so merging two groups is an OR and counting is a popcount.
* ``meta``: int64 ``(META_LEN,)``: the player to move, the ko point and the colour it
  forbids, the move number and the stones captured by each side.

Every write to ``grid`` and ``libs`` goes through a journal, an int64 array ``(capacity, 4)``
whose row 0 holds ``[rows used, enabled, 0, 0]`` and whose other rows record
``[kind, row, column, old value]`` (kind 0: grid, 1: libs); ``undo`` takes moves back. The
ladder search plays its moves on one working copy and undoes them. ``no_journal`` records
nothing.

Hot helpers take an array and a row index rather than a row view: creating views costs
reference counting in compiled code.

Functions are compiled with numba (``cache=True``) on first use; importing this module
compiles nothing. Set ``NUMBA_DISABLE_JIT=1`` to run the same code as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["EMPTY", "BLACK", "WHITE", "GRID_ROWS", "META_LEN", "SETUP_PLACED",
           "neighbour_tables", "journal", "no_journal", "undo", "is_legal", "place", "rebuild",
           "legal_mask", "analyse", "is_own_eye", "sensible_mask", "ladder_captured",
           "fill_features"]

EMPTY, BLACK, WHITE = 0, 1, 2

# Rows of `grid`.
COLOR, HEAD, NEXT, SIZE, NLIBS, PLACED = 0, 1, 2, 3, 4, 5
GRID_ROWS = 6
# Entries of `meta`.
TO_PLAY, KO, KO_COLOUR, MOVE, CAPTURED_BY_BLACK, CAPTURED_BY_WHITE = 0, 1, 2, 3, 4, 5
META_LEN = 8

# `PLACED` value of setup stones (AB/AW, handicap): older than any move, so their age is
# always "8 or more" turns.
SETUP_PLACED = -(1 << 30)

# Plane offsets of Extended Data Table 2.
P_PLAYER, P_OPPONENT, P_EMPTY, P_ONES = 0, 1, 2, 3
P_TURNS, P_LIBERTIES, P_CAPTURE, P_SELF_ATARI, P_LIBS_AFTER = 4, 12, 20, 28, 36
P_LADDER_CAPTURE, P_LADDER_ESCAPE, P_SENSIBLE, P_ZEROS, P_COLOUR = 44, 45, 46, 47, 48

_ONE = np.uint64(1)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_S1, _S2, _S4, _S56 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)


def neighbour_tables(size):
    """Orthogonal and diagonal neighbours of every point, padded with -1 at the end."""
    n = size * size
    nbr = np.full((n, 4), -1, dtype=np.int64)
    diag = np.full((n, 4), -1, dtype=np.int64)
    for p in range(n):
        r, c = divmod(p, size)
        k = 0
        for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            if 0 <= r + dr < size and 0 <= c + dc < size:
                nbr[p, k] = (r + dr) * size + c + dc
                k += 1
        k = 0
        for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            if 0 <= r + dr < size and 0 <= c + dc < size:
                diag[p, k] = (r + dr) * size + c + dc
                k += 1
    return nbr, diag


# --- bit sets ------------------------------------------------------------------------------

@njit(cache=True)
def _popcount(x):
    x = x - ((x >> _S1) & _M1)
    x = (x & _M2) + ((x >> _S2) & _M2)
    x = (x + (x >> _S4)) & _M4
    return np.int64((x * _H01) >> _S56)


@njit(cache=True)
def _lowest(x):
    """Index of the lowest set bit of a non-zero uint64."""
    return _popcount((x & (~x + _ONE)) - _ONE)


@njit(cache=True)
def _bit(p):
    return _ONE << np.uint64(p & 63)


@njit(cache=True)
def _has(bits, h, p):
    """Whether point p is in the bit set ``bits[h]``."""
    return bits[h, p >> 6] & _bit(p) != 0


@njit(cache=True)
def _count(bits, h):
    n = 0
    for w in range(bits.shape[1]):
        n += _popcount(bits[h, w])
    return n


@njit(cache=True)
def _first(bits, h):
    """The lowest point in ``bits[h]``, or -1."""
    for w in range(bits.shape[1]):
        if bits[h, w] != 0:
            return w * 64 + _lowest(bits[h, w])
    return -1


@njit(cache=True)
def _second(bits, h, first):
    """The lowest point in ``bits[h]`` above ``first`` (>= 0), or -1."""
    w0 = first >> 6
    b = (first & 63) + 1
    if b < 64:
        x = bits[h, w0] & ~((_ONE << np.uint64(b)) - _ONE)
        if x != 0:
            return w0 * 64 + _lowest(x)
    for w in range(w0 + 1, bits.shape[1]):
        if bits[h, w] != 0:
            return w * 64 + _lowest(bits[h, w])
    return -1


# --- journal -------------------------------------------------------------------------------

def journal(capacity):
    """A journal holding ``capacity - 1`` writes."""
    jr = np.zeros((capacity, 4), np.int64)
    jr[0, 0] = 1
    jr[0, 1] = 1
    return jr


def no_journal():
    """A journal that records nothing (for moves that are never taken back)."""
    return np.zeros((1, 4), np.int64)


@njit(cache=True)
def _gw(grid, r, p, v, jr):
    """grid[r, p] = v, journaled."""
    if jr[0, 1] != 0:
        i = jr[0, 0]
        jr[i, 0] = 0
        jr[i, 1] = r
        jr[i, 2] = p
        jr[i, 3] = grid[r, p]
        jr[0, 0] = i + 1
    grid[r, p] = v


@njit(cache=True)
def _lw(libs, h, w, v, jr):
    """libs[h, w] = v, journaled."""
    if jr[0, 1] != 0:
        i = jr[0, 0]
        jr[i, 0] = 1
        jr[i, 1] = h
        jr[i, 2] = w
        jr[i, 3] = np.int64(libs[h, w])
        jr[0, 0] = i + 1
    libs[h, w] = v


@njit(cache=True)
def undo(grid, libs, jr, mark):
    """Takes back every journaled write made since ``jr[0, 0]`` was ``mark``."""
    i = jr[0, 0]
    while i > mark:
        i -= 1
        if jr[i, 0] == 0:
            grid[jr[i, 1], jr[i, 2]] = jr[i, 3]
        else:
            libs[jr[i, 1], jr[i, 2]] = np.uint64(jr[i, 3])
    jr[0, 0] = mark


@njit(cache=True)
def _room(grid, libs, jr):
    """Whether the journal can hold the writes of any single move (at most 7n + 32 to the
    grid and 4n + 4w + 8 to the liberties, for n points and w words per bit set)."""
    need = 11 * grid.shape[1] + 4 * libs.shape[1] + 64
    return jr[0, 0] + need <= jr.shape[0]


# --- board updates -------------------------------------------------------------------------

@njit(cache=True)
def _merge(grid, libs, a, b, jr):
    """Merges the groups headed at a and b (the smaller joins the larger); returns the head."""
    if grid[SIZE, a] < grid[SIZE, b]:
        a, b = b, a
    s = b
    while True:
        _gw(grid, HEAD, s, a, jr)
        s = grid[NEXT, s]
        if s == b:
            break
    na = grid[NEXT, a]
    _gw(grid, NEXT, a, grid[NEXT, b], jr)
    _gw(grid, NEXT, b, na, jr)
    _gw(grid, SIZE, a, grid[SIZE, a] + grid[SIZE, b], jr)
    n = 0
    for w in range(libs.shape[1]):
        v = libs[a, w] | libs[b, w]
        if v != libs[a, w]:
            _lw(libs, a, w, v, jr)
        n += _popcount(v)
    _gw(grid, NLIBS, a, n, jr)
    return a


@njit(cache=True)
def _remove(grid, libs, nbr, h, jr):
    """Takes the group headed at h off the board, giving liberties to its neighbours."""
    s = h
    while True:
        _gw(grid, COLOR, s, EMPTY, jr)
        _gw(grid, HEAD, s, -1, jr)
        s = grid[NEXT, s]
        if s == h:
            break
    s = h
    while True:
        for k in range(4):
            t = nbr[s, k]
            if t < 0:
                break
            if grid[COLOR, t] != EMPTY:
                ht = grid[HEAD, t]
                if not _has(libs, ht, s):
                    w = s >> 6
                    _lw(libs, ht, w, libs[ht, w] | _bit(s), jr)
                    _gw(grid, NLIBS, ht, grid[NLIBS, ht] + 1, jr)
        s = grid[NEXT, s]
        if s == h:
            break


@njit(cache=True)
def is_legal(grid, meta, nbr, p, c):
    """Whether colour c may play at point p: empty, not the ko point, not suicide."""
    if grid[COLOR, p] != EMPTY:
        return False
    if p == meta[KO] and c == meta[KO_COLOUR]:
        return False
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        cq = grid[COLOR, q]
        if cq == EMPTY:
            return True
        n = grid[NLIBS, grid[HEAD, q]]
        if cq == c:
            if n > 1:
                return True
        elif n == 1:
            return True
    return False


@njit(cache=True)
def place(grid, libs, meta, nbr, p, c, jr):
    """Puts a stone of colour c on the (legal) point p; returns the number of stones captured.

    Updates groups, liberties, captures, the ko point, the move number and the player to move
    (``meta`` is not journaled: save it to take the move back).
    """
    opp = 3 - c
    _gw(grid, COLOR, p, c, jr)
    _gw(grid, HEAD, p, p, jr)
    _gw(grid, NEXT, p, p, jr)
    _gw(grid, SIZE, p, 1, jr)
    _gw(grid, PLACED, p, meta[MOVE], jr)
    for w in range(libs.shape[1]):
        if libs[p, w] != 0:
            _lw(libs, p, w, np.uint64(0), jr)
    n = 0
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] == EMPTY:
            w = q >> 6
            _lw(libs, p, w, libs[p, w] | _bit(q), jr)
            n += 1
        else:
            h = grid[HEAD, q]
            if _has(libs, h, p):
                w = p >> 6
                _lw(libs, h, w, libs[h, w] & ~_bit(p), jr)
                _gw(grid, NLIBS, h, grid[NLIBS, h] - 1, jr)
    _gw(grid, NLIBS, p, n, jr)
    h = p
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] == c:
            hq = grid[HEAD, q]
            if hq != h:
                h = _merge(grid, libs, h, hq, jr)
    captured = 0
    ko = -1
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] == opp:
            hq = grid[HEAD, q]
            if grid[NLIBS, hq] == 0:
                captured += grid[SIZE, hq]
                ko = q
                _remove(grid, libs, nbr, hq, jr)
    h = grid[HEAD, p]
    if captured == 1 and grid[SIZE, h] == 1 and grid[NLIBS, h] == 1:
        meta[KO] = ko
        meta[KO_COLOUR] = opp
    else:
        meta[KO] = -1
    meta[CAPTURED_BY_BLACK + c - 1] += captured
    meta[MOVE] += 1
    meta[TO_PLAY] = opp
    return captured


@njit(cache=True)
def rebuild(grid, libs, nbr):
    """Recomputes groups and liberties from the colours alone (after setup stones).

    Returns the number of groups without liberties (0 for a valid position).
    """
    n = grid.shape[1]
    stack = np.empty(n, dtype=np.int64)
    for p in range(n):
        grid[HEAD, p] = -1
    dead = 0
    for p in range(n):
        c = grid[COLOR, p]
        if c == EMPTY or grid[HEAD, p] >= 0:
            continue
        for w in range(libs.shape[1]):
            libs[p, w] = 0
        grid[HEAD, p] = p
        grid[NEXT, p] = p
        size = 1
        stack[0] = p
        top = 1
        while top > 0:
            top -= 1
            s = stack[top]
            for k in range(4):
                t = nbr[s, k]
                if t < 0:
                    break
                ct = grid[COLOR, t]
                if ct == EMPTY:
                    libs[p, t >> 6] |= _bit(t)
                elif ct == c and grid[HEAD, t] < 0:
                    grid[HEAD, t] = p
                    grid[NEXT, t] = grid[NEXT, p]
                    grid[NEXT, p] = t
                    size += 1
                    stack[top] = t
                    top += 1
        grid[SIZE, p] = size
        grid[NLIBS, p] = _count(libs, p)
        if grid[NLIBS, p] == 0:
            dead += 1
    return dead


@njit(cache=True)
def legal_mask(grid, meta, nbr, c, out):
    for p in range(grid.shape[1]):
        out[p] = is_legal(grid, meta, nbr, p, c)


# --- what a move would do ------------------------------------------------------------------

@njit(cache=True)
def analyse(grid, libs, nbr, p, c, tmp, heads):
    """What playing colour c at the empty point p would do, without playing it.

    Returns ``(captured, liberties_after, size_after)``: opponent stones captured, liberties
    of the stone's group once captures are removed (0 means suicide) and the group's size.
    ``tmp`` (uint64, ``(1, W)``) and ``heads`` (int64, >= 8) are scratch space.
    """
    opp = 3 - c
    for w in range(tmp.shape[1]):
        tmp[0, w] = 0
    nown = 0
    ncap = 0
    size_after = 1
    captured = 0
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        cq = grid[COLOR, q]
        if cq == EMPTY:
            tmp[0, q >> 6] |= _bit(q)
        elif cq == c:
            h = grid[HEAD, q]
            new = True
            for i in range(nown):
                if heads[i] == h:
                    new = False
            if new:
                heads[nown] = h
                nown += 1
                size_after += grid[SIZE, h]
                for w in range(tmp.shape[1]):
                    tmp[0, w] |= libs[h, w]
        elif cq == opp:
            h = grid[HEAD, q]
            if grid[NLIBS, h] == 1:
                new = True
                for i in range(ncap):
                    if heads[4 + i] == h:
                        new = False
                if new:
                    heads[4 + ncap] = h
                    ncap += 1
                    captured += grid[SIZE, h]
    tmp[0, p >> 6] &= ~_bit(p)
    for i in range(ncap):
        h = heads[4 + i]
        s = h
        while True:
            touches = False
            for k in range(4):
                t = nbr[s, k]
                if t < 0:
                    break
                if t == p:
                    touches = True
                    break
                if grid[COLOR, t] == c:
                    ht = grid[HEAD, t]
                    for j in range(nown):
                        if heads[j] == ht:
                            touches = True
                    if touches:
                        break
            if touches:
                tmp[0, s >> 6] |= _bit(s)
            s = grid[NEXT, s]
            if s == h:
                break
    return captured, _count(tmp, 0), size_after


@njit(cache=True)
def is_own_eye(grid, nbr, diag, p, c):
    """A point whose orthogonal neighbours are all c's stones and whose diagonal points hold
    at most one opponent stone (none on the edge or in the corner)."""
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] != c:
            return False
    opp = 3 - c
    bad = 0
    for k in range(4):
        q = diag[p, k]
        if q < 0:
            bad += 1
            break
        if grid[COLOR, q] == opp:
            bad += 1
    return bad < 2


@njit(cache=True)
def sensible_mask(grid, meta, nbr, diag, c, out):
    for p in range(grid.shape[1]):
        out[p] = is_legal(grid, meta, nbr, p, c) and not is_own_eye(grid, nbr, diag, p, c)


# --- ladders -------------------------------------------------------------------------------

@njit(cache=True)
def _escape_candidates(grid, libs, nbr, h, out, row):
    """The moves that can save the group headed at h (one liberty) into ``out[row]``: its
    liberty, and the liberties of adjacent enemy groups in atari (capturing them). Returns
    their number."""
    c = grid[COLOR, h]
    n = 0
    out[row, n] = _first(libs, h)
    n += 1
    s = h
    while True:
        for k in range(4):
            t = nbr[s, k]
            if t < 0:
                break
            if grid[COLOR, t] == 3 - c:
                ht = grid[HEAD, t]
                if grid[NLIBS, ht] == 1:
                    m = _first(libs, ht)
                    new = True
                    for i in range(n):
                        if out[row, i] == m:
                            new = False
                    if new and n < out.shape[1]:
                        out[row, n] = m
                        n += 1
        s = grid[NEXT, s]
        if s == h:
            break
    return n


@njit(cache=True)
def _init_node(grid, libs, nbr, cand, ncand, idx, kind, d, stone, attacker_turn):
    kind[d] = attacker_turn
    idx[d] = 0
    h = grid[HEAD, stone]
    if attacker_turn == 1:
        l1 = _first(libs, h)
        cand[d, 0] = l1
        cand[d, 1] = _second(libs, h, l1)
        ncand[d] = 2
    else:
        ncand[d] = _escape_candidates(grid, libs, nbr, h, cand, d)


@njit(cache=True)
def _save(meta, saved, d):
    for j in range(meta.shape[0]):
        saved[d, j] = meta[j]


@njit(cache=True)
def _restore(meta, saved, d):
    for j in range(meta.shape[0]):
        meta[j] = saved[d, j]


@njit(cache=True)
def ladder_captured(grid, libs, meta, nbr, jr, cand, ncand, idx, kind, marks, saved, stone,
                    attacker_turn, max_nodes):
    """Ladder reading: is the group at ``stone`` captured?

    Attacker to move (``attacker_turn=1``, the group has two liberties): captured if an
    atari on one of them leads to capture. Defender to move (one liberty): captured unless
    an escape works; escapes are extending on the liberty and capturing an adjacent
    attacking group that is in atari, and the group is safe once it has three or more
    liberties (one liberty after its own move: captured). A node ``len(idx)`` or more plies
    deep, or beyond ``max_nodes`` nodes (or a journal too full for another move), counts as
    not captured.

    Depth-first with an explicit stack: node d's moves are ``cand[d, :ncand[d]]`` and
    ``idx[d]`` is the next one to try; ``marks[d]`` and ``saved[d]`` take its move back.
    Moves are played on ``grid``/``libs``/``meta`` and undone with the journal ``jr`` (which
    must be enabled); the position is unchanged on return.
    """
    max_depth = idx.shape[0]
    if max_depth < 1 or max_nodes < 1:
        return False
    budget = max_nodes - 1
    d = np.int64(0)
    _init_node(grid, libs, nbr, cand, ncand, idx, kind, d, stone, attacker_turn)
    res = -1
    while True:
        value = -1
        if res >= 0:
            # the child of node d has its value: take back node d's move
            undo(grid, libs, jr, marks[d])
            _restore(meta, saved, d)
            if kind[d] == 1 and res == 1:
                value = 1
            elif kind[d] == 0 and res == 0:
                value = 0
            res = -1
        if value < 0:
            i = idx[d]
            if i >= ncand[d]:
                value = 0 if kind[d] == 1 else 1
            else:
                idx[d] = i + 1
                m = cand[d, i]
                defender = grid[COLOR, stone]
                mover = 3 - defender if kind[d] == 1 else defender
                if m < 0 or not is_legal(grid, meta, nbr, m, mover):
                    continue
                if not _room(grid, libs, jr):
                    if kind[d] == 0:
                        value = 0          # an unread escape counts as an escape
                    else:
                        continue
                else:
                    marks[d] = jr[0, 0]
                    _save(meta, saved, d)
                    place(grid, libs, meta, nbr, m, mover, jr)
                    n = grid[NLIBS, grid[HEAD, stone]]
                    expand = True
                    if kind[d] == 0:
                        if n >= 3:
                            value = 0
                            expand = False
                        elif n <= 1:
                            expand = False
                    elif n != 1:
                        expand = False
                    if expand:
                        budget -= 1
                        if budget < 0 or d + 1 >= max_depth:
                            res = 0        # unread: not captured
                            continue
                        _init_node(grid, libs, nbr, cand, ncand, idx, kind, d + 1, stone,
                                   1 - kind[d])
                        d += 1
                        continue
                    undo(grid, libs, jr, marks[d])
                    _restore(meta, saved, d)
                    if value < 0:
                        continue
        if d == 0:
            return value == 1
        d -= 1
        res = value


# --- the 48 planes -------------------------------------------------------------------------

@njit(cache=True)
def fill_features(grid, libs, meta, nbr, diag, out, nplanes, wg, wl, wm, jr, cand, ncand,
                  idx, kind, marks, saved, max_nodes):
    """Writes the planes of Extended Data Table 2 into ``out`` (uint8 ``(N, >= nplanes)``,
    zero on entry) for the player ``meta[TO_PLAY]``. ``wg``, ``wl``, ``wm`` receive a working
    copy of the position for the ladder search (see ``ladder_captured`` for the rest).
    See ``kcnn.go.features``."""
    n = grid.shape[1]
    c = meta[TO_PLAY]
    opp = 3 - c
    move = meta[MOVE]
    for p in range(n):
        col = grid[COLOR, p]
        out[p, P_ONES] = 1
        if col == EMPTY:
            out[p, P_EMPTY] = 1
            continue
        out[p, P_PLAYER if col == c else P_OPPONENT] = 1
        if nplanes > P_TURNS:
            age = move - grid[PLACED, p]
            out[p, P_TURNS + min(age, 8) - 1] = 1
        if nplanes > P_LIBERTIES:
            out[p, P_LIBERTIES + min(grid[NLIBS, grid[HEAD, p]], 8) - 1] = 1
    if nplanes > P_COLOUR and c == BLACK:
        for p in range(n):
            out[p, P_COLOUR] = 1
    if nplanes <= P_CAPTURE:
        return
    tmp = np.empty((1, libs.shape[1]), dtype=np.uint64)
    heads = np.empty(8, dtype=np.int64)
    root = np.empty((1, meta.shape[0]), dtype=np.int64)
    wg[:] = grid
    wl[:] = libs
    wm[:] = meta
    jr[0, 0] = 1
    jr[0, 1] = 1
    for p in range(n):
        if grid[COLOR, p] != EMPTY or (p == meta[KO] and c == meta[KO_COLOUR]):
            continue
        captured, libs_after, size_after = analyse(grid, libs, nbr, p, c, tmp, heads)
        if libs_after == 0:
            continue
        if captured > 0:
            out[p, P_CAPTURE + min(captured, 8) - 1] = 1
        if libs_after == 1:
            out[p, P_SELF_ATARI + min(size_after, 8) - 1] = 1
        out[p, P_LIBS_AFTER + min(libs_after, 8) - 1] = 1
        if not is_own_eye(grid, nbr, diag, p, c):
            out[p, P_SENSIBLE] = 1
        # Ladder capture: the move ataris an opponent group that had two liberties.
        chase = False
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            if grid[COLOR, q] == opp and grid[NLIBS, grid[HEAD, q]] == 2:
                chase = True
        if not chase:
            continue
        _save(wm, root, 0)
        place(wg, wl, wm, nbr, p, c, jr)
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            if grid[COLOR, q] != opp or grid[NLIBS, grid[HEAD, q]] != 2:
                continue
            if wg[COLOR, q] != opp or wg[NLIBS, wg[HEAD, q]] != 1:
                continue
            if ladder_captured(wg, wl, wm, nbr, jr, cand, ncand, idx, kind, marks, saved, q,
                               np.int64(0), max_nodes):
                out[p, P_LADDER_CAPTURE] = 1
                break
        undo(wg, wl, jr, 1)
        _restore(wm, root, 0)
    # Ladder escape: a move that saves a group of the player's that is in atari.
    moves = np.empty((1, n), dtype=np.int64)
    for h in range(n):
        if grid[COLOR, h] != c or grid[HEAD, h] != h or grid[NLIBS, h] != 1:
            continue
        nm = _escape_candidates(grid, libs, nbr, h, moves, 0)
        for i in range(nm):
            m = moves[0, i]
            if out[m, P_LADDER_ESCAPE] == 1 or not is_legal(grid, meta, nbr, m, c):
                continue
            _save(wm, root, 0)
            place(wg, wl, wm, nbr, m, c, jr)
            libs_after = wg[NLIBS, wg[HEAD, h]]
            if libs_after >= 3:
                out[m, P_LADDER_ESCAPE] = 1
            elif libs_after == 2:
                if not ladder_captured(wg, wl, wm, nbr, jr, cand, ncand, idx, kind, marks,
                                       saved, h, np.int64(1), max_nodes):
                    out[m, P_LADDER_ESCAPE] = 1
            undo(wg, wl, jr, 1)
            _restore(wm, root, 0)
