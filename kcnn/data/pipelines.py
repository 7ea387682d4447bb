"""``tf.data`` input pipelines: arrays to batches with parallel augmentation and prefetch.

Augmentation runs in ``Dataset.map`` on whole batches (``num_parallel_calls=AUTOTUNE``),
never in the training step, and the pipeline ends in ``prefetch(AUTOTUNE)`` so the CPU
prepares the next batches while the model trains on the current one.
"""

from __future__ import annotations

from kcnn._checks import check_float, check_int

AUTOTUNE = -1  # tf.data.AUTOTUNE


def from_arrays(x, y, *, batch_size, shuffle=False, augment=None, preprocess=None, seed=0,
                drop_remainder=False, cache=True):
    """A batched ``tf.data.Dataset`` of ``(x, y)`` from in-memory arrays.

    Args:
        x: images, ``(n, H, W, C)``.
        y: integer labels, ``(n,)``.
        batch_size: global batch size.
        shuffle: reshuffle the examples every epoch (seeded by ``seed``).
        augment: optional function ``images -> images`` on a batch (e.g. a Keras
            preprocessing model called with ``training=True``), applied after batching.
        preprocess: optional function ``images -> images`` applied after ``augment`` (the
            paper's input normalisation, ``kcnn.preprocessing``).
        seed: shuffle seed.
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
    return finish(ds, augment=augment, preprocess=preprocess)


def finish(ds, *, augment=None, preprocess=None):
    """Adds the batch-level ``augment`` and ``preprocess`` maps and ``prefetch``."""
    import tensorflow as tf

    if augment is not None:
        ds = ds.map(lambda images, labels: (augment(images), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if preprocess is not None:
        ds = ds.map(lambda images, labels: (preprocess(images), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def shift_rotate(*, max_shift=0.1, max_rotation=10.0, seed=None, fill_value=0.0):
    """Small random shifts and rotations (Keras preprocessing layers) for digit images.

    Args:
        max_shift: largest translation as a fraction of the image side (0.1 of 32 pixels
            is about 3 pixels).
        max_rotation: largest rotation in degrees, either way.
        seed: seed of the random draws.
        fill_value: value of the pixels brought in at the border (the background).

    Returns:
        A function ``images -> images`` for batches ``(n, H, W, C)``.
    """
    import keras

    check_float("max_shift", max_shift, minimum=0.0, maximum=1.0)
    check_float("max_rotation", max_rotation, minimum=0.0, maximum=180.0)
    layers = []
    if max_rotation:
        layers.append(keras.layers.RandomRotation(max_rotation / 360.0, fill_mode="constant",
                                                  fill_value=fill_value, seed=seed))
    if max_shift:
        layers.append(keras.layers.RandomTranslation(max_shift, max_shift, fill_mode="constant",
                                                     fill_value=fill_value,
                                                     seed=None if seed is None else seed + 1))
    if not layers:
        return lambda images: images
    model = keras.Sequential(layers, name="shift_rotate")

    def augment(images):
        return model(images, training=True)

    return augment


def pad_crop_flip(*, padding=4, seed=None):
    """CIFAR augmentation (He et al. 2016, section 4.2): pad 4 pixels on each side with
    zeros, take a random crop of the original size, mirror left-right with probability 1/2.

    Returns:
        A function ``images -> images`` for batches ``(n, H, W, C)``.
    """
    import tensorflow as tf

    check_int("padding", padding, minimum=0)
    rng = tf.random.Generator.from_seed(seed) if seed is not None else None

    def augment(images):
        shape = tf.shape(images)
        n, h, w = shape[0], shape[1], shape[2]
        padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        gen = rng if rng is not None else tf.random.get_global_generator()
        offsets = gen.uniform((n, 2), 0, 2 * padding + 1, dtype=tf.int32)
        flips = gen.uniform((n,), 0, 2, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(h)[None, :]
        cols = offsets[:, 1:] + tf.range(w)[None, :]
        cols = tf.where(flips[:, None] > 0, tf.reverse(cols, axis=[1]), cols)
        out = tf.gather(padded, rows, axis=1, batch_dims=1)
        out = tf.gather(out, cols, axis=2, batch_dims=1)
        return out

    return augment
