"""Classifying image files and measuring top-1/top-5 on an ImageNet validation folder.

The folder holds one sub-folder per class named by its WordNet id (``val/n01440764/*.JPEG``,
the layout ``keras.utils.image_dataset_from_directory`` and torchvision's ``ImageFolder``
read), or the flat official ``ILSVRC2012_img_val`` folder with a labels file (one WordNet id
or class index per line, in sorted file-name order, e.g. TensorFlow Datasets'
``validation_labels.txt``). A subset of the classes is fine: accuracy is over the 1,000-way
prediction either way. An image that cannot be decoded is skipped, named and counted.
TensorFlow-only (``tf.data``), imported lazily.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from kcnn.imagenet import NUM_CLASSES, index_of
from kcnn.imagenet.images import list_images, load_image

__all__ = ["Result", "iter_predictions", "predict_files", "labelled_files", "evaluate_files"]


def iter_predictions(model, paths, transform, preprocess, *, batch_size=16, skipped=None):
    """Yields ``(paths, scores)`` batch by batch for the readable images of ``paths``; the
    unreadable ones are appended to ``skipped`` as ``(path, reason)``."""
    batch, names = [], []
    for i, path in enumerate(paths):
        try:
            batch.append(load_image(path, transform))
            names.append(path)
        except ValueError as e:
            if skipped is not None:
                skipped.append((path, str(e)))
        if batch and (len(batch) == batch_size or i == len(paths) - 1):
            x = preprocess(np.stack(batch))
            yield list(names), np.asarray(model(x, training=False), dtype="float32")
            batch, names = [], []


def predict_files(model, paths, transform, preprocess, *, batch_size=16):
    """Scores of ``model`` for each readable image of ``paths``.

    Returns:
        ``(scores, read, skipped)``: a float32 ``(n, classes)`` array for the ``read`` paths,
        and ``[(path, reason)]`` for the files that could not be read.
    """
    read, rows, skipped = [], [], []
    for names, scores in iter_predictions(model, paths, transform, preprocess,
                                          batch_size=batch_size, skipped=skipped):
        read += names
        rows.append(scores)
    scores = np.concatenate(rows) if rows else np.zeros((0, 0), "float32")
    return scores, read, skipped


def _read_labels(path, count):
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if len(lines) < count:
        raise ValueError(f"The labels file has {len(lines)} lines for {count} images. "
                         f"Received: labels={path!r}")
    labels = []
    for line in lines[:count]:
        token = line.split()[-1]
        if not token.isdigit():
            labels.append(index_of(token))
        elif int(token) < NUM_CLASSES:
            labels.append(int(token))
        else:
            raise ValueError(f"Class indices run from 0 to {NUM_CLASSES - 1} in sorted "
                             f"WordNet-id order. Received: {token!r} in labels={path!r}")
    return labels


def labelled_files(folder, *, labels=None, limit=None):
    """``(paths, class indices)`` of an ImageNet-style validation folder (see the module
    docstring); ``limit`` keeps the first ``limit`` images of each class sub-folder, or of
    the flat folder.

    Raises:
        ValueError: if the folder has neither WordNet-id sub-folders nor images with a
            ``labels`` file, or a sub-folder is not an ILSVRC-2012 WordNet id.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"No folder {folder!r}. Received: data_dir={folder!r}")
    if labels is not None:
        paths = list_images(folder)
        if limit:
            paths = paths[:limit]
        return paths, _read_labels(labels, len(paths))
    subdirs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not subdirs:
        raise ValueError(f"{folder} has no class sub-folders: name them by WordNet id "
                         f"(n01440764/ ...), or pass the flat folder with a labels file. "
                         f"Received: data_dir={folder!r}")
    paths, classes = [], []
    for d in subdirs:
        index = index_of(d)
        files = list_images(os.path.join(folder, d))
        files = files[:limit] if limit else files
        paths += files
        classes += [index] * len(files)
    return paths, classes


class Result(dict):
    """``images``, ``skipped``, ``top1``, ``top5`` (fractions), ``classes``."""


def evaluate_files(model, paths, classes, transform, preprocess, *, batch_size=16,
                   log=None, progress_every=5000):
    """Top-1/top-5 accuracy of ``model`` on labelled image files, counted batch by batch
    (50,000 images need no more memory than one batch).

    Returns:
        A ``Result``; unreadable images are counted in ``skipped`` and named on ``log``.
    """
    log = log or sys.stderr
    label_of = dict(zip(paths, classes))
    skipped, count, top1, top5 = [], 0, 0, 0
    for names, scores in iter_predictions(model, paths, transform, preprocess,
                                          batch_size=batch_size, skipped=skipped):
        if scores.shape[1] != NUM_CLASSES:
            raise ValueError(f"The model predicts {scores.shape[1]} classes; ImageNet "
                             f"evaluation needs {NUM_CLASSES}.")
        truth = np.array([label_of[p] for p in names])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        top1 += int(np.sum(order[:, 0] == truth))
        top5 += int(np.sum(np.any(order == truth[:, None], axis=1)))
        before, count = count, count + len(names)
        if progress_every and count // progress_every > before // progress_every:
            print(f"{count}/{len(paths)} images: top-1 {100 * top1 / count:.2f}% "
                  f"top-5 {100 * top5 / count:.2f}%", file=log, flush=True)
    for path, reason in skipped:
        print(f"skipped: {reason}", file=log)
    if not count:
        raise ValueError(f"None of the {len(paths)} images could be read.")
    return Result(images=count, skipped=len(skipped), top1=top1 / count, top5=top5 / count,
                  classes=len(set(classes)))
