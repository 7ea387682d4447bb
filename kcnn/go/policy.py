"""Using a policy network: move probabilities, the best legal move, and move accuracy.

Silver et al. 2016 report the SL policy network's accuracy at predicting expert moves on
held-out KGS positions (55.4% for k=192 with a single evaluation; Extended Data Table 3
also shows an explicit ensemble over the 8 symmetries: 57.0% for k=256). The network is a
softmax over ``size * size`` points, index ``row * size + col`` with row 0 at the top.
"""

from __future__ import annotations

import numpy as np

from kcnn._checks import check_bool, check_int
from kcnn.go.board import GoState
from kcnn.go.planes import features
from kcnn.go.symmetry import NUM_SYMMETRIES, gather_indices, label_maps

__all__ = ["move_probabilities", "predict_move", "evaluate_policy"]


def _input_planes(model):
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return int(shape[-1])


def _ensemble(model, x, size):
    """Mean over the 8 symmetries of the network's output mapped back to ``x``'s frame."""
    import tensorflow as tf

    n = size * size
    flat = tf.reshape(x, (-1, n, x.shape[-1]))
    gather = gather_indices(size)
    relabel = label_maps(size)
    total = 0.0
    for k in range(NUM_SYMMETRIES):
        xk = tf.reshape(tf.gather(flat, gather[k], axis=1), tf.shape(x))
        pk = tf.cast(model(xk, training=False), tf.float32)
        total += tf.gather(pk, relabel[k], axis=1)
    return total / NUM_SYMMETRIES


def move_probabilities(model, state, *, ensemble=False):
    """The network's move distribution for ``state``, illegal moves masked out.

    Args:
        model: a policy network taking ``(batch, size, size, planes)`` (48 planes, or a
            feature subset) and returning a softmax over ``size * size`` points.
        state: a ``GoState``; features are computed for its player to move.
        ensemble: average the network over the 8 symmetries of the position.

    Returns:
        float32 ``(size, size)`` probabilities, zero on illegal points, renormalised to sum
        to 1 (all zero when there is no legal move).
    """
    import tensorflow as tf

    if not isinstance(state, GoState):
        raise TypeError(f"`state` must be a kcnn.go.GoState. Received: state={state!r}")
    check_bool("ensemble", ensemble)
    size = state.size
    x = tf.constant(features(state, _input_planes(model))[None], tf.float32)
    probs = _ensemble(model, x, size) if ensemble else model(x, training=False)
    probs = np.asarray(tf.cast(probs, tf.float32))[0].reshape(size, size)
    probs = np.where(state.legal_moves(), probs, 0.0).astype(np.float32)
    total = probs.sum()
    return probs / total if total > 0 else probs


def predict_move(model, state, *, ensemble=False):
    """The legal move the network rates highest: ``(row, col)``, or None (pass) when the
    player to move has no legal move. Ties go to the lowest index."""
    probs = move_probabilities(model, state, ensemble=ensemble)
    legal = state.legal_moves()
    if not legal.any():
        return None
    scores = np.where(legal, probs, -1.0)
    return divmod(int(np.argmax(scores)), state.size)


def evaluate_policy(model, data, *, ensemble=True, batch_size=256, max_batches=None):
    """Top-1 and top-5 move accuracy, from a single evaluation and from the 8-symmetry
    ensemble (the network's raw output, not restricted to legal moves, as in the paper).

    Args:
        model: the policy network.
        data: a folder of converted shards (its test split is read, without symmetries),
            a ``tf.data.Dataset`` of ``(x, labels)`` batches, or a tuple of arrays.
        ensemble: also compute the ensemble accuracies (8 network evaluations per batch).
        batch_size: batch size when ``data`` is a folder or arrays.
        max_batches: stop after this many batches.

    Returns:
        ``{"top1": .., "top5": .., "top1_ensemble": .., "top5_ensemble": .., "positions": n}``
        (the ensemble keys only with ``ensemble=True``).
    """
    import tensorflow as tf

    check_bool("ensemble", ensemble)
    check_int("batch_size", batch_size)
    if max_batches is not None:
        check_int("max_batches", max_batches)
    planes = _input_planes(model)
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        from kcnn.go.dataset import dataset

        data = dataset(data, "test", batch_size=batch_size, planes=planes, symmetries=False,
                       shuffle=False)
    elif isinstance(data, tuple):
        x, y = data
        data = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32),
                                                   np.asarray(y, np.int32))).batch(batch_size)
    elif not isinstance(data, tf.data.Dataset):
        raise TypeError("`data` must be a shard folder, a tf.data.Dataset or a tuple (x, y). "
                        f"Received: data={type(data).__name__}")

    def hits(probs, y):
        return [tf.reduce_sum(tf.cast(tf.math.in_top_k(y, probs, k), tf.int64)) for k in (1, 5)]

    @tf.function
    def step(x, y):
        x = tf.cast(x, tf.float32)
        y = tf.cast(y, tf.int32)
        out = hits(tf.cast(model(x, training=False), tf.float32), y)
        if ensemble:
            out += hits(_ensemble(model, x, int(x.shape[1])), y)
        return out

    totals = np.zeros(4, np.int64)
    count = 0
    for i, (x, y) in enumerate(data):
        if max_batches is not None and i >= max_batches:
            break
        totals[:4 if ensemble else 2] += [int(v) for v in step(x, y)]
        count += int(tf.shape(y)[0])
    denom = max(count, 1)
    result = {"top1": totals[0] / denom, "top5": totals[1] / denom, "positions": count}
    if ensemble:
        result.update(top1_ensemble=totals[2] / denom, top5_ensemble=totals[3] / denom)
    return result
