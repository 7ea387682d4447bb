"""The 1,000 ILSVRC-2012 classes, shipped with kcnn, and decoding predictions into them.

Class ``i`` is the ``i``-th WordNet id in sorted order (``n01440764`` tench ... ``n15075141``
toilet tissue): the order of every published ImageNet checkpoint kcnn loads (Caffe's
``synsets.txt``, keras.applications, torchvision). ``classes.json`` holds ``[wnid, name]``
pairs; the WordNet ids are those of TensorFlow Datasets' ``imagenet2012/labels.txt``, the
names torchvision's ``_IMAGENET_CATEGORIES`` (one readable name per class, no duplicates).
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

__all__ = ["NUM_CLASSES", "classes", "wnids", "class_names", "index_of", "decode_predictions"]

NUM_CLASSES = 1000
_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classes.json")


@functools.lru_cache(maxsize=1)
def classes():
    """``((wnid, name), ...)`` for the 1,000 classes, in index order."""
    with open(_FILE, encoding="utf-8") as f:
        rows = json.load(f)
    return tuple((str(w), str(n)) for w, n in rows)


def wnids():
    """The WordNet ids in index order."""
    return tuple(w for w, _ in classes())


def class_names():
    """The readable class names in index order."""
    return tuple(n for _, n in classes())


@functools.lru_cache(maxsize=1)
def _index():
    return {w: i for i, w in enumerate(wnids())}


def index_of(wnid):
    """The class index of WordNet id ``wnid`` (e.g. the folder names of an ImageNet val
    folder).

    Raises:
        ValueError: if ``wnid`` is not one of the 1,000 classes.
    """
    try:
        return _index()[wnid]
    except KeyError:
        raise ValueError(f"{wnid!r} is not an ILSVRC-2012 class WordNet id (n########). "
                         f"Received: wnid={wnid!r}") from None


def decode_predictions(preds, top=5):
    """The ``top`` classes of each row of ``preds``, as keras.applications returns them.

    Args:
        preds: array-like of shape ``(batch, 1000)`` (probabilities or logits).
        top: how many classes per row (1..1000).

    Returns:
        One list per row of ``(wnid, name, score)`` tuples, highest score first.

    Raises:
        ValueError: if ``preds`` is not ``(batch, 1000)`` or ``top`` is out of range.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(f"`decode_predictions` expects a batch of ImageNet predictions, of "
                         f"shape (batch, {NUM_CLASSES}). Received: preds.shape={preds.shape}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not (
            1 <= top <= NUM_CLASSES):
        raise ValueError(f"`top` must be an integer from 1 to {NUM_CLASSES}. "
                         f"Received: top={top!r}")
    table = classes()
    out = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        out.append([(table[i][0], table[i][1], float(row[i])) for i in best])
    return out
