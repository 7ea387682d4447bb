"""``tf.data`` input pipelines: arrays to batches with parallel augmentation and prefetch.

Augmentation runs in ``Dataset.map`` on whole batches (``num_parallel_calls=AUTOTUNE``),
never in the training step, and the pipeline ends in ``prefetch(AUTOTUNE)`` so the CPU
prepares the next batches while the model trains on the current one.

Augmentations here are *stateless*: each batch arrives with its own seed (a shape-``[2]``
tensor drawn from ``tf.data.Dataset.random``, different every epoch) and the random draws
are ``tf.random.stateless_*`` functions of it. Keras's random preprocessing layers instead
advance one shared seed state, which parallel map calls consume in arbitrary order, so two
runs with the same ``--seed`` differ (unless ``--deterministic`` serialises them); with
per-batch seeds the parallel pipeline gives the same batches every run.
"""

from __future__ import annotations

import math

from kcnn._checks import check_float, check_int

__all__ = ["from_arrays", "batch_seeds", "finish", "rotate_shift", "shift_rotate",
           "pad_crop_flip"]


def from_arrays(x, y, *, batch_size, shuffle=False, augment=None, preprocess=None, seed=0,
                drop_remainder=False, cache=True):
    """A batched ``tf.data.Dataset`` of ``(x, y)`` from in-memory arrays.

    Args:
        x: images, ``(n, H, W, C)``.
        y: integer labels, ``(n,)``.
        batch_size: global batch size.
        shuffle: reshuffle the examples every epoch (seeded by ``seed``).
        augment: optional function ``(images, seed) -> images`` on a batch, ``seed`` a
            shape-``[2]`` int64 tensor for stateless random ops (``shift_rotate``,
            ``pad_crop_flip``), applied after batching.
        preprocess: optional function ``images -> images`` applied after ``augment`` (the
            paper's input normalisation, ``kcnn.preprocessing``).
        seed: seed of the shuffling and of the augmentation seeds.
        drop_remainder: drop a last partial batch.
        cache: cache the decoded examples in memory.

    Returns:
        A ``tf.data.Dataset`` yielding ``(images, labels)`` batches, prefetched.
    """
    import tensorflow as tf

    check_int("batch_size", batch_size, minimum=1)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return finish(ds, augment=augment, preprocess=preprocess, seed=seed)


def batch_seeds(seed):
    """An endless dataset of shape-``[2]`` int64 seeds, a new sequence every epoch."""
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def finish(ds, *, augment=None, preprocess=None, seed=0):
    """Adds the batch-level ``augment(images, seed)`` and ``preprocess(images)`` maps
    (parallel) and ``prefetch``."""
    import tensorflow as tf

    if augment is not None:
        ds = tf.data.Dataset.zip((ds, batch_seeds(seed)))
        ds = ds.map(lambda batch, s: (augment(batch[0], s), *batch[1:]),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if preprocess is not None:
        ds = ds.map(lambda images, *rest: (preprocess(images), *rest),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def rotate_shift(images, angles, shifts, *, fill_value=0.0, interpolation="bilinear"):
    """Rotates each image about its centre and then translates it.

    Args:
        images: ``(n, H, W, C)``.
        angles: ``(n,)`` angles in radians; positive turns the content counter-clockwise
            as displayed (rows downwards).
        shifts: ``(n, 2)`` translations ``(dx, dy)`` in pixels (right, down).
        fill_value: value of pixels brought in from outside.
        interpolation: ``"bilinear"`` or ``"nearest"``.

    Returns:
        The transformed images, same shape (``keras.ops.image.affine_transform``).
    """
    import keras
    from keras import ops

    shape = ops.shape(images)
    cx = (ops.cast(shape[2], "float32") - 1.0) / 2.0
    cy = (ops.cast(shape[1], "float32") - 1.0) / 2.0
    angles = ops.cast(angles, "float32")
    shifts = ops.cast(shifts, "float32")
    cos, sin = ops.cos(angles), ops.sin(angles)
    # Output pixel (x, y) reads input R(-angle) (x - c - t) + c, with R a rotation in
    # display coordinates (y downwards, so the content turns counter-clockwise).
    ux = cx + shifts[:, 0]
    uy = cy + shifts[:, 1]
    zeros = ops.zeros_like(angles)
    transform = ops.stack([cos, -sin, cx - cos * ux + sin * uy,
                           sin, cos, cy - sin * ux - cos * uy, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(images, transform, interpolation=interpolation,
                                            fill_mode="constant", fill_value=fill_value)


def shift_rotate(*, max_shift=0.1, max_rotation=10.0, fill_value=0.0):
    """Small random shifts and rotations for digit images.

    Each image is rotated by an angle uniform in ``[-max_rotation, max_rotation]`` degrees
    and shifted by up to ``max_shift`` of its side in each direction (bilinear
    resampling, the border filled with ``fill_value``), as
    ``keras.layers.RandomRotation``/``RandomTranslation`` do, but drawn statelessly from the
    batch's seed (see the module docstring).

    Returns:
        A function ``(images, seed) -> images`` for batches ``(n, H, W, C)``.
    """
    max_shift = check_float("max_shift", max_shift, minimum=0.0, maximum=1.0)
    max_rotation = check_float("max_rotation", max_rotation, minimum=0.0, maximum=180.0)
    if not max_shift and not max_rotation:
        return lambda images, seed: images
    max_angle = math.radians(max_rotation)

    def augment(images, seed):
        import tensorflow as tf

        n = tf.shape(images)[0]
        seeds = tf.random.experimental.stateless_split(seed, 2)
        angles = tf.random.stateless_uniform([n], seeds[0], -max_angle, max_angle)
        size = tf.cast(tf.stack([tf.shape(images)[2], tf.shape(images)[1]]), tf.float32)
        shifts = tf.random.stateless_uniform([n, 2], seeds[1], -max_shift, max_shift) * size
        return rotate_shift(images, angles, shifts, fill_value=fill_value)

    return augment


def pad_crop_flip(*, padding=4):
    """CIFAR augmentation (He et al. 2016, section 4.2): pad 4 pixels on each side with
    zeros, take a random crop of the original size, mirror left-right with probability 1/2.

    Returns:
        A function ``(images, seed) -> images`` for batches ``(n, H, W, C)``.
    """
    check_int("padding", padding, minimum=0)

    def augment(images, seed):
        import tensorflow as tf

        shape = tf.shape(images)
        n, h, w = shape[0], shape[1], shape[2]
        padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        seeds = tf.random.experimental.stateless_split(seed, 2)
        offsets = tf.random.stateless_uniform((n, 2), seeds[0], 0, 2 * padding + 1,
                                              dtype=tf.int32)
        flips = tf.random.stateless_uniform((n,), seeds[1], 0, 2, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(h)[None, :]
        cols = offsets[:, 1:] + tf.range(w)[None, :]
        cols = tf.where(flips[:, None] > 0, tf.reverse(cols, axis=[1]), cols)
        out = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(out, cols, axis=2, batch_dims=1)

    return augment
