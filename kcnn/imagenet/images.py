"""Reading images the way a checkpoint's publisher evaluated it: resize, centre crop, then
the checkpoint's preprocessing (``kcnn.preprocessing.for_model``).

torchvision and keras.applications resize the shorter side (torchvision: bilinear with
antialiasing, to 256, or 232 for the IMAGENET1K_V2 weights) and take the centre crop; Caffe's
ILSVRC-2012 databases, on which BVLC trained AlexNet and GoogLeNet, hold images warped to
256 x 256, so those checkpoints are evaluated on a warped image (``warp=True``).
TensorFlow-only (``tf.io`` decoding), imported lazily.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "EvalTransform", "transform_for", "decode", "load_image",
           "list_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


@dataclasses.dataclass(frozen=True)
class EvalTransform:
    """How to turn an image file into a network input.

    Attributes:
        resize_size: the shorter side after resizing (both sides when ``warp``).
        crop_size: side of the centre crop (the network's input).
        warp: resize to ``resize_size`` x ``resize_size`` ignoring the aspect ratio (Caffe).
    """

    resize_size: int
    crop_size: int
    warp: bool = False


def transform_for(name, weights="imagenet", *, crop_size=None):
    """The evaluation transform of network ``name`` with checkpoint ``weights`` (a source
    name or "imagenet"; None: 256 then the network's default input size, shorter side)."""
    from kcnn.registry import get_spec

    spec = get_spec(name)
    if weights is None:
        crop = crop_size or spec.input_shape[0]
        return EvalTransform(max(256, crop), crop)
    from kcnn.weights.sources import WeightSource, resolve

    source = weights if isinstance(weights, WeightSource) else resolve(spec.name, weights)
    crop = crop_size or source.crop_size
    resize = max(source.resize_size, crop)
    return EvalTransform(resize, crop, warp=source.name == "bvlc")


def decode(contents, transform):
    """A float32 (crop, crop, 3) RGB tensor in [0, 255] from encoded image bytes."""
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    size = transform.resize_size
    if transform.warp:
        image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    else:
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = size / tf.reduce_min(shape)
        new = tf.cast(tf.round(shape * scale), tf.int32)
        new = tf.maximum(new, size)
        image = tf.image.resize(image, new, method="bilinear", antialias=True)
    crop = transform.crop_size
    shape = tf.shape(image)
    top = (shape[0] - crop) // 2
    left = (shape[1] - crop) // 2
    image = image[top:top + crop, left:left + crop]
    image = tf.clip_by_value(image, 0.0, 255.0)
    return tf.ensure_shape(image, (crop, crop, 3))


def load_image(path, transform):
    """One image file as a float32 (crop, crop, 3) numpy array.

    Raises:
        ValueError: if the file cannot be read or decoded (the message names it).
    """
    import tensorflow as tf

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            contents = f.read()
        return np.asarray(decode(tf.constant(contents), transform))
    except (OSError, tf.errors.OpError, ValueError) as e:
        reason = str(getattr(e, "message", None) or e).strip()
        reason = reason.split("}} ", 1)[-1].split(" [Op:", 1)[0]
        raise ValueError(f"Cannot read image {path!r}: {reason}") from e


def list_images(folder):
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_EXTENSIONS)
                  and os.path.isfile(os.path.join(folder, n)))
