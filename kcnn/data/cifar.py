"""CIFAR-10 as He et al. (2016, section 4.2) trained on it.

"We use a weight decay of 0.0001 and momentum of 0.9 ... with a mini-batch size of 128 ...
These models are trained on a 45k/5k train/val split ... We follow the simple data
augmentation in [24] for training: 4 pixels are padded on each side, and a 32x32 crop is
randomly sampled from the padded image or its horizontal flip. For testing, we only evaluate
the single view of the original 32x32 image." Inputs have the per-pixel mean subtracted
(``kcnn.preprocessing`` mode ``cifar_mean``).
"""

from __future__ import annotations

import numpy as np

from kcnn._checks import check_int

__all__ = ["split_validation", "load_cifar10", "mean_rgb"]


def split_validation(x, y, *, validation_size=5000, seed=0):
    """Holds out ``validation_size`` examples, stratified by class, with a fixed seed.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``.
    """
    check_int("validation_size", validation_size, minimum=0)
    if validation_size == 0:
        return (x, y), (x[:0], y[:0])
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=validation_size, stratify=y, random_state=seed)
    return (x_train, y_train), (x_val, y_val)


def load_cifar10(*, validation_size=5000, seed=0):
    """CIFAR-10 from ``keras.datasets`` (downloaded once) with the paper's 45k/5k split.

    Returns:
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``, images float32 in
        [0, 255].
    """
    from kcnn.data import sources

    (x, y), test = sources.load("cifar10")
    train, val = split_validation(x, y, validation_size=validation_size, seed=seed)
    return train, val, test


def mean_rgb(x):
    """Per-channel mean of images ``(n, H, W, 3)`` (float64)."""
    return np.asarray(x, dtype="float64").reshape(-1, x.shape[-1]).mean(axis=0)
