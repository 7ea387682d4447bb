"""Compiled core of the Go engine: incremental groups, liberties, the 48 planes, ladders.

Everything here works on three arrays, so that a position is cheap to copy (three
``np.copy`` calls) and the ladder search can keep a stack of positions:

* ``grid``: int64 ``(6, N)`` with ``N = size * size`` points, flat index ``row * size + col``.
  Rows: ``COLOR`` (0 empty, 1 black, 2 white), ``HEAD`` (the representative point of the
  stone's group, -1 on empty points), ``NEXT`` (circular list of a group's stones), ``SIZE``
  and ``NLIBS`` (stones and liberties of a group, valid at its head) and ``PLACED`` (the move
  number at which the stone was put down).
* ``libs``: uint64 ``(N, W)``, the liberties of the group headed at each point as a bit set
  of ``W = ceil(N / 64)`` words, so merging two groups is an OR and counting is a popcount.
* ``meta``: int64 ``(META_LEN,)``: the player to move, the ko point and the colour it
  forbids, the move number and the stones captured by each side.

Functions are compiled with numba (``cache=True``) on first use; importing this module
compiles nothing. Set ``NUMBA_DISABLE_JIT=1`` to run the same code as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
def _has(bits, p):
    return (bits[p >> 6] >> np.uint64(p & 63)) & _ONE != 0


@njit(cache=True)
def _set(bits, p):
    bits[p >> 6] |= _ONE << np.uint64(p & 63)


@njit(cache=True)
def _clear(bits, p):
    bits[p >> 6] &= ~(_ONE << np.uint64(p & 63))


@njit(cache=True)
def _count(bits):
    n = 0
    for w in range(bits.shape[0]):
        n += _popcount(bits[w])
    return n


@njit(cache=True)
def _first(bits):
    """Index of the lowest set bit, or -1."""
    for w in range(bits.shape[0]):
        x = bits[w]
        if x != 0:
            b = 0
            while (x >> np.uint64(b)) & _ONE == 0:
                b += 1
            return w * 64 + b
    return -1


@njit(cache=True)
def _second(bits, first):
    """Index of the lowest set bit above ``first``, or -1."""
    n = bits.shape[0] * 64
    for p in range(first + 1, n):
        if _has(bits, p):
            return p
    return -1


# --- board updates -------------------------------------------------------------------------

@njit(cache=True)
def _merge(grid, libs, a, b):
    """Merges the groups headed at a and b (the smaller joins the larger); returns the head."""
    if grid[SIZE, a] < grid[SIZE, b]:
        a, b = b, a
    s = b
    while True:
        grid[HEAD, s] = a
        s = grid[NEXT, s]
        if s == b:
            break
    na = grid[NEXT, a]
    grid[NEXT, a] = grid[NEXT, b]
    grid[NEXT, b] = na
    grid[SIZE, a] += grid[SIZE, b]
    n = 0
    for w in range(libs.shape[1]):
        libs[a, w] |= libs[b, w]
        n += _popcount(libs[a, w])
    grid[NLIBS, a] = n
    return a


@njit(cache=True)
def _remove(grid, libs, nbr, h):
    """Takes the group headed at h off the board, giving liberties to its neighbours."""
    s = h
    while True:
        grid[COLOR, s] = EMPTY
        grid[HEAD, s] = -1
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
                if not _has(libs[ht], s):
                    _set(libs[ht], s)
                    grid[NLIBS, ht] += 1
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
def place(grid, libs, meta, nbr, p, c):
    """Puts a stone of colour c on the (legal) point p; returns the number of stones captured.

    Updates groups, liberties, captures, the ko point, the move number and the player to move.
    """
    opp = 3 - c
    grid[COLOR, p] = c
    grid[HEAD, p] = p
    grid[NEXT, p] = p
    grid[SIZE, p] = 1
    grid[PLACED, p] = meta[MOVE]
    for w in range(libs.shape[1]):
        libs[p, w] = 0
    n = 0
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] == EMPTY:
            _set(libs[p], q)
            n += 1
        else:
            h = grid[HEAD, q]
            if _has(libs[h], p):
                _clear(libs[h], p)
                grid[NLIBS, h] -= 1
    grid[NLIBS, p] = n
    h = p
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if grid[COLOR, q] == c:
            hq = grid[HEAD, q]
            if hq != h:
                h = _merge(grid, libs, h, hq)
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
                _remove(grid, libs, nbr, hq)
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
        top = 0
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
                    _set(libs[p], t)
                elif ct == c and grid[HEAD, t] < 0:
                    grid[HEAD, t] = p
                    grid[NEXT, t] = grid[NEXT, p]
                    grid[NEXT, p] = t
                    size += 1
                    stack[top] = t
                    top += 1
        grid[SIZE, p] = size
        grid[NLIBS, p] = _count(libs[p])
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
    ``tmp`` (uint64, W) and ``heads`` (int64, >= 8) are scratch space.
    """
    opp = 3 - c
    for w in range(tmp.shape[0]):
        tmp[w] = 0
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
            _set(tmp, q)
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
                for w in range(tmp.shape[0]):
                    tmp[w] |= libs[h, w]
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
    _clear(tmp, p)
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
                _set(tmp, s)
            s = grid[NEXT, s]
            if s == h:
                break
    return captured, _count(tmp), size_after


@njit(cache=True)
def is_own_eye(grid, nbr, diag, p, c):
    """A point whose orthogonal neighbours are all c's stones and whose diagonals hold at most
    one opponent stone (none on the edge or in the corner)."""
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
def _copy_level(sg, sl, sm, d):
    sg[d + 1] = sg[d]
    sl[d + 1] = sl[d]
    sm[d + 1] = sm[d]


@njit(cache=True)
def _escape_candidates(grid, libs, nbr, h, out):
    """The moves that can save the group headed at h (one liberty): its liberty, and the
    liberties of adjacent enemy groups that are in atari (capturing them). Returns a count."""
    c = grid[COLOR, h]
    n = 0
    out[n] = _first(libs[h])
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
                    m = _first(libs[ht])
                    new = True
                    for i in range(n):
                        if out[i] == m:
                            new = False
                    if new and n < out.shape[0]:
                        out[n] = m
                        n += 1
        s = grid[NEXT, s]
        if s == h:
            break
    return n


@njit(cache=True)
def _init_node(sg, sl, cand, ncand, idx, kind, nbr, d, stone, attacker_turn):
    kind[d] = attacker_turn
    idx[d] = 0
    h = sg[d, HEAD, stone]
    if attacker_turn == 1:
        l1 = _first(sl[d, h])
        cand[d, 0] = l1
        cand[d, 1] = _second(sl[d, h], l1)
        ncand[d] = 2
    else:
        ncand[d] = _escape_candidates(sg[d], sl[d], nbr, h, cand[d])


@njit(cache=True)
def ladder_captured(sg, sl, sm, cand, ncand, idx, kind, nbr, stone, attacker_turn, max_nodes):
    """Ladder reading from stack level 0: is the group at ``stone`` captured?

    Attacker to move (``attacker_turn=1``, the group has two liberties): captured if an
    atari on one of them leads to capture. Defender to move (one liberty): captured unless
    an escape works; escapes are extending on the liberty and capturing an adjacent
    attacking group that is in atari, and the group is safe once it has three or more
    liberties (one liberty after its own move: captured). A search that runs out of depth
    (the stack's levels) or of nodes (``max_nodes``) counts as not captured.

    Depth-first with an explicit stack: level d holds the position of the node at depth d,
    ``cand[d, :ncand[d]]`` its moves and ``idx[d]`` the next one to try.
    """
    depth = sg.shape[0]
    if depth < 2 or max_nodes < 1:
        return False
    budget = max_nodes - 1
    d = np.int64(0)
    _init_node(sg, sl, cand, ncand, idx, kind, nbr, d, stone, attacker_turn)
    res = -1
    while True:
        value = -1
        if res >= 0:
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
                defender = sg[d, COLOR, stone]
                mover = 3 - defender if kind[d] == 1 else defender
                if m < 0 or not is_legal(sg[d], sm[d], nbr, m, mover):
                    continue
                _copy_level(sg, sl, sm, d)
                place(sg[d + 1], sl[d + 1], sm[d + 1], nbr, m, mover)
                n = sg[d + 1, NLIBS, sg[d + 1, HEAD, stone]]
                if kind[d] == 0:
                    if n >= 3:
                        value = 0
                    elif n <= 1:
                        continue
                elif n != 1:
                    continue
                if value < 0:
                    budget -= 1
                    if budget < 0 or d + 2 >= depth:
                        res = 0
                        continue
                    _init_node(sg, sl, cand, ncand, idx, kind, nbr, d + 1, stone, 1 - kind[d])
                    d += 1
                    continue
        if d == 0:
            return value == 1
        d -= 1
        res = value


# --- the 48 planes -------------------------------------------------------------------------

@njit(cache=True)
def fill_features(grid, libs, meta, nbr, diag, out, nplanes, sg, sl, sm, cand, ncand, idx, kind,
                  max_nodes):
    """Writes the planes of Extended Data Table 2 into ``out`` (uint8 ``(N, >= nplanes)``,
    zero on entry) for the player ``meta[TO_PLAY]``. See ``kcnn.go.features``."""
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
    tmp = np.empty(libs.shape[1], dtype=np.uint64)
    heads = np.empty(8, dtype=np.int64)
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
        sg[0] = grid
        sl[0] = libs
        sm[0] = meta
        place(sg[0], sl[0], sm[0], nbr, p, c)
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            if grid[COLOR, q] != opp or grid[NLIBS, grid[HEAD, q]] != 2:
                continue
            if sg[0, COLOR, q] != opp or sg[0, NLIBS, sg[0, HEAD, q]] != 1:
                continue
            if ladder_captured(sg, sl, sm, cand, ncand, idx, kind, nbr, q, np.int64(0),
                               max_nodes):
                out[p, P_LADDER_CAPTURE] = 1
                break
    # Ladder escape: a move that saves a group of the player's that is in atari.
    moves = np.empty(n, dtype=np.int64)
    for h in range(n):
        if grid[COLOR, h] != c or grid[HEAD, h] != h or grid[NLIBS, h] != 1:
            continue
        nm = _escape_candidates(grid, libs, nbr, h, moves)
        for i in range(nm):
            m = moves[i]
            if out[m, P_LADDER_ESCAPE] == 1 or not is_legal(grid, meta, nbr, m, c):
                continue
            sg[0] = grid
            sl[0] = libs
            sm[0] = meta
            place(sg[0], sl[0], sm[0], nbr, m, c)
            libs_after = sg[0, NLIBS, sg[0, HEAD, h]]
            if libs_after >= 3:
                out[m, P_LADDER_ESCAPE] = 1
            elif libs_after == 2:
                if not ladder_captured(sg, sl, sm, cand, ncand, idx, kind, nbr, h,
                                       np.int64(1), max_nodes):
                    out[m, P_LADDER_ESCAPE] = 1
