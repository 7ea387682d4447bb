"""The input planes of the AlphaGo networks (Silver et al. 2016, Extended Data Table 2).

Every plane is relative to the player to move. Integer features are one-hot over eight
planes for the values 1, 2, ..., 7 and "8 or more"; a value of 0 sets none of them.

==========  ======  ==============================================================
planes      count   meaning
==========  ======  ==============================================================
0-2         3       stone colour: player, opponent, empty
3           1       ones: a constant plane (it marks the board inside the padding)
4-11        8       turns since: how many moves ago each stone was played
12-19       8       liberties: liberties of each stone's group
20-27       8       capture size: opponent stones a move here would capture
28-35       8       self-atari size: own stones a move here would leave in atari
36-43       8       liberties after move: liberties of the group a move here makes
44          1       ladder capture: a move here captures an opponent group in a ladder
45          1       ladder escape: a move here saves an own group from a ladder
46          1       sensibleness: a move here is legal and does not fill an own eye
47          1       zeros: a constant plane
48          1       player colour (value network only): 1 when black is to move
==========  ======  ==============================================================

Choices the paper leaves open, made here:

* **Turns since.** Moves of either player count, passes included. The newest stone is
  "1 turn since" (plane 4), a stone played k moves ago is in plane ``4 + min(k, 8) - 1``.
  Setup stones (SGF AB/AW, handicap stones) are "8 or more" turns old. Empty points are 0.
* **Move features** (capture size, self-atari size, liberties after move, ladders,
  sensibleness) are computed for the legal moves of the player to move only; illegal points
  (occupied, suicide, the ko point) are zero in all of them.
* **Capture size 0** sets no plane: planes 20-27 stand for 1, ..., 7 and 8 or more stones,
  like every other integer family. A legal move capturing nothing is recognisable from the
  liberties-after-move planes, which are set for every legal move.
* **Liberties after move** count the liberties of the group containing the new stone once
  the captured stones are removed (a capture gives liberties back).
* **Self-atari size** is the size of that group, stone included, when it has exactly one
  liberty after the move (captures taken into account); 0 otherwise.
* **Sensibleness**: legal and not an own eye, an eye being an empty point whose orthogonal
  neighbours are all the player's stones and whose diagonal points hold at most one
  opponent stone, or none when the point is on the edge or in a corner.
* **Ladders.** The search reads only ladder moves. The attacker, to move against a group
  with two liberties, tries an atari on each liberty; the defender, in atari, tries
  extending on its liberty and capturing any adjacent attacking group that is in atari; a
  defender's group with three or more liberties has escaped, one with one liberty after its
  own move is captured. *Ladder capture* marks a legal move that leaves an opponent group
  with two liberties in atari which cannot escape. *Ladder escape* marks a legal move that
  saves one of the player's groups in atari: it is one of the escapes above and afterwards
  the group has three or more liberties, or two that the attacker cannot ladder.
* **Ladder depth.** The search reads at most ``LADDER_DEPTH`` = 120 plies after the move
  (a ladder running corner to corner on 19x19 takes about 72) and ``LADDER_NODES`` = 5,000
  positions per ladder; a line it cannot finish counts as "the defender escapes": no ladder
  capture, and the escape holds. (Its undo journal, sized for thousands of stone changes,
  is a third limit no real ladder reaches; it is treated the same way.)

Features are returned as ``uint8`` arrays of 0 and 1, shape ``(size, size, planes)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from kcnn.go import _core
from kcnn.go.board import GoState, ladder_scratch, tables

__all__ = ["FEATURE_SETS", "PLANE_NAMES", "LADDER_DEPTH", "LADDER_NODES", "features",
           "num_planes"]

LADDER_DEPTH = 120
LADDER_NODES = 5_000

# Extended Data Table 3 trains on the first 4, 12 and 20 planes as well as all 48.
FEATURE_SETS = {
    "raw": 4,          # stone colour and ones
    "history": 12,     # + turns since
    "liberties": 20,   # + liberties
    "policy": 48,      # all the policy network's planes
    "value": 49,       # + player colour, the value network's input
}

PLANE_NAMES = (
    ["player", "opponent", "empty", "ones"]
    + [f"turns_since_{i}" for i in range(1, 8)] + ["turns_since_8+"]
    + [f"liberties_{i}" for i in range(1, 8)] + ["liberties_8+"]
    + [f"capture_size_{i}" for i in range(1, 8)] + ["capture_size_8+"]
    + [f"self_atari_size_{i}" for i in range(1, 8)] + ["self_atari_size_8+"]
    + [f"liberties_after_move_{i}" for i in range(1, 8)] + ["liberties_after_move_8+"]
    + ["ladder_capture", "ladder_escape", "sensibleness", "zeros", "player_colour"])


def num_planes(planes):
    """The number of planes of a feature set given by count (4, 12, 20, 48, 49) or name."""
    if isinstance(planes, str) and planes in FEATURE_SETS:
        return FEATURE_SETS[planes]
    if isinstance(planes, numbers.Integral) and not isinstance(planes, bool) \
            and int(planes) in FEATURE_SETS.values():
        return int(planes)
    names = ", ".join(f"{k!r} ({v})" for k, v in FEATURE_SETS.items())
    raise ValueError(f"`planes` must be one of {names} or one of those counts. "
                     f"Received: planes={planes!r}")


def features(state, planes=48, *, out=None):
    """The input planes of ``state`` for the player to move.

    Args:
        state: a ``GoState``.
        planes: 48 (policy network), 49 (value network: adds the player colour), 4, 12 or
            20 (the first planes, Extended Data Table 3), or a name from ``FEATURE_SETS``.
        out: optional uint8 array of shape ``(size, size, >= planes)`` to fill (it is
            cleared first); saves an allocation in loops.

    Returns:
        uint8 array ``(size, size, planes)`` of 0 and 1, row 0 at the top.
    """
    if not isinstance(state, GoState):
        raise TypeError(f"`state` must be a kcnn.go.GoState. Received: state={state!r}")
    n_planes = num_planes(planes)
    size = state.size
    width = max(n_planes, 48)
    if out is None:
        out = np.zeros((size, size, width), np.uint8)
    else:
        if (not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3
                or out.shape[:2] != (size, size) or out.shape[2] < width
                or not out.flags.c_contiguous):
            raise ValueError(f"`out` must be a C-contiguous uint8 array of shape "
                             f"({size}, {size}, >= {width}). Received: out with shape "
                             f"{getattr(out, 'shape', None)}")
        out[...] = 0
    nbr, diag = tables(size)
    _core.fill_features(state.grid, state.libs, state.meta, nbr, diag,
                        out.reshape(size * size, out.shape[2]), n_planes,
                        *ladder_scratch(size, LADDER_DEPTH), LADDER_NODES)
    return out[:, :, :n_planes]
