"""Datasets by name, held in memory as training, validation and test arrays.

What ``kcnn tune --data`` accepts (:func:`load_data`), batched per trial by
:meth:`SweepData.batches`. Names:

- ``digits``: the embedded scikit-learn digits (offline), ``--image-size`` pixels (8 by
  default, the originals);
- ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``: ``keras.datasets`` (downloaded
  once into ``~/.keras/datasets``);
- a directory written by ``kcnn go convert`` (Go positions with 48 planes and move labels,
  for ``alphago_policy``; the validation positions are whole games held out of the training
  split, so that no game is in both);
- a directory of one sub-folder per class (``keras.utils.image_dataset_from_directory``,
  resized to ``--image-size``, 32 by default, and held in memory);
- an ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_val``/``y_val`` and
  ``x_test``/``y_test`` (or just ``x`` and ``y``), used as stored (cast to float32).

The sweep scores trials on a validation split carved from the training data (``x_val``
when given); the test split only scores the retrained best model.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from kcnn.data.sources import KERAS_DATASETS

__all__ = ["SweepData", "load_data", "KERAS_DATASETS"]


@dataclasses.dataclass
class SweepData:
    """Arrays of a sweep (float32 images, int32 labels).

    Attributes:
        name: where the data came from.
        x_train, y_train: examples the trials train on.
        x_val, y_val: examples that score the trials.
        x_test, y_test: held-out examples for the retrained best model (may be None).
        classes: number of classes when the labels may not show them all (Go: every
            board point); None counts them from the labels.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: int | None = None

    def __post_init__(self):
        self._tensors = {}

    @property
    def input_shape(self):
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self):
        if self.classes is not None:
            return int(self.classes)
        ys = [self.y_train, self.y_val] + ([self.y_test] if self.y_test is not None else [])
        return int(max(int(np.max(y)) for y in ys if len(y)) + 1)

    @property
    def train_size(self):
        return int(len(self.x_train))

    def _split(self, split):
        # Held as tensors once, so that every trial's tf.data pipeline reads the same
        # memory instead of copying the arrays again.
        if split not in self._tensors:
            import tensorflow as tf

            if split == "train+val":
                x = np.concatenate([self.x_train, self.x_val])
                y = np.concatenate([self.y_train, self.y_val])
            else:
                x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
                if x is None:
                    raise ValueError(f"This dataset has no {split} split. "
                                     f"Received: split={split!r}")
            self._tensors[split] = (tf.constant(x), tf.constant(y))
        return self._tensors[split]

    def size(self, split):
        return int(self._split(split)[0].shape[0])

    def batches(self, split, batch_size, *, shuffle=False, seed=0, transform=None):
        """A batched, prefetched ``tf.data.Dataset`` of one split.

        Args:
            split: "train", "val", "test" or "train+val".
            batch_size: examples per batch.
            shuffle: reshuffle every epoch (seeded).
            seed: shuffle seed.
            transform: optional ``(x, y) -> (x, y)`` applied to each batch.
        """
        import tensorflow as tf

        x, y = self._split(split)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(int(x.shape[0]), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(int(batch_size))
        if transform is not None:
            ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def _split_validation(x, y, fraction, seed):
    """Carves a stratified validation split from ``(x, y)``."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=fraction, stratify=stratify,
                                                random_state=seed)
    return x_tr, y_tr, x_val, y_val


def load_data(name, *, image_size=None, validation_fraction=0.2, seed=0, limit=None):
    """Loads ``name`` (see the module docstring) as a :class:`SweepData`.

    Args:
        name: ``digits``, a ``keras.datasets`` name, an image folder or an ``.npz`` file.
        image_size: side of the images (digits: 8; folders: 32); None keeps the stored
            size for the other sources.
        validation_fraction: share of the training data scoring the trials (when the
            source has no validation split).
        seed: seed of the validation split.
        limit: keep at most this many training examples (quick sweeps).
    """
    from kcnn._checks import check_float, check_int

    check_float("validation_fraction", validation_fraction, minimum=0.0, maximum=1.0,
                min_inclusive=False, max_inclusive=False)
    if image_size is not None:
        check_int("image_size", image_size, minimum=1)
    x_val = y_val = x_test = y_test = classes = None
    if not isinstance(name, str):
        raise TypeError(f"`data` must be a dataset name or a path. Received: data={name!r}")
    key = name.lower()
    if key == "digits":
        from kcnn.data import load_digits

        (x, y), (x_test, y_test) = load_digits(image_size=image_size or 8, seed=seed)
    elif key in KERAS_DATASETS:
        from kcnn.data.sources import load

        (x, y), (x_test, y_test) = load(key)  # float32 in [0, 255], a channel axis added
        x, x_test = x / 255.0, x_test / 255.0
        if image_size is not None and image_size != x.shape[1]:
            import tensorflow as tf

            x = tf.image.resize(x, (image_size, image_size)).numpy()
            x_test = tf.image.resize(x_test, (image_size, image_size)).numpy()
    elif os.path.isdir(name) and os.path.exists(os.path.join(name, "metadata.json")):
        from kcnn.go.dataset import load_metadata, read_split

        size = load_metadata(name)["board_size"]
        classes = size * size
        x, y, games, _ = read_split(name, "train")
        held = _held_out_games(games, validation_fraction, seed)
        x_val, y_val = x[held].astype("float32"), y[held]
        x, y = x[~held].astype("float32"), y[~held]
        x_test, y_test, _, _ = read_split(name, "test")
        x_test = x_test.astype("float32") if len(x_test) else None
        y_test = y_test if x_test is not None else None
    elif os.path.isdir(name):
        import keras

        ds = keras.utils.image_dataset_from_directory(
            name, image_size=(image_size or 32, image_size or 32), batch_size=None,
            shuffle=False, label_mode="int")
        pairs = list(ds.as_numpy_iterator())
        if not pairs:
            raise ValueError(f"No images found under {name!r}. Received: data={name!r}")
        x = np.stack([p[0] for p in pairs]).astype("float32") / 255.0
        y = np.array([p[1] for p in pairs])
    elif os.path.isfile(name) and name.endswith(".npz"):
        with np.load(name) as f:
            arrays = {k: f[k] for k in f.files}
        if "x_train" in arrays:
            x, y = arrays["x_train"], arrays["y_train"]
            x_val, y_val = arrays.get("x_val"), arrays.get("y_val")
            x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
        elif "x" in arrays:
            x, y = arrays["x"], arrays["y"]
        else:
            raise ValueError(f"{name!r} must hold x_train and y_train (or x and y). "
                             f"Found: {sorted(arrays)}")
        x = np.asarray(x, "float32")
        x_val = None if x_val is None else np.asarray(x_val, "float32")
        x_test = None if x_test is None else np.asarray(x_test, "float32")
    else:
        raise ValueError(f"Unknown dataset {name!r}: expected 'digits', one of "
                         f"{', '.join(KERAS_DATASETS)}, an image folder or an .npz file. "
                         f"Received: data={name!r}")
    y = np.asarray(y).astype("int32").reshape(-1)
    if x_val is None:
        x, y, x_val, y_val = _split_validation(np.asarray(x, "float32"), y,
                                               validation_fraction, seed)
    if limit is not None:
        check_int("limit", limit, minimum=1)
        x, y = x[:limit], y[:limit]
    return SweepData(
        name=name, x_train=np.asarray(x, "float32"), y_train=np.asarray(y, "int32"),
        x_val=np.asarray(x_val, "float32"), y_val=np.asarray(y_val, "int32").reshape(-1),
        x_test=None if x_test is None else np.asarray(x_test, "float32"),
        y_test=None if y_test is None else np.asarray(y_test, "int32").reshape(-1),
        classes=classes)


def _held_out_games(games, fraction, seed):
    """A mask of the positions whose game is drawn into the validation split."""
    ids = np.unique(games)
    rng = np.random.default_rng(seed)
    count = max(1, int(round(len(ids) * fraction))) if len(ids) > 1 else 0
    held = rng.choice(ids, size=count, replace=False) if count else np.array([], ids.dtype)
    return np.isin(games, held)
