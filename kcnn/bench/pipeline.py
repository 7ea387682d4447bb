"""Input pipelines against the training step: the recipes' ``tf.data`` pipelines must not be
what limits training.

For each recipe, three contestants run in interleaved rounds, each over one epoch of the
recipe's own training pipeline (``RECIPE.data(cfg).train``; the benchmark sets the batch size of the
image-folder recipes):

- ``pipeline``: the pipeline alone (a fresh iterator per round: reading, decoding, resizing,
  cropping, flipping, colour augmentation, normalisation, prefetch);
- ``fit_constant``: ``model.fit`` on one batch held in memory, repeated as often (the step
  rate with no input work);
- ``fit_pipeline``: ``model.fit`` on the recipe's pipeline (what a training run does).

The image-folder recipes shuffle with a 10,000-image buffer, larger than the generated
folder, so there every epoch decodes the whole folder before its first step and nothing
overlaps: ``fit_pipeline`` is their worst case, and ``pipeline / fit_constant`` (how many
times faster the input side produces images than the model consumes them) is the figure
that carries over to a real dataset.

``pipeline / fit_constant`` above 1 says the pipeline alone outruns the training step (on
CPU time: its inverse is the share of the CPU the pipeline needs per trained image);
``fit_pipeline / fit_constant`` near 1 says the pipeline costs training nothing — on a CPU
the two share the cores, so what the pipeline does is paid in some part there. ImageNet
recipes read a generated image folder of JPEG files (500x375, ImageNet's typical size).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile

from kcnn.bench import timing
from kcnn.bench.device import device_kind

__all__ = ["RECIPES", "write_jpeg_folder", "measure"]

# Recipes whose pipelines are measured: name -> does it read an image folder.
RECIPES = {"lenet5_digits": False, "alexnet_imagenet": True, "resnet_imagenet": True}


def write_jpeg_folder(root, *, images_per_class, classes=2, size=(375, 500), seed=0):
    """A small ImageNet-like folder ``root/{train,val}/<class>/*.jpg`` of smooth random
    JPEG images (quality 90)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for split, count in (("train", images_per_class), ("val", max(1, images_per_class // 4))):
        for c in range(classes):
            folder = os.path.join(root, split, f"class_{c}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                coarse = rng.uniform(0, 255, size=(1, 12, 16, 3)).astype("float32")
                image = tf.image.resize(coarse, size, method="bicubic")[0]
                image += rng.normal(0, 8, size=(*size, 3))
                data = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8),
                                         quality=90)
                with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
                    f.write(data.numpy())
    return root


def _recipe(name):
    from kcnn.training import find_recipe, load_recipe_module

    return load_recipe_module(find_recipe(name)).RECIPE


def measure(names=tuple(RECIPES), *, batch_size=16, batches=4, repeats=3, warmup=1,
            log=print):
    """Measures each recipe's pipeline against its training step (module docstring).

    Args:
        names: recipe names (``RECIPES``).
        batch_size: batch size given to the image-folder recipes (their paper batch sizes,
            128 and 256, are too large for a CPU benchmark); the others keep their own.
        batches: training batches per epoch of the generated image folders (the digits
            recipe uses its real training set, 1,437 images).
        repeats, warmup: rounds.
        log: progress printer (None for silence).

    Returns:
        A list of row dicts: images/s of each contestant and the ratios
        ``pipeline/fit_constant`` and ``fit_pipeline/fit_constant``.
    """
    import keras
    import tensorflow as tf

    rows = []
    root = tempfile.mkdtemp(prefix="kcnn-bench-images-")
    try:
        if any(RECIPES.get(n, False) for n in names):
            write_jpeg_folder(root, images_per_class=batches * batch_size // 2)
        for name in names:
            recipe = _recipe(name)
            settings = {"precision": "float32"}
            if RECIPES.get(name, False):
                settings.update(batch_size=batch_size, data_dir=root, validate=False,
                                pca_images=64)
            cfg = recipe.configure(**settings)
            data = recipe.data(cfg)
            model = recipe.model(cfg, data)
            model.compile(**recipe.setup(cfg, data).compile_args, jit_compile=False)
            train = data.train
            images = sum(int(tf.shape(x)[0]) for x, _ in train)
            first = next(iter(train))
            batch = int(first[0].shape[0])
            steps = -(-images // batch)
            constant = tf.data.Dataset.from_tensors(first).repeat(steps)

            def pipeline():
                return sum(int(x.shape[0]) for x, _ in train)

            def fit_constant():
                model.fit(constant, epochs=1, verbose=0)
                return steps * batch

            def fit_pipeline():
                model.fit(train, epochs=1, verbose=0)
                return images

            if log:
                log(f"  pipeline {name}: {images} images, batch {batch}, model "
                    f"{model.name} x {repeats} rounds")
            rates = timing.interleaved({"pipeline": pipeline, "fit_constant": fit_constant,
                                        "fit_pipeline": fit_pipeline},
                                       repeats=repeats, warmup=warmup)
            row = {"recipe": name, "model": model.name, "batch_size": batch,
                   "images_per_epoch": images, "input_shape": list(data.input_shape),
                   "basis": timing.basis(device_kind()),
                   "images_per_second": {k: timing.summarize(v)
                                         for k, v in rates["wall"].items()},
                   "images_per_cpu_second": {k: timing.summarize(v)
                                             for k, v in rates["cpu"].items()},
                   "ratios": {clock: {
                       "pipeline/fit_constant": timing.paired_ratio(r["pipeline"],
                                                                    r["fit_constant"]),
                       "fit_pipeline/fit_constant": timing.paired_ratio(r["fit_pipeline"],
                                                                        r["fit_constant"])}
                       for clock, r in rates.items()}}
            rows.append(row)
            if log:
                log("    " + ", ".join(f"{k} {v['median']:.1f} img/s"
                                       for k, v in row["images_per_second"].items()))
            del model, data, train, constant
            keras.backend.clear_session()
            gc.collect()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows
