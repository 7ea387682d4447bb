"""Datasets by name when the machine is online: ``keras.datasets`` and TensorFlow Datasets.

``load("mnist")`` downloads once into ``~/.keras/datasets`` (Keras's cache) and works offline
afterwards; ``load("tfds:<name>")`` uses ``tensorflow_datasets`` when it is installed.
"""

from __future__ import annotations

import numpy as np

from kcnn._checks import check_choice

__all__ = ["KERAS_DATASETS", "load"]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")


def load(name, *, tfds_splits=("train", "test")):
    """Loads a dataset into arrays.

    Args:
        name: one of ``KERAS_DATASETS`` or ``"tfds:<name>"`` (a TensorFlow Datasets name with
            ``image`` and ``label`` features).
        tfds_splits: the TFDS splits read as train and test.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: images as float32 ``(n, H, W, C)`` in
        [0, 255] (a channel axis added to grey images), labels int32 ``(n,)``.

    Raises:
        ValueError: unknown name.
        ImportError: a ``tfds:`` name without ``tensorflow_datasets`` installed.
    """
    if isinstance(name, str) and name.startswith("tfds:"):
        return _load_tfds(name[5:], tfds_splits)
    check_choice("name", name, KERAS_DATASETS)
    import keras

    module = getattr(keras.datasets, name)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return _arrays(x_train, y_train), _arrays(x_test, y_test)


def _arrays(x, y):
    x = np.asarray(x, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    return x, np.asarray(y, dtype="int32").reshape(-1)


def _load_tfds(name, splits):
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(f"Loading {name!r} from TensorFlow Datasets needs "
                          "`pip install tensorflow-datasets`.") from error
    out = []
    for split in splits:
        x, y = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
        out.append(_arrays(x, y))
    return tuple(out)
