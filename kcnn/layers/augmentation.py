"""AlexNet's data augmentation as Keras preprocessing layers.

Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep convolutional neural
networks", NIPS 2012, section 4.1 (and seed 001, "Case study: training AlexNet"):

1. "Extracting random 224 x 224 patches (and their horizontal reflections) from the 256 x 256
   images." At test time "the network makes a prediction by extracting five 224 x 224
   patches (the four corner patches and the center patch) as well as their horizontal
   reflections (hence ten patches in all), and averaging the predictions made by the
   network's softmax layer on the ten patches." -> ``CropAndFlip`` (random crop + flip in
   training, centre crop at inference), ``ten_crop`` and ``ten_crop_predict``.
2. "Altering the intensities of the RGB channels": to every pixel of an image add
   ``[p1, p2, p3] [alpha1 lambda1, alpha2 lambda2, alpha3 lambda3]^T``, with ``p_i`` and
   ``lambda_i`` the eigenvectors and eigenvalues of the 3 x 3 covariance matrix of RGB pixel
   values over the training set and ``alpha_i ~ N(0, 0.1)`` drawn once per image (each time
   the image is used). -> ``PCAColorAugmentation``, with the statistics from
   ``compute_rgb_pca``.

The layers are channels last, accept batches (rank 4) or single images (rank 3, as in a
``tf.data`` ``map`` before ``batch``), behave as the identity / centre crop when called with
``training=False`` (the default outside ``fit``), and draw reproducible random numbers when
given a ``seed``. In a ``tf.data`` pipeline call them with ``training=True``::

    crop = kcnn.layers.CropAndFlip(224, seed=1)
    light = kcnn.layers.PCAColorAugmentation(*kcnn.layers.compute_rgb_pca(train)[:2])
    train = train.map(lambda x, y: (light(crop(x, training=True), training=True), y))

Called that way they advance their own seed state, which parallel maps consume in no fixed
order, so two runs differ unless TensorFlow's ops are made deterministic. Their
``augment(images, seed)`` methods draw the same kind of numbers from a given shape-``[2]``
seed with stateless ops instead; ``kcnn.data.folders.train_pipeline`` feeds them one seed
per batch (``kcnn.data.pipelines``), so the ImageNet recipes' batches repeat exactly for a
given ``--seed``.
"""

from __future__ import annotations

import collections

import keras
import numpy as np
from keras import ops

from kcnn._checks import check_bool, check_choice, check_float, check_int, check_int_tuple

__all__ = ["CropAndFlip", "PCAColorAugmentation", "compute_rgb_pca", "ten_crop",
           "ten_crop_predict"]


def _as_batch(inputs):
    """Adds a batch axis to a single image; returns the batch and whether it was added."""
    if len(inputs.shape) == 3:
        return ops.expand_dims(inputs, 0), True
    if len(inputs.shape) != 4:
        raise ValueError("Expected images of shape (height, width, channels) or (batch, "
                         f"height, width, channels). Received: shape={inputs.shape}")
    return inputs, False


def _check_seed(seed):
    if seed is not None:
        check_int("seed", seed, minimum=0)
    return seed


# === Crops ===

@keras.saving.register_keras_serializable(package="kcnn")
class CropAndFlip(keras.layers.Layer):
    """AlexNet's crops: a random patch, randomly mirrored, in training; the centre at inference.

    In training each image gets its own random offset (all ``(H - h + 1) * (W - w + 1)``
    positions equally likely) and, with ``flip=True``, is mirrored left-right with
    probability 1/2. With ``training=False`` the layer returns the centre ``h x w`` patch
    (offset ``(H - h) // 2``), never resizing (unlike ``keras.layers.RandomCrop``, whose
    inference mode resizes the whole image).

    The paper crops 224 x 224 from 256 x 256; its network's arithmetic needs 227 (seed 001:
    ``(227 - 11) / 4 + 1 = 55``), which ``size=227`` gives.

    Args:
        size: the patch size, an int or ``(height, width)`` (default 224).
        flip: also mirror left-right at random in training (default True).
        seed: optional integer seed for reproducible crops.
        **kwargs: base layer arguments (``name``, ``dtype``).

    Input: images ``(batch, H, W, C)`` or ``(H, W, C)`` with ``H >= height``,
    ``W >= width``, of any dtype (values are copied, not cast). Output: ``(..., height,
    width, C)``.
    """

    def __init__(self, size=224, flip=True, seed=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.size = check_int_tuple("size", size, length=2)
        self.flip = check_bool("flip", flip)
        self.seed = _check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_input(self, shape):
        h, w = shape[-3], shape[-2]
        if (h is not None and h < self.size[0]) or (w is not None and w < self.size[1]):
            raise ValueError(f"CropAndFlip cannot take a {self.size[0]}x{self.size[1]} patch "
                             f"from {h}x{w} images. Received: input_shape={tuple(shape)}")

    def build(self, input_shape):
        self._check_input(input_shape)

    def call(self, inputs, training=False):
        images, single = _as_batch(inputs)
        self._check_input(images.shape)
        batch = ops.shape(images)[0]
        unit = keras.random.uniform((batch, 3), seed=self.seed_generator) if training else None
        patches = self._crop(images, unit)
        return patches[0] if single else patches

    def augment(self, images, seed):
        """Training crops drawn from ``seed`` (a shape-``[2]`` integer tensor) with
        TensorFlow's stateless random ops: the same seed gives the same crops and flips,
        whatever order parallel ``tf.data`` maps run in (``call`` advances the layer's own
        seed state instead)."""
        import tensorflow as tf

        batch, single = _as_batch(images)
        self._check_input(batch.shape)
        unit = tf.random.stateless_uniform((tf.shape(batch)[0], 3), seed)
        patches = self._crop(batch, unit)
        return patches[0] if single else patches

    def _crop(self, images, unit):
        """Patches of a batch: random ones from ``unit`` (``(batch, 3)`` uniform numbers for
        the row, the column and the flip), the centre ones when ``unit`` is None."""
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        h, w = self.size
        rows, cols = ops.arange(h, dtype="int32"), ops.arange(w, dtype="int32")
        if unit is not None:
            top = ops.cast(ops.floor(unit[:, 0] * ops.cast(height - h + 1, "float32")), "int32")
            left = ops.cast(ops.floor(unit[:, 1] * ops.cast(width - w + 1, "float32")), "int32")
            # floor(u * n) is n for u within an ulp of 1 in float32: keep it in range.
            top = ops.minimum(top, height - h)
            left = ops.minimum(left, width - w)
            rows = top[:, None] + rows[None, :]
            if self.flip:
                mirrored = ops.less(unit[:, 2], 0.5)[:, None]
                cols = ops.where(mirrored, (w - 1) - cols[None, :], cols[None, :])
            else:
                cols = ops.broadcast_to(cols[None, :], (batch, w))
            cols = left[:, None] + cols
        else:
            rows = ops.broadcast_to(((height - h) // 2 + rows)[None, :], (batch, h))
            cols = ops.broadcast_to(((width - w) // 2 + cols)[None, :], (batch, w))
        patches = ops.take_along_axis(images, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(patches, cols[:, None, :, None], axis=2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + self.size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "flip": self.flip, "seed": self.seed})
        return config


def ten_crop(images, size=224):
    """The paper's ten test patches: the four corners and the centre, and their mirrors.

    Args:
        images: ``(batch, H, W, C)`` or ``(H, W, C)`` (array or tensor).
        size: the patch size, an int or ``(height, width)``.

    Returns:
        A tensor ``(batch, 10, height, width, C)`` (``(10, height, width, C)`` for a single
        image) ordered centre, top-left, top-right, bottom-left, bottom-right, then the same
        five mirrored left-right.
    """
    h, w = check_int_tuple("size", size, length=2)
    images, single = _as_batch(ops.convert_to_tensor(images))
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        height, width = ops.shape(images)[1], ops.shape(images)[2]
    elif height < h or width < w:
        raise ValueError(f"ten_crop cannot take {h}x{w} patches from {height}x{width} images. "
                         f"Received: size={size!r}")
    offsets = [((height - h) // 2, (width - w) // 2), (0, 0), (0, width - w),
               (height - h, 0), (height - h, width - w)]
    patches = [ops.slice(images, (0, top, left, 0), (ops.shape(images)[0], h, w,
                                                        ops.shape(images)[3]))
               for top, left in offsets]
    patches += [ops.flip(p, axis=2) for p in patches]
    crops = ops.stack(patches, axis=1)
    return crops[0] if single else crops


def ten_crop_predict(model, images, size=None):
    """Averages ``model``'s predictions over the ten patches of each image (AlexNet's test).

    Args:
        model: a Keras model (called with ``training=False``).
        images: a batch ``(batch, H, W, C)`` (array or tensor).
        size: the patch size; None uses the model's input size.

    Returns:
        The mean of the ten predictions for each image, a tensor ``(batch, ...)``.
    """
    if size is None:
        size = tuple(model.input_shape[1:3])
        if None in size:
            raise ValueError("ten_crop_predict needs `size` for a model with a variable "
                             f"input size. Received: size={size!r}")
    crops = ten_crop(images, size)
    shape = ops.shape(crops)
    flat = ops.reshape(crops, (-1,) + tuple(crops.shape[2:]))
    outputs = model(flat, training=False)
    outputs = ops.reshape(outputs, (shape[0], 10) + tuple(outputs.shape[1:]))
    return ops.mean(outputs, axis=1)


# === PCA colour augmentation ===

RGBPCA = collections.namedtuple("RGBPCA", "eigenvalues eigenvectors mean covariance count")
RGBPCA.__doc__ = """Principal components of RGB pixel values.

Attributes:
    eigenvalues: ``(3,)`` eigenvalues of the covariance, largest first.
    eigenvectors: ``(3, 3)``; column ``i`` is the eigenvector of ``eigenvalues[i]``.
    mean: ``(3,)`` mean pixel.
    covariance: ``(3, 3)`` sample covariance ``S = sum (X_i - mean)(X_i - mean)^T / (n - 1)``.
    count: number of pixels ``n``.
"""


def _merge(state, batch):
    """Chan et al.'s pairwise update of (count, mean, sum of outer products of deviations)."""
    if state is None:
        return batch
    n_a, mean_a, m2_a = state
    n_b, mean_b, m2_b = batch
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
    return n, mean, m2


def _check_rgb(shape):
    if len(shape) == 0 or shape[-1] != 3:
        raise ValueError("compute_rgb_pca expects images with 3 (RGB) channels, last. "
                         f"Received: shape={tuple(shape)}")


def _numpy_stats(pixels):
    pixels = np.asarray(pixels, dtype=np.float64)
    _check_rgb(pixels.shape)
    pixels = pixels.reshape(-1, 3)
    if len(pixels) == 0:
        return 0.0, np.zeros(3), np.zeros((3, 3))
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    return float(len(pixels)), mean, centred.T @ centred


def _tf_stats(element):
    import tensorflow as tf

    pixels = tf.reshape(tf.cast(element, tf.float64), (-1, 3))
    mean = tf.reduce_mean(pixels, axis=0)
    centred = pixels - mean
    return tf.cast(tf.shape(pixels)[0], tf.float64), mean, tf.matmul(centred, centred,
                                                                   transpose_a=True)


def _images_of(element):
    """The images in a dataset element: the element, its first item, or its image key."""
    if isinstance(element, dict):
        for key in ("image", "images"):
            if key in element:
                return element[key]
        raise ValueError("A dataset of dicts must have an 'image' or 'images' key. "
                         f"Received: keys={sorted(element)}")
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def compute_rgb_pca(data, *, chunk_size=65536):
    """The 3 x 3 covariance of RGB pixel values over a dataset, and its eigen-decomposition.

    Streams over ``data`` once, merging per-batch statistics in float64 (Chan, Golub and
    LeVeque's pairwise update), so the dataset never has to fit in memory. The covariance is
    seed 001's ``S = 1/(n - 1) sum_i (X_i - mean)(X_i - mean)^T`` over all pixels ``X_i`` of
    all images. Compute it on the same value scale (0-255, 0-1, ...) as the images the
    ``PCAColorAugmentation`` layer will see.

    Args:
        data: a ``tf.data.Dataset`` whose elements are images (any batch shape ending in 3
            channels), ``(images, labels)`` tuples or dicts with an ``"image"`` key; a numpy
            array ``(..., 3)``; or any iterable of such arrays.
        chunk_size: pixels per step when ``data`` is one array.

    Returns:
        An ``RGBPCA`` named tuple ``(eigenvalues, eigenvectors, mean, covariance, count)``;
        ``eigenvalues, eigenvectors = compute_rgb_pca(data)[:2]`` are the arguments of
        ``PCAColorAugmentation``. Each eigenvector's largest component is positive.
    """
    import tensorflow as tf

    check_int("chunk_size", chunk_size, minimum=1)
    if isinstance(data, tf.data.Dataset):
        _check_rgb(_images_of(data.element_spec).shape)
        stats = data.map(lambda *e: _tf_stats(_images_of(e[0] if len(e) == 1 else e)),
                         num_parallel_calls=tf.data.AUTOTUNE)
        batches = ((float(n), m, m2) for n, m, m2 in stats.as_numpy_iterator())
    elif isinstance(data, np.ndarray) or tf.is_tensor(data):
        pixels = np.asarray(data)
        _check_rgb(pixels.shape)
        pixels = pixels.reshape(-1, 3)
        batches = (_numpy_stats(pixels[i:i + chunk_size])
                   for i in range(0, len(pixels), chunk_size))
    else:
        batches = (_numpy_stats(_images_of(e)) for e in data)
    state = None
    for batch in batches:
        if batch[0] > 0:
            state = _merge(state, batch)
    if state is None or state[0] < 2:
        raise ValueError("compute_rgb_pca needs at least 2 pixels. Received: an empty "
                         "dataset or a single pixel.")
    count, mean, m2 = state
    covariance = m2 / (count - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order]
    signs = np.sign(eigenvectors[np.argmax(np.abs(eigenvectors), axis=0), range(3)])
    return RGBPCA(eigenvalues, eigenvectors * signs, mean, covariance, int(count))


MAGNITUDES = ("eigenvalue", "stddev")


@keras.saving.register_keras_serializable(package="kcnn")
class PCAColorAugmentation(keras.layers.Layer):
    """AlexNet's "fancy PCA" lighting noise: add random multiples of the RGB principal axes.

    In training, to every pixel of each image the layer adds the same colour
    ``P (alpha * lambda)`` where ``P = [p1, p2, p3]`` are the eigenvectors (columns),
    ``lambda`` the eigenvalues of the RGB covariance (``compute_rgb_pca``) and
    ``alpha ~ N(0, stddev)`` (three numbers per image, drawn anew on every call). With
    ``training=False`` it returns its input (cast to the compute dtype).

    The paper and seed 001 scale by the eigenvalues themselves (``magnitude="eigenvalue"``),
    so the shift depends on the value scale of the images: an eigenvalue has the units of a
    squared pixel value. ``magnitude="stddev"`` scales by ``sqrt(lambda)`` instead, the
    standard deviation along each axis, which is the same relative change at any scale.

    Args:
        eigenvalues: the three eigenvalues, in the order of ``eigenvectors``' columns.
        eigenvectors: ``3 x 3`` nested list or array; column ``i`` belongs to
            ``eigenvalues[i]``.
        stddev: standard deviation of ``alpha`` (0.1 in the paper).
        magnitude: "eigenvalue" (paper) or "stddev" (see above).
        seed: optional integer seed for reproducible noise.
        **kwargs: base layer arguments (``name``, ``dtype``).

    Input: RGB images ``(batch, H, W, 3)`` or ``(H, W, 3)``, any numeric dtype. Output: the
    same shape in the compute dtype, not clipped.
    """

    def __init__(self, eigenvalues, eigenvectors, stddev=0.1, magnitude="eigenvalue",
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        values = np.asarray(eigenvalues, dtype="float64")
        vectors = np.asarray(eigenvectors, dtype="float64")
        if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("`eigenvalues` must be 3 non-negative numbers. "
                             f"Received: eigenvalues={eigenvalues!r}")
        if vectors.shape != (3, 3) or not np.all(np.isfinite(vectors)):
            raise ValueError("`eigenvectors` must be a 3 x 3 matrix (eigenvectors as "
                             f"columns). Received: eigenvectors={eigenvectors!r}")
        self.eigenvalues = values.tolist()
        self.eigenvectors = vectors.tolist()
        self.stddev = check_float("stddev", stddev, minimum=0.0)
        self.magnitude = check_choice("magnitude", magnitude, MAGNITUDES)
        self.seed = _check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _rgb_batch(self, inputs):
        """``(batch, single)`` as ``_as_batch``, in the compute dtype, RGB checked."""
        images, single = _as_batch(ops.cast(inputs, self.compute_dtype))
        if images.shape[-1] not in (None, 3):
            raise ValueError("PCAColorAugmentation expects RGB images (3 channels). "
                             f"Received: shape={inputs.shape}")
        return images, single

    def call(self, inputs, training=False):
        images, single = self._rgb_batch(inputs)
        if not training or self.stddev == 0:
            return images[0] if single else images
        alpha = keras.random.normal((ops.shape(images)[0], 3), stddev=self.stddev,
                                    seed=self.seed_generator)
        images = self._shift(images, alpha)
        return images[0] if single else images

    def augment(self, images, seed):
        """Training noise drawn from ``seed`` (a shape-``[2]`` integer tensor) with
        TensorFlow's stateless random ops: the same seed gives the same colour shifts,
        whatever order parallel ``tf.data`` maps run in."""
        import tensorflow as tf

        batch, single = self._rgb_batch(images)
        alpha = tf.random.stateless_normal((tf.shape(batch)[0], 3), seed, stddev=self.stddev)
        batch = self._shift(batch, alpha)
        return batch[0] if single else batch

    def _shift(self, images, alpha):
        """``images + P (alpha * lambda)`` for ``alpha`` of shape ``(batch, 3)``."""
        scale = np.asarray(self.eigenvalues)
        if self.magnitude == "stddev":
            scale = np.sqrt(scale)
        weights = ops.multiply(alpha, ops.convert_to_tensor(scale, dtype="float32"))
        shift = ops.matmul(weights, ops.transpose(
            ops.convert_to_tensor(self.eigenvectors, dtype="float32")))  # (batch, 3)
        return ops.add(images, ops.cast(shift[:, None, None, :], images.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"eigenvalues": self.eigenvalues, "eigenvectors": self.eigenvectors,
                       "stddev": self.stddev, "magnitude": self.magnitude, "seed": self.seed})
        return config
