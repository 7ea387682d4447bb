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

Unreadable files never end a run: ``read_folder`` checks every file once when the dataset is
made (``check_image``: its signature and end marker, with a trial decode only for files that
look damaged) and leaves out empty, truncated and corrupt ones with one warning naming each;
``skipped_files()`` lists them for the run's summary. A file damaged in a way the check cannot
see (intact ends, broken middle) is dropped by the pipeline (``ignore_errors``) instead of
stopping the epoch; the epoch keeps its length with an image of the next pass.
"""

from __future__ import annotations

import os
import threading
import warnings

from kcnn._checks import check_choice, check_int
from kcnn.data.pipelines import finish

__all__ = ["EVAL_PROTOCOLS", "IMAGE_EXTENSIONS", "check_image", "eval_pipeline", "find_split",
           "image_folders", "index_folder", "read_folder", "skipped_files", "train_pipeline",
           "write_image_folders"]

EVAL_PROTOCOLS = ("center", "ten_crop")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"),
               (b"GIF89a", "gif"), (b"BM", "bmp"))
_TAIL = 4096
_SKIPPED = {}
_SKIPPED_LOCK = threading.Lock()
_WARN_NAMES = 50


def _looks_complete(kind, head, tail):
    """Whether the file's end marker is where its format puts it (cheap, no decode)."""
    if kind == "jpeg":
        return b"\xff\xd9" in tail          # EOI; 0xFF in entropy data is byte-stuffed
    if kind == "png":
        return b"IEND" in tail[-64:]
    if kind == "gif":
        return tail.rstrip(b"\x00")[-1:] == b";"
    return True                              # BMP: no end marker; the decoder decides


def check_image(path):
    """None when ``path`` looks like a complete image TensorFlow can decode, else the reason.

    Reads the first bytes (the format's signature) and the last 4 KB (its end marker:
    JPEG's EOI, PNG's IEND, GIF's trailer); a file whose end marker is missing is decoded
    once with ``tf.io.decode_image`` and kept if that works (JPEGs with trailing bytes).
    Empty files and files of no image format are refused without decoding.
    """
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file (0 bytes)"
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - _TAIL))
            tail = f.read(_TAIL)
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    kind = next((k for sig, k in _SIGNATURES if head.startswith(sig)), None)
    if kind is None:
        return f"not a JPEG, PNG, GIF or BMP image (starts with {head[:8]!r})"
    if _looks_complete(kind, head, tail):
        return None
    import tensorflow as tf

    try:
        with open(path, "rb") as f:
            tf.io.decode_image(f.read(), channels=3, expand_animations=False)
    except Exception as error:  # noqa: BLE001 - TensorFlow raises InvalidArgumentError & co
        import re

        message = re.sub(r"\{\{function_node[^}]*\}\}\s*|\s*\[Op:\w+\]", "",
                         str(getattr(error, "message", error))).strip().splitlines()
        return f"truncated or corrupt {kind.upper()} ({message[0] if message else error})"
    return None


def skipped_files(*, clear=False):
    """``[{"path", "reason"}, ...]`` of the files ``read_folder`` left out in this process
    (since the last ``clear=True`` call), for a run's metrics.json and summary."""
    with _SKIPPED_LOCK:
        found = [{"path": p, "reason": r} for p, r in sorted(_SKIPPED.items())]
        if clear:
            _SKIPPED.clear()
    return found


def index_folder(path, *, class_names=None, check=True):
    """The images of a class-per-folder directory, in Keras's order.

    Classes are the sorted sub-folders (or ``class_names``, in that order); files are those
    with an image extension, walked in sorted order like
    ``keras.utils.image_dataset_from_directory``.

    Returns:
        ``(paths, labels, class_names, skipped)``; ``skipped`` is ``[(path, reason)]`` of
        the files ``check_image`` refused (left out of ``paths``), when ``check``.
    """
    from concurrent.futures import ThreadPoolExecutor

    found = sorted(d for d in os.listdir(path)
                   if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if class_names is None:
        class_names = found
    else:
        missing = [c for c in class_names if c not in found]
        if missing:
            raise ValueError(f"The class folders {missing} are missing in {path}. Expected: "
                             f"class_names among {found}. Received: class_names={class_names}")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for root, _, files in sorted(os.walk(os.path.join(path, name))):
            for fname in sorted(files):
                if fname.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(root, fname))
                    labels.append(label)
    skipped = []
    if check and paths:
        with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
            reasons = list(pool.map(check_image, paths, chunksize=64))
        skipped = [(p, r) for p, r in zip(paths, reasons) if r is not None]
        if skipped:
            bad = {p for p, _ in skipped}
            kept = [(p, y) for p, y in zip(paths, labels) if p not in bad]
            paths, labels = [p for p, _ in kept], [y for _, y in kept]
    return paths, labels, list(class_names), skipped


def _warn_skipped(path, skipped):
    with _SKIPPED_LOCK:
        _SKIPPED.update(skipped)
    names = [f"  {p}: {r}" for p, r in skipped[:_WARN_NAMES]]
    if len(skipped) > _WARN_NAMES:
        names.append(f"  ... and {len(skipped) - _WARN_NAMES} more (all are listed in the "
                     "run's metrics.json)")
    warnings.warn(f"Skipped {len(skipped)} unreadable image file(s) in {path}:\n"
                  + "\n".join(names), RuntimeWarning, stacklevel=3)


def find_split(root, names):
    """The first existing folder ``root/<name>`` for ``name`` in ``names``, or None."""
    for name in names:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    return None


def read_folder(path, *, resize=256, class_names=None, shuffle=False, seed=0):
    """Unbatched ``(image, label)`` dataset of a class-per-folder directory.

    Reads like ``keras.utils.image_dataset_from_directory(..., crop_to_aspect_ratio=True)``
    (the same file order, shuffling and resizing), but leaves out the files ``check_image``
    refuses, with one warning naming them, and drops any other file that fails to decode.

    Returns:
        ``(dataset, class_names, count)``; images are float32 ``(resize, resize, 3)`` in
        [0, 255], labels int32; ``count`` excludes skipped files.
    """
    import numpy as np
    import tensorflow as tf
    from keras.preprocessing.image import smart_resize

    check_int("resize", resize, minimum=1)
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a folder of class sub-folders of images. "
                         f"Received: path={path!r}")
    paths, labels, class_names, skipped = index_folder(path, class_names=class_names)
    if skipped:
        _warn_skipped(path, skipped)
    if not paths:
        raise ValueError(f"No readable images in {path} (files ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)} inside one sub-folder per class). "
                         f"Received: path={path!r}")
    if shuffle:  # the file order Keras's index_directory gives for this seed
        order_seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(order_seed).shuffle(paths)
        np.random.RandomState(order_seed).shuffle(labels)

    def load(file, label):
        image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        image = smart_resize(image, (resize, resize), interpolation="bilinear")
        image.set_shape((resize, resize, 3))
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, "int32")))
    if shuffle:
        ds = ds.shuffle(1024, seed=seed)
    # A file that passed the check but fails to decode is dropped, and the pass is topped
    # up from the next one, so that every pass keeps len(paths) images and a known length
    # (repeating an empty dataset ends, so a folder of only undecodable files stops too).
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    return ds.repeat().take(len(paths)), class_names, len(paths)


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
