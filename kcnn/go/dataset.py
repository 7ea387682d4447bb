"""Reading converted shards: a ``tf.data`` pipeline with random symmetries, and numpy access.

Silver et al. 2016 "augmented the data set to include all eight reflections and rotations
of each position"; ``dataset(..., symmetries=True)`` applies a random one of the 8 board
symmetries to every position and maps its move label with it. Planes are stored bit-packed
and unpacked inside the pipeline, so the whole input path runs in TensorFlow ops.
"""

from __future__ import annotations

import json
import os

import numpy as np

from kcnn._checks import check_bool, check_choice, check_int
from kcnn.go.convert import FORMAT, HEADER_BYTES, SPLITS, record_dtype
from kcnn.go.planes import num_planes
from kcnn.go.symmetry import gather_indices, label_maps

__all__ = ["load_metadata", "dataset", "read_split"]


def load_metadata(directory):
    """The ``metadata.json`` of a conversion (see ``kcnn.go.convert``)."""
    path = os.path.join(os.fspath(directory), "metadata.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"`directory` holds no converted shards (no metadata.json). "
                                f"Received: directory={os.fspath(directory)!r}")
    with open(path) as f:
        metadata = json.load(f)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"`directory` does not hold {FORMAT} shards. "
                         f"Received: directory={os.fspath(directory)!r}")
    return metadata


def _planes(metadata, planes):
    stored = metadata["planes"]
    planes = min(stored, 48) if planes is None else num_planes(planes)
    if planes > stored:
        raise ValueError(f"`planes` must be at most the {stored} planes stored in the shards. "
                         f"Received: planes={planes}")
    return planes


def read_split(directory, split="test", *, planes=None):
    """Loads a whole split into memory as numpy arrays (for small sets and analysis).

    Returns:
        ``(x, labels, games, outcomes)``: uint8 planes ``(n, size, size, planes)`` and
        int32/int64 vectors.
    """
    metadata = load_metadata(directory)
    check_choice("split", split, SPLITS)
    planes = _planes(metadata, planes)
    size, stored = metadata["board_size"], metadata["planes"]
    dtype = record_dtype(size, stored)
    parts = [np.fromfile(os.path.join(os.fspath(directory), f), dtype)
             for f in metadata["splits"][split]["files"]]
    records = np.concatenate(parts) if parts else np.zeros(0, dtype)
    bits = np.unpackbits(records["planes"], axis=1, count=size * size * stored)
    x = bits.reshape(-1, size, size, stored)[..., :planes]
    return (x, records["label"].astype(np.int32), records["game"].astype(np.int64),
            records["outcome"].astype(np.int32))


def dataset(directory, split="train", *, batch_size=16, planes=None, symmetries=None,
            shuffle=None, shuffle_buffer=20_000, repeat=False, seed=None,
            drop_remainder=False, target="move"):
    """A ``tf.data.Dataset`` of ``(planes, target)`` batches from converted shards.

    Args:
        directory: output folder of ``kcnn.go.convert``.
        split: "train" or "test".
        batch_size: positions per batch (the paper used 16).
        planes: planes to return: 48 by default (or all stored, if fewer), 49 for the value
            network, or a named subset ("raw", "history", "liberties").
        symmetries: apply a random one of the 8 board symmetries to each position (and its
            label). Default: True for "train", False for "test".
        shuffle: shuffle files and positions (default: True for "train").
        shuffle_buffer: positions in the shuffle buffer (about 2.2 kB each on 19x19).
        repeat: repeat forever.
        seed: seed of shuffling and symmetries.
        drop_remainder: drop the last, smaller batch.
        target: "move" (int32 labels ``row * size + col``) or "outcome" (float32 +1/-1/0
            for the player to move, the value network's target).

    Returns:
        a dataset of ``(x, y)`` with ``x`` float32 ``(batch, size, size, planes)``.
    """
    import tensorflow as tf

    metadata = load_metadata(directory)
    check_choice("split", split, SPLITS)
    check_int("batch_size", batch_size)
    check_int("shuffle_buffer", shuffle_buffer)
    check_choice("target", target, ("move", "outcome"))
    check_bool("repeat", repeat)
    check_bool("drop_remainder", drop_remainder)
    symmetries = split == "train" if symmetries is None else check_bool("symmetries", symmetries)
    shuffle = split == "train" if shuffle is None else check_bool("shuffle", shuffle)
    planes = _planes(metadata, planes)
    size, stored = metadata["board_size"], metadata["planes"]
    n = size * size
    record_bytes = metadata["record_bytes"]
    files = [os.path.join(os.fspath(directory), f) for f in metadata["splits"][split]["files"]]
    if not files:
        raise ValueError(f"the {split!r} split of `directory` is empty. "
                         f"Received: directory={os.fspath(directory)!r}")

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        # positions of a game sit together in a file: read several files at once
        ds = ds.interleave(lambda f: tf.data.FixedLengthRecordDataset(f, record_bytes),
                           cycle_length=min(len(files), 8),
                           num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=seed is not None)
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(lambda f: tf.data.FixedLengthRecordDataset(f, record_bytes))
    if repeat:
        ds = ds.repeat()
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed)))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    gather = tf.constant(gather_indices(size), tf.int32)
    relabel = tf.constant(label_maps(size), tf.int32)
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)

    def decode(raw, rand):
        b = tf.io.decode_raw(raw, tf.uint8)
        label = tf.cast(b[:, 0], tf.int32) + 256 * tf.cast(b[:, 1], tf.int32)
        outcome = tf.cast(tf.bitcast(b[:, 6], tf.int8), tf.float32)
        bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(b[:, HEADER_BYTES:, None], shifts),
                                      tf.constant(1, tf.uint8))
        x = tf.reshape(bits, (-1, (record_bytes - HEADER_BYTES) * 8))[:, :n * stored]
        x = tf.reshape(x, (-1, n, stored))[:, :, :planes]
        if symmetries:
            k = tf.cast(tf.math.floormod(rand, 8), tf.int32)
            x = tf.gather(x, tf.gather(gather, k), batch_dims=1)
            label = tf.gather_nd(relabel, tf.stack([k, label], axis=1))
        x = tf.reshape(tf.cast(x, tf.float32), (-1, size, size, planes))
        return x, (label if target == "move" else outcome)

    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
