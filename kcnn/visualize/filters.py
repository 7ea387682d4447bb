"""Convolution kernels as pictures: the first layer's filters, any later layer per channel.

Krizhevsky et al. (2012, Figure 3) and Zeiler & Fergus (2014, Figure 2) show the first
layer's kernels as small colour images; that is what ``filters(model)`` draws for an RGB
network. A one-channel network (LeNet-5's C1) gets one grey-level tile per filter, on a
diverging scale centred on zero so that excitatory and inhibitory weights read apart.
Deeper layers have too many input channels to be pictures: they are drawn as per-channel
grids, one row per filter and one column per input channel.
"""

from __future__ import annotations

import difflib

import numpy as np

from kcnn.visualize import _grid

__all__ = ["filters", "kernel", "conv_layers", "first_conv_layer"]


def _layer_kernel(layer):
    """The ``(kh, kw, in, out)`` kernel of a convolution-like layer, or None."""
    if hasattr(layer, "full_kernel"):  # LeNet-5's PartialConv2D: zeros where unconnected
        return _grid.to_numpy(layer.full_kernel())
    weight = getattr(layer, "kernel", None)
    if weight is None or len(weight.shape) != 4:
        return None
    return _grid.to_numpy(weight)


def _sublayers(layer, input_shape):
    if hasattr(layer, "sublayer_shapes") and input_shape is not None:
        return [sub for sub, _, _ in layer.sublayer_shapes(input_shape)]
    return []


def conv_layers(model):
    """``{name: layer}`` of every convolution with a 4-D kernel, in graph order; the
    convolutions inside a block are named ``block/sublayer`` (``conv2_block1/1_conv``)."""
    found = {}
    for layer in model.layers:
        if _layer_kernel(layer) is not None:
            found[layer.name] = layer
        tensor = _grid.first_input(layer)
        in_shape = None if tensor is None else tuple(tensor.shape)
        for sub in _sublayers(layer, in_shape):
            if _layer_kernel(sub) is not None:
                found[f"{layer.name}/{sub.name}"] = sub
    return found


def first_conv_layer(model):
    """Name of the first convolution of ``model`` (the one that sees the image)."""
    layers = conv_layers(model)
    if not layers:
        raise ValueError(f"Model {model.name!r} has no convolution with a 4-D kernel.")
    return next(iter(layers))


def kernel(model, layer=None):
    """The kernel of ``layer`` (default: the first convolution) as a float32 array
    ``(kh, kw, in_channels, filters)``; grouped convolutions give ``in_channels / groups``.

    Raises:
        ValueError: ``layer`` is not a convolution of ``model`` (close names suggested).
    """
    layers = conv_layers(model)
    if layer is None:
        layer = first_conv_layer(model)
    if not isinstance(layer, str):
        raise TypeError(f"`layer` must be a layer name or None. Received: layer={layer!r}")
    if layer not in layers:
        close = difflib.get_close_matches(layer, list(layers), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Model {model.name!r} has no convolution named {layer!r}.{hint} "
                         f"Its convolutions: {', '.join(layers)}. Received: layer={layer!r}")
    return _layer_kernel(layers[layer])


def filters(model, layer=None, *, path=None, max_filters=96, max_channels=16):
    """Draws the kernels of a convolution.

    The first convolution of an RGB network is drawn as colour tiles, each filter stretched
    to [0, 1] on its own (as in AlexNet's Figure 3); a one-channel first layer as grey
    tiles on one zero-centred diverging scale. Any other layer (more than three input
    channels, or ``layer=`` a later convolution) is a per-channel grid: one row per filter,
    one column per input channel, on one zero-centred scale.

    Args:
        model: a built ``keras.Model``.
        layer: a convolution's name (``"c1"``, ``"conv1_conv"``, or a block's sublayer
            ``"conv2_block1/1_conv"``); default: the first convolution.
        path: where to write the picture (``.png``/``.svg``/``.pdf``); None returns the
            matplotlib figure.
        max_filters: at most this many filters are drawn (the first ones).
        max_channels: per-channel grids show at most this many filters (rows) and input
            channels (columns).

    Returns:
        ``path``, or the ``matplotlib.figure.Figure`` when ``path`` is None.
    """
    path = _grid.check_path(path)
    for name, value in (("max_filters", max_filters), ("max_channels", max_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    name = layer if layer is not None else first_conv_layer(model)
    k = kernel(model, name)
    kh, kw, cin, cout = k.shape
    title = f"{model.name} {name}: {cout} filters {kh}x{kw}x{cin}"
    if cin in (1, 3):
        shown = min(cout, max_filters)
        title += f"\n(first {shown})" if shown < cout else ""
        tiles = np.moveaxis(k[..., :shown], -1, 0)  # (n, kh, kw, cin)
        if cin == 1:
            return _draw(_grid.tile(tiles[..., 0]), title, path)
        lo = tiles.min(axis=(1, 2, 3), keepdims=True)
        hi = tiles.max(axis=(1, 2, 3), keepdims=True)
        tiles = (tiles - lo) / np.where(hi > lo, hi - lo, 1.0)
        return _draw(_grid.tile(tiles), title, path, rgb=True)
    shown, channels = min(cout, max_channels, max_filters), min(cin, max_channels)
    # one row per filter: (filters, channels, kh, kw) -> (filters*channels, kh, kw)
    tiles = np.moveaxis(k[:, :, :channels, :shown], (2, 3), (1, 0)).reshape(-1, kh, kw)
    title += (f"\nrows: filters 0-{shown - 1}, columns: input channels 0-{channels - 1}")
    return _draw(_grid.tile(tiles, cols=channels), title, path)


def _draw(mosaic, title, path, *, rgb=False):
    rows, cols = mosaic.shape[:2]
    scale = min(8.0 / cols, 8.0 / rows, 0.3)  # inches per kernel pixel
    width = max(cols * scale, 4.5) + (0.0 if rgb else 1.0)
    height = max(rows * scale, 1.5) + 0.6 + 0.15 * title.count("\n")
    fig = _grid.new_figure(width, height)
    ax = fig.add_subplot()
    if rgb:
        ax.imshow(np.nan_to_num(mosaic, nan=1.0), interpolation="nearest")
    else:
        limit = _grid.symmetric_limit(mosaic)
        image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        cax = fig.add_axes([1 - 0.75 / width, 0.15, 0.12 / width, 0.7])
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("weight (red +, blue -)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=9)
    _grid.margins(fig, top=0.35 + 0.16 * title.count("\n"), right=0.15 if rgb else 0.9)
    return _grid.finish(fig, path)
