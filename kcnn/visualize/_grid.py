"""What the pictures share: tiling maps into one mosaic, display scaling, saving figures.

A grid of many small maps is drawn as one image (the maps tiled with a one-pixel gap of NaN,
shown in the background colour) rather than one matplotlib axis per map, so a layer of 512
channels costs one ``imshow``. Figures are written atomically through ``kcnn._io``.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["tile", "grid_shape", "display_image", "symmetric_limit", "new_figure", "margins",
           "finish", "check_path", "to_numpy", "first_input"]

SUFFIXES = (".png", ".svg", ".pdf", ".jpg")


def grid_shape(count, *, aspect=1.0):
    """Rows and columns for ``count`` tiles, about ``aspect`` times wider than tall."""
    count = max(int(count), 1)
    cols = max(1, min(count, math.ceil(math.sqrt(count * aspect))))
    return math.ceil(count / cols), cols


def tile(maps, *, cols=None, pad=1):
    """Tiles maps of shape ``(n, h, w)`` or ``(n, h, w, 3)`` into one array.

    Args:
        maps: the maps, all the same size.
        cols: tiles per row (default: a near-square grid).
        pad: gap between tiles, filled with NaN.

    Returns:
        A float32 array ``(rows*(h+pad)-pad, cols*(w+pad)-pad[, 3])``.
    """
    maps = np.asarray(maps, dtype="float32")
    n, h, w = maps.shape[:3]
    rows, cols = grid_shape(n) if cols is None else (math.ceil(n / cols), cols)
    extra = maps.shape[3:]
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *extra), np.nan, "float32")
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = maps[i]
    return out


def symmetric_limit(values, *, percentile=99.5):
    """A colour limit symmetric about zero that a few outliers do not dictate."""
    finite = np.abs(np.asarray(values, "float64"))
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return 1.0
    limit = float(np.percentile(finite, percentile))
    return limit if limit > 0 else (float(finite.max()) or 1.0)


def display_image(image):
    """An input image as something ``imshow`` shows faithfully: ``(h, w)`` grey for one
    channel, ``(h, w, 3)`` RGB for three, the mean over channels otherwise (e.g. Go
    planes), stretched to [0, 1] (the network's preprocessing is not undone)."""
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] != 3:
        image = image.mean(axis=-1)
    lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def to_numpy(x):
    """A tensor (any backend, any float dtype) as a float32 numpy array."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")))


def first_input(layer):
    """The first input tensor of ``layer``'s first call in the model's graph, or None."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes or not nodes[0].input_tensors:
        return None
    return nodes[0].input_tensors[0]


def check_path(path, *, argument="path"):
    """``path`` as a string with a picture suffix, checked before anything is computed."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{argument}` must be a file path or None. "
                        f"Received: {argument}={path!r}")
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in SUFFIXES:
        raise ValueError(f"`{argument}` must end in one of {', '.join(SUFFIXES)}. "
                         f"Received: {argument}={path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"The folder of `{argument}` does not exist: {folder}. "
                         f"Received: {argument}={path!r}")
    return path


def new_figure(width, height):
    """A matplotlib figure (Agg, no display needed) of ``width`` x ``height`` inches."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def margins(fig, *, top, left=0.15, right=0.15, bottom=0.15, wspace=0.1, hspace=0.3):
    """Fixed margins in inches (``tight_layout`` costs as much as drawing the figure);
    ``wspace``/``hspace`` are fractions of the mean axis width/height, as in matplotlib."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wspace, hspace=hspace)


def finish(fig, path, *, dpi=110):
    """Writes ``fig`` to ``path`` atomically and returns ``path``; without a path, returns
    the figure. SVG keeps its text as text (searchable, selectable)."""
    if path is None:
        return fig
    from kcnn._io import atomic_path

    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, facecolor="white")
    return path
