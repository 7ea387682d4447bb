"""Pictures of a trained run, and ``kcnn show RUN``.

``write_run_pictures(run_dir, model, data)`` writes, next to a run folder's ``curves.png``:

    filters.png       the first convolution's kernels
    activations.png   one layer per stage for the first test image
    gradcam.png       Grad-CAM of the predicted class on a few test images (true and
                      predicted classes in the titles)

The main job (``recipes/lenet5_digits.py``) does it when training ends, through the
``RunPictures`` callback. ``kcnn show RUN`` prints a finished (or interrupted) run's key
numbers and writes the same pictures from its ``model.keras`` and the recipe's test data::

    kcnn show runs/lenet5_digits [--images 8] [--no-pictures]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import warnings

import keras
import numpy as np

__all__ = ["PICTURES", "write_run_pictures", "RunPictures", "test_images", "run_report",
           "cli_main"]

PICTURES = ("filters.png", "activations.png", "gradcam.png")


def test_images(data, count=8):
    """The first ``count`` test images and labels of a run's data, as numpy arrays.

    Args:
        data: a ``kcnn.training.Data`` (its ``test`` batches), a dataset or iterable of
            ``(x, y)`` batches, or a pair of arrays ``(x, y)``.
        count: how many images.

    Returns:
        ``(images, labels)``; several crops per image (rank-5 batches) give the first crop.
    """
    source = getattr(data, "test", data)
    if isinstance(source, tuple) and len(source) == 2 and hasattr(source[0], "shape") and \
            len(np.shape(source[0])) >= 3:
        xs, ys = np.asarray(source[0])[:count], np.asarray(source[1])[:count]
        return xs.astype("float32"), ys
    xs, ys = [], []
    for batch in source:
        x, y = batch[0], batch[1]
        x = np.asarray(x)
        if x.ndim == 5:
            x = x[:, 0]
        xs.append(x)
        ys.append(np.asarray(y))
        if sum(len(b) for b in xs) >= count:
            break
    if not xs:
        raise ValueError("The run's test data gave no images.")
    labels = np.concatenate(ys)[:count]
    if labels.ndim > 1:  # one-hot
        labels = labels.argmax(axis=-1)
    return np.concatenate(xs)[:count].astype("float32"), labels


def write_run_pictures(run_dir, model, data, *, images=8, say=print):
    """Writes ``PICTURES`` into a run folder; a picture that fails is named and skipped.

    Args:
        run_dir: the run folder (a path or ``kcnn.training.RunDirectory``; on a non-chief
            worker of a multi-worker run nothing is written).
        model: the trained ``keras.Model``.
        data: the run's data (see ``test_images``).
        images: test images for Grad-CAM.
        say: where to report (None: silent).

    Returns:
        The paths written.
    """
    from kcnn.visualize.activations import activations
    from kcnn.visualize.attribution import attributions
    from kcnn.visualize.filters import filters

    if not getattr(run_dir, "chief", True):
        return []
    folder = os.fspath(getattr(run_dir, "root", run_dir))
    say = say or (lambda *a, **k: None)
    try:
        x, y = test_images(data, images)
    except (ValueError, TypeError) as error:
        x = y = None
        say(f"pictures: no test images ({error}); writing the filters only")
    jobs = [("filters.png", lambda p: filters(model, path=p))]
    if x is not None:
        jobs += [("activations.png", lambda p: activations(model, x[0], path=p)),
                 ("gradcam.png", lambda p: attributions(model, x, labels=y, path=p))]
    written = []
    for name, job in jobs:
        path = os.path.join(folder, name)
        try:
            job(path)
        except Exception as error:  # a picture must never cost a finished run
            warnings.warn(f"{name} was not written: {type(error).__name__}: {error}",
                          stacklevel=2)
            continue
        written.append(path)
    if written:
        say(f"  pictures        {', '.join(os.path.basename(p) for p in written)}")
    return written


class RunPictures(keras.callbacks.Callback):
    """A Keras callback calling ``write_run_pictures`` when training ends, for a recipe's
    ``callbacks`` hook: ``callbacks=lambda cfg, data, run: [RunPictures(run, data)]``."""

    def __init__(self, run_dir, data, *, images=8):
        super().__init__()
        self.run_dir, self.data, self.images = run_dir, data, images

    def on_train_end(self, logs=None):
        write_run_pictures(self.run_dir, self.model, self.data, images=self.images, say=None)


# === kcnn show ===

def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        print(f"kcnn show: {os.path.basename(path)} is unreadable ({error}); skipped",
              file=sys.stderr)
        return None


def run_report(folder):
    """The key numbers of a run folder as lines of text.

    Raises:
        ValueError: ``folder`` is not a run folder (no ``config.json``).
    """
    config = _read_json(os.path.join(folder, "config.json"))
    if not isinstance(config, dict):
        raise ValueError(f"{folder} is not a kcnn run folder (no readable config.json). "
                         f"Received: run={folder!r}")
    metrics = _read_json(os.path.join(folder, "metrics.json")) or {}
    history = _read_json(os.path.join(folder, "history.json")) or []
    settings = config.get("config", {})
    lines = [f"run             {os.path.abspath(folder)}",
             f"recipe          {config.get('recipe')}   model {metrics.get('model') or settings.get('model', '?')}"]
    for label, values in (("settings", settings), ("resolved", config.get("resolved") or {})):
        if values:
            text = ", ".join(f"{k}={v}" for k, v in values.items())
            lines.append(textwrap.fill(text, width=96, initial_indent=f"{label:<16}",
                                       subsequent_indent=" " * 16, break_long_words=False))
    done = len(history)
    lines.append(f"epochs          {done} of {settings.get('epochs', '?')}"
                 + ("" if metrics.get("completed") else "   (not finished)"))
    if history:
        last = history[-1]
        for key in ("accuracy", "val_accuracy", "loss", "val_loss"):
            if key in last:
                lines.append(f"{'last ' + key:<15} {last[key]:.4f} (epoch {last.get('epoch', done)})")
        key = "val_accuracy" if any("val_accuracy" in r for r in history) else "accuracy"
        scored = [r for r in history if key in r]
        if scored:
            best = max(scored, key=lambda r: r[key])
            lines.append(f"{'best ' + key:<15} {best[key]:.4f} (epoch {best.get('epoch')})")
    if "test_accuracy" in metrics:
        lines.append(f"test accuracy   {metrics['test_accuracy']:.4f} on "
                     f"{metrics.get('test_examples', '?')} images")
    if "test_top5_accuracy" in metrics:
        lines.append(f"test top-5      {metrics['test_top5_accuracy']:.4f}")
    if metrics.get("train_seconds") is not None:
        lines.append(f"training time   {metrics['train_seconds']:.1f} s, "
                     f"{metrics.get('images_per_second') or 0:.0f} images/s")
    return lines


def _recipe_data(config):
    """The recipe's data for a stored configuration."""
    from kcnn.training.cli import find_recipe, load_recipe_module

    recipe = load_recipe_module(find_recipe(config["recipe"])).RECIPE
    return recipe.data(recipe.configure(**config.get("config", {})))


def cli_main(argv=None):
    """``kcnn show RUN``: prints the run's numbers and writes its pictures."""
    parser = argparse.ArgumentParser(
        prog="kcnn show", description="A training run's key numbers, and pictures of its "
        "network (filters, feature maps, Grad-CAM on test images) written next to curves.png.")
    parser.add_argument("run", help="run folder, e.g. runs/lenet5_digits")
    parser.add_argument("--images", type=int, default=8, help="test images for Grad-CAM")
    parser.add_argument("--no-pictures", action="store_true", help="only print the numbers")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be at least 1. Received: --images {args.images}")
    try:
        lines = run_report(args.run)
    except ValueError as error:
        print(f"kcnn show: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    if args.no_pictures:
        return 0
    model_path = os.path.join(args.run, "model.keras")
    if not os.path.exists(model_path):
        print(f"kcnn show: no model.keras in {args.run} (the run has not finished); "
              "no pictures", file=sys.stderr)
        return 1
    from kcnn.saving import load_model

    model = load_model(model_path, compile=False)
    config = _read_json(os.path.join(args.run, "config.json"))
    try:
        data = _recipe_data(config)
    except Exception as error:  # the data may live elsewhere (image folders, shards)
        print(f"kcnn show: the recipe's test data is not available ({error})",
              file=sys.stderr)
        data = ()
    write_run_pictures(args.run, model, data, images=args.images)
    return 0
