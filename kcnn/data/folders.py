"""ImageNet-style image folders: ``root/<split>/<class name>/<image files>``.

Images are read with ``keras.utils.image_dataset_from_directory``, centre-cropped to a square
and resized to ``resize`` x ``resize`` (AlexNet: "down-sampled the images to a fixed
resolution of 256 x 256 ... rescaled the image such that the shorter side was of length 256,
and then cropped out the central 256 x 256 patch"), then

* training: shuffled, batched, random ``image_size`` crops with horizontal flips
  (``kcnn.layers.CropAndFlip``), optionally AlexNet's PCA colour augmentation, in parallel
  ``tf.data`` maps with one stateless seed per batch (the same batches for the same seed),
  prefetched;
* evaluation: the centre crop, or AlexNet's ten crops (``kcnn.layers.ten_crop``: corners,
  centre and their mirrors), giving batches ``(n, 10, size, size, 3)`` that
  ``kcnn.training.evaluate`` averages.

Pixel values stay in [0, 255]; the paper's normalisation (``kcnn.preprocessing``) is passed
as ``preprocess``.
"""

from __future__ import annotations

import os

from kcnn._checks import check_choice, check_int
from kcnn.data.pipelines import finish

EVAL_PROTOCOLS = ("center", "ten_crop")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def find_split(root, names):
    """The first existing folder ``root/<name>`` for ``name`` in ``names``, or None."""
    for name in names:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    return None


def read_folder(path, *, resize=256, class_names=None, shuffle=False, seed=0):
    """Unbatched ``(image, label)`` dataset of a class-per-folder directory.

    Returns:
        ``(dataset, class_names, count)``; images are float32 ``(resize, resize, 3)`` in
        [0, 255], labels int32.
    """
    import keras

    check_int("resize", resize, minimum=1)
    ds = keras.utils.image_dataset_from_directory(
        path, labels="inferred", label_mode="int", class_names=class_names, color_mode="rgb",
        batch_size=None, image_size=(resize, resize), shuffle=shuffle, seed=seed,
        crop_to_aspect_ratio=True, verbose=False)
    return ds, list(ds.class_names), len(ds.file_paths)


def train_pipeline(ds, *, batch_size, image_size, seed=0, flip=True, color=None,
                   preprocess=None, shuffle_buffer=10_000):
    """Training batches: shuffle, batch, random crop + flip, optional ``color`` layer (e.g.
    ``kcnn.layers.PCAColorAugmentation``), ``preprocess``, prefetch.

    Crops, flips and a ``color`` layer that has an ``augment(images, seed)`` method draw
    their numbers from the batch's own seed (stateless, see ``kcnn.data.pipelines``), so
    the batches repeat exactly for a given ``seed``; any other ``color`` layer is called with
    ``training=True`` and draws from its own seed state.
    """
    import tensorflow as tf

    from kcnn.layers.augmentation import CropAndFlip

    crop = CropAndFlip(image_size, flip=flip)

    def augment(images, seed):
        crop_seed, color_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        images = crop.augment(images, crop_seed)
        if color is not None:
            images = (color.augment(images, color_seed) if hasattr(color, "augment")
                      else color(images, training=True))
        return images

    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return finish(ds, augment=augment, preprocess=preprocess, seed=seed)


def eval_pipeline(ds, *, batch_size, image_size, protocol="center", preprocess=None):
    """Evaluation batches with the centre crop or the ten crops (rank-5 batches)."""
    from kcnn.layers.augmentation import CropAndFlip, ten_crop

    check_choice("protocol", protocol, EVAL_PROTOCOLS)
    if protocol == "center":
        crop = CropAndFlip(image_size, flip=False)

        def view(images):
            return crop(images, training=False)
    else:
        def view(images):
            return ten_crop(images, image_size)

    def prep(images):
        images = view(images)
        return preprocess(images) if preprocess is not None else images

    return finish(ds.batch(batch_size), preprocess=prep)


def image_folders(root, *, batch_size, image_size=224, resize=256, seed=0,
                  eval_protocol="center", eval_batch_size=None, preprocess=None, color=None):
    """Train and test pipelines from ``root/train`` and ``root/val`` (or ``test``).

    Args:
        root: dataset folder with ``train/`` and ``val/`` (or ``validation/``, ``test/``),
            each holding one sub-folder of images per class.
        batch_size: global training batch size.
        image_size: side of the crops fed to the network (224; 227 for AlexNet's
            arithmetic).
        resize: side images are resized to before cropping (256).
        seed: shuffle and augmentation seed.
        eval_protocol: "center" or "ten_crop".
        eval_batch_size: test batch size (images, not crops); default ``batch_size``.
        preprocess: normalisation applied to every batch after cropping.
        color: optional colour-augmentation layer applied in training.

    Returns:
        A dict with ``train``, ``validation`` (the test folder's centre crops, evaluated
        after every epoch as the papers watched the ImageNet validation error), ``test``
        pipelines, ``class_names``, ``train_size`` and ``test_size``.
    """
    train_dir = find_split(root, ("train",))
    test_dir = find_split(root, ("val", "validation", "test"))
    if train_dir is None or test_dir is None:
        raise ValueError(f"An image-folder dataset needs {root}/train and {root}/val (or "
                         f"validation/, test/), each with one sub-folder per class. "
                         f"Received: data_dir={root!r}")
    train, class_names, n_train = read_folder(train_dir, resize=resize, shuffle=True,
                                              seed=seed)
    test, _, n_test = read_folder(test_dir, resize=resize, class_names=class_names)
    eval_batch = eval_batch_size or batch_size
    validation = eval_pipeline(test, batch_size=eval_batch, image_size=image_size,
                               preprocess=preprocess)
    return {
        "train": train_pipeline(train, batch_size=batch_size, image_size=image_size,
                                seed=seed, color=color, preprocess=preprocess),
        "validation": validation,
        "test": eval_pipeline(test, batch_size=eval_batch, image_size=image_size,
                              protocol=eval_protocol, preprocess=preprocess),
        "class_names": class_names, "train_size": n_train, "test_size": n_test,
    }


def write_image_folders(root, x_train, y_train, x_test, y_test, *, split_names=("train", "val")):
    """Writes arrays as an image-folder dataset (PNG files): for tests and for converting
    small datasets. Images are uint8-compatible ``(n, H, W, 3)`` arrays in [0, 255]."""
    import numpy as np
    import tensorflow as tf

    for split, xs, ys in ((split_names[0], x_train, y_train), (split_names[1], x_test, y_test)):
        for i, (image, label) in enumerate(zip(xs, ys)):
            folder = os.path.join(root, split, f"class_{int(label):03d}")
            os.makedirs(folder, exist_ok=True)
            data = tf.io.encode_png(np.clip(image, 0, 255).astype("uint8")).numpy()
            with open(os.path.join(folder, f"{i:06d}.png"), "wb") as f:
                f.write(data)
    return root
