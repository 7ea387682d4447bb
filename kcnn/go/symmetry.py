"""The 8 symmetries of the Go board (the dihedral group), for planes and move labels.

Silver et al. 2016 augment training with "all 8 reflections and rotations" and evaluate
with an explicit ensemble over them (Extended Data Table 3: 55.9% -> 57.0% for k=256).

Symmetry ``k`` (0-7) first transposes the board when ``k >= 4`` (``(r, c) -> (c, r)``) and
then rotates it ``k % 4`` quarter turns counter-clockwise, each quarter turn sending
``(r, c)`` to ``(size - 1 - c, r)`` (``np.rot90``). ``k = 0`` is the identity, 1-3 are
rotations and 4-7 the four reflections, each its own inverse.

For a transformed position the label ``row * size + col`` of a move maps through
``transform_label``; in TensorFlow, ``gather_indices`` permutes flattened boards in one
``tf.gather``.
"""

from __future__ import annotations

import functools

import numpy as np

from kcnn._checks import check_int

__all__ = ["NUM_SYMMETRIES", "transform", "transform_point", "transform_label", "inverse",
           "gather_indices", "label_maps"]

NUM_SYMMETRIES = 8


def _check_k(k):
    return check_int("k", k, minimum=0, maximum=NUM_SYMMETRIES - 1)


def inverse(k):
    """The symmetry undoing symmetry ``k``."""
    k = _check_k(k)
    return (4 - k) % 4 if k < 4 else k


def transform(planes, k):
    """Applies symmetry ``k`` to a board array ``(..., size, size, channels)`` (numpy)."""
    k = _check_k(k)
    planes = np.asarray(planes)
    if planes.ndim < 3 or planes.shape[-3] != planes.shape[-2]:
        raise ValueError("`planes` must have shape (..., size, size, channels). "
                         f"Received: planes with shape {planes.shape}")
    if k >= 4:
        planes = np.swapaxes(planes, -3, -2)
    return np.rot90(planes, k % 4, axes=(planes.ndim - 3, planes.ndim - 2))


def transform_point(point, k, size):
    """Where symmetry ``k`` sends the point ``(row, col)``; None (a pass) stays None."""
    k = _check_k(k)
    if point is None:
        return None
    r, c = point
    if k >= 4:
        r, c = c, r
    for _ in range(k % 4):
        r, c = size - 1 - c, r
    return (r, c)


def transform_label(label, k, size):
    """Where symmetry ``k`` sends the move label ``row * size + col`` (int or array)."""
    return label_maps(size)[_check_k(k)][label]


@functools.lru_cache(maxsize=None)
def gather_indices(size):
    """int32 ``(8, size * size)``: ``out[j] = board[gather_indices[k][j]]`` applies
    symmetry ``k`` to a flattened board."""
    grid = np.arange(size * size, dtype=np.int32).reshape(size, size, 1)
    table = np.stack([transform(grid, k).reshape(-1) for k in range(NUM_SYMMETRIES)])
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=None)
def label_maps(size):
    """int32 ``(8, size * size)``: ``label_maps[k][label]`` is the label after symmetry k."""
    table = np.argsort(gather_indices(size), axis=1).astype(np.int32)
    table.setflags(write=False)
    return table
