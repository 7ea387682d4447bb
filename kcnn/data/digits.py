"""The handwritten digits bundled with scikit-learn, for offline training.

1,797 8x8 grey-level images of the digits 0-9 (the UCI "optical recognition of handwritten
digits" test set, pixel values 0-16), shipped inside scikit-learn so no download is needed.
For LeNet-5 they are upscaled to the paper's 32x32 input.
"""

from __future__ import annotations

import numpy as np

from kcnn._checks import check_float, check_int

__all__ = ["load_digits"]


def load_digits(*, image_size=32, test_fraction=0.2, seed=0):
    """Loads the digits with a fixed stratified train/test split.

    Args:
        image_size: side of the square images returned; the 8x8 originals are resized with
            bilinear interpolation (8 returns them unchanged).
        test_fraction: share of each class held out for testing (20% by default).
        seed: seed of the split; the same seed always gives the same split.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with images as float32 arrays of shape
        ``(n, image_size, image_size, 1)`` scaled to [0, 1] and labels as int32 arrays.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    check_int("image_size", image_size, minimum=8)
    check_float("test_fraction", test_fraction, minimum=0.0, maximum=1.0,
                min_inclusive=False, max_inclusive=False)
    check_int("seed", seed, minimum=0)
    bunch = datasets.load_digits()
    images = (bunch.images.astype("float32") / 16.0)[..., None]
    labels = bunch.target.astype("int32")
    if image_size != 8:
        import tensorflow as tf

        images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
        images = np.clip(images, 0.0, 1.0)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed)
    return (x_train, y_train), (x_test, y_test)
