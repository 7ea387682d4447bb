"""Tiny generated datasets, so every recipe can run a step or two without real data."""

from __future__ import annotations

import numpy as np

from kcnn._checks import check_int

__all__ = ["images"]


def images(n, input_shape, num_classes, *, seed=0, scale=1.0):
    """``n`` random images and labels whose class is written into the images' mean level,
    so a few steps can already lower the loss.

    Args:
        n: number of examples.
        input_shape: ``(H, W, C)``.
        num_classes: number of classes.
        seed: seed of the generator.
        scale: the pixels' range, ``[0, scale]`` (255 for uint8-like images).

    Returns:
        ``(x, y)``: float32 images ``(n, H, W, C)`` and int32 labels ``(n,)``.
    """
    check_int("n", n, minimum=1)
    check_int("num_classes", num_classes, minimum=1)
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % num_classes).astype("int32")
    rng.shuffle(y)
    noise = rng.uniform(0.0, 0.5, size=(n, *input_shape))
    level = (y.astype("float32") / max(num_classes - 1, 1) * 0.5)
    x = ((noise + level.reshape(-1, *([1] * len(input_shape)))) * scale).astype("float32")
    return x, y
