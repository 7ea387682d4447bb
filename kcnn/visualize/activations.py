"""Feature maps of chosen layers for one image, as grids with the layer's name and shape.

The maps come from ``kcnn.feature_extractor`` (one model sharing the network's layers and
weights, run once), never from networks rebuilt per layer. The default layers are the
registered network's ``feature_layers``, one per stage: LeNet-5's C1/C3/C5, VGG's block
ends, GoogLeNet's conv2 and Inception stage outputs, ResNet's ``conv2_block3`` ...
``conv5_block3``, three of AlphaGo's convolutions. A model that is not a registered network
gets the last layer of each spatial size (its stage ends), read from ``kcnn.summary``.
"""

from __future__ import annotations

import numpy as np

from kcnn.visualize import _grid

__all__ = ["feature_maps", "default_layers", "activations"]


def default_layers(model):
    """One layer per stage: the spec's ``feature_layers`` for a registered network, else the
    last layer before each change of spatial size (from ``kcnn.summary``'s rows)."""
    from kcnn.features import feature_extractor

    try:
        return tuple(feature_extractor(model).output)
    except ValueError:
        pass
    from kcnn.analysis import summary

    rows = [r for r in summary(model).rows
            if r.depth == 0 and r.type != "InputLayer" and r.output_shape is not None
            and len(r.output_shape) == 3]
    ends = [a.name for a, b in zip(rows, rows[1:]) if a.output_shape[:2] != b.output_shape[:2]]
    if rows:
        ends.append(rows[-1].name)
    if not ends:
        raise ValueError(f"Model {model.name!r} has no layer with an image-shaped output "
                         "(height, width, channels) to draw.")
    return tuple(ends)


def _check_images(model, images, *, argument="images"):
    """``images`` as a float32 batch ``(n, h, w, c)`` matching the model's input."""
    if not isinstance(images, np.ndarray) and hasattr(images, "shape"):
        images = _grid.to_numpy(images)  # a tensor
    if not isinstance(images, np.ndarray) or not np.issubdtype(images.dtype, np.number):
        raise TypeError(f"`{argument}` must be an array of images. "
                        f"Received: {argument} of type {type(images).__name__}")
    expected = tuple(model.inputs[0].shape[1:])
    if images.ndim == len(expected):
        images = images[None]
    ok = images.ndim == len(expected) + 1 and all(
        e is None or e == d for e, d in zip(expected, images.shape[1:]))
    if not ok or images.shape[0] == 0:
        raise ValueError(f"`{argument}` must be one image or a batch of images of shape "
                         f"{expected} for model {model.name!r}. "
                         f"Received: {argument} with shape {images.shape}")
    return images.astype("float32")


def feature_maps(model, images, layers=None):
    """The outputs of ``layers`` for ``images``.

    Args:
        model: a built functional ``keras.Model``.
        images: one image ``(h, w, c)`` or a batch, preprocessed as the model expects.
        layers: layer names; default ``default_layers(model)``.

    Returns:
        ``{name: float32 array (n, ...)}`` in the order of ``layers``.
    """
    from kcnn.features import feature_extractor

    images = _check_images(model, images)
    layers = default_layers(model) if layers is None else layers
    extractor = feature_extractor(model, layers)
    outputs = extractor(images, training=False)
    return {name: _grid.to_numpy(outputs[name]) for name in extractor.output}


def activations(model, image, layers=None, *, path=None, max_maps=16):
    """Draws the feature maps of ``layers`` for one image, a grid per layer.

    Each grid shows the ``max_maps`` channels with the largest mean activation (numbered by
    channel), on one colour scale per layer: ``viridis`` from zero for non-negative maps
    (after a ReLU), a zero-centred diverging scale otherwise. A layer whose maps are 1x1
    (LeNet-5's C5 at 32x32) shows all its values as one small image.

    Args:
        model: a built functional ``keras.Model``.
        image: one preprocessed image ``(h, w, c)`` (or a batch, of which the first is drawn).
        layers: layer names; default ``default_layers(model)`` (one per stage).
        path: ``.png``/``.svg``/``.pdf`` to write; None returns the figure.
        max_maps: channels drawn per layer.

    Returns:
        ``path``, or the ``matplotlib.figure.Figure`` when ``path`` is None.
    """
    path = _grid.check_path(path)
    if isinstance(max_maps, bool) or not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"`max_maps` must be a positive integer. Received: max_maps={max_maps!r}")
    image = _check_images(model, image, argument="image")[:1]
    maps = feature_maps(model, image, layers)
    panels = [("input " + "x".join(str(d) for d in image.shape[1:]), None,
               _grid.display_image(image[0]))]
    for name, value in maps.items():
        panels.append(_panel(name, value[0], max_maps))
    cols = len(panels) if len(panels) <= 4 else 3
    rows = -(-len(panels) // cols)
    fig = _grid.new_figure(3.3 * cols, 3.5 * rows)
    for i, (title, scale, mosaic) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if scale is None:
            ax.imshow(mosaic, cmap="gray" if mosaic.ndim == 2 else None, vmin=0, vmax=1,
                      interpolation="nearest")
        else:
            cmap, vmin, vmax = scale
            shown = ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=7)
        ax.set_facecolor("white")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{model.name}: feature maps", fontsize=10, y=1 - 0.12 / (3.5 * rows))
    _grid.margins(fig, top=0.55, right=0.5, wspace=0.35, hspace=0.25)
    return _grid.finish(fig, path)


def _panel(name, value, max_maps):
    """(title, (cmap, vmin, vmax), mosaic) of one layer's output for one image."""
    shape = "x".join(str(d) for d in value.shape)
    if value.ndim != 3:  # a vector (dense layer): one pixel per unit
        value = value.reshape(1, 1, -1)
    h, w, c = value.shape
    signed = bool(np.nanmin(value) < 0)
    if h * w == 1:
        maps = value.reshape(c, 1, 1)
        title = f"{name} {shape}: all {c} values"
        mosaic = _grid.tile(maps, pad=0)
    else:
        strength = np.abs(value).mean(axis=(0, 1)) if signed else value.mean(axis=(0, 1))
        order = np.argsort(-strength, kind="stable")[:max_maps]
        maps = np.moveaxis(value[..., order], -1, 0)
        picked = "" if len(order) == c else f", {len(order)} strongest of {c}"
        title = f"{name} {shape}{picked}"
        mosaic = _grid.tile(maps)
    if signed:
        limit = _grid.symmetric_limit(mosaic)
        return title, ("RdBu_r", -limit, limit), mosaic
    top = float(np.nanpercentile(mosaic, 99.5)) if np.isfinite(mosaic).any() else 1.0
    return title, ("viridis", 0.0, top if top > 0 else 1.0), mosaic
