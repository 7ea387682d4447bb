"""Architecture pictures from kcnn's own per-layer table, without Graphviz.

``diagram_boxes`` turns the top-level rows of ``kcnn.summary`` into boxes: each convolution,
pooling, dense layer and block (``conv2_block1``, ``inception3a``) is a box with its paper
name, what it is (``conv 7x7/2 + BN + ReLU``, the Inception module's Table 1 columns) and
its output shape; padding, batch normalization, activations, LRN and dropout are folded
into the box they belong to. ``diagram`` draws the boxes top to bottom with matplotlib,
wrapping into further columns for deep networks, and writes SVG (text kept as text) or PNG.
"""

from __future__ import annotations

import dataclasses
import os
import re

from kcnn.visualize import _grid

__all__ = ["Box", "diagram_boxes", "diagram"]

# Layers drawn as part of the box before them (same shape, no new stage).
_FOLDED = {"BatchNormalization": "BN", "LocalResponseNormalization": "LRN",
           "Dropout": "dropout", "SpatialDropout2D": "dropout", "ReLU": "ReLU",
           "LeakyReLU": "leaky ReLU", "PReLU": "PReLU", "ELU": "ELU", "APL": "APL",
           "RReLU": "RReLU", "Maxout": "maxout", "PositionBias": "position bias"}
_KINDS = (("InputLayer", "input"), ("Conv", "conv"), ("PartialConv", "conv"),
          ("Pool", "pool"), ("Subsampling", "pool"), ("Dense", "dense"),
          ("EuclideanRBF", "dense"), ("Flatten", "reshape"), ("Reshape", "reshape"),
          ("Module", "block"), ("Block", "block"))
_COLOURS = {"input": "#e8e8e8", "conv": "#cfe2f3", "pool": "#fce5cd", "dense": "#d9ead3",
            "reshape": "#f3f3f3", "block": "#d9d2e9", "other": "#fff2cc"}


@dataclasses.dataclass(frozen=True)
class Box:
    """One box of the diagram.

    Attributes:
        name: the layer's name (the paper's: ``conv2_block1``, ``inception3a``, ``c3``).
        kind: "input", "conv", "pool", "dense", "reshape", "block" or "other".
        detail: what the box does, e.g. ``"conv 3x3/1 + BN + ReLU"``.
        output_shape: output shape without the batch dimension (after the folded layers).
        params: parameters of the layer and its folded layers.
        layers: names of the model's layers the box stands for.
        source: the box it reads from when that is not the box drawn before it (a branch,
            such as GoogLeNet's auxiliary heads), else None.
    """

    name: str
    kind: str
    detail: str
    output_shape: tuple
    params: int
    layers: tuple
    source: str | None = None

    @property
    def shape_text(self):
        return "x".join("?" if d is None else str(d) for d in self.output_shape or ())


def _kind(layer_type):
    for key, kind in _KINDS:
        if key in layer_type:
            return kind
    return "other"


def _activation_name(layer):
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", None) or type(fn).__name__ if fn is not None else None
    return {"relu": "ReLU", "softmax": "softmax", "tanh": "tanh", "sigmoid": "sigmoid",
            "lecun_tanh": "1.7159 tanh(2a/3)"}.get(name, name)


def _describe(layer, row):
    """The box's detail line for a layer that starts a box."""
    kind = type(layer).__name__
    if kind == "InceptionModule":
        return (f"Inception: 1x1 {layer.filters_1x1} | 3x3 {layer.filters_3x3_reduce}\u2192"
                f"{layer.filters_3x3} | 5x5 {layer.filters_5x5_reduce}\u2192{layer.filters_5x5}"
                f" | pool {layer.pool_proj}")
    if kind in ("BottleneckBlock", "BasicBlock"):
        widths = ([layer.filters, layer.filters, layer.filters * 4] if kind == "BottleneckBlock"
                  else [layer.filters, layer.filters])
        stride = f", stride {layer.strides}" if layer.strides != 1 else ""
        return f"{kind[:-5].lower()} {'-'.join(map(str, widths))}{stride}"
    text = row.type
    for long, short in (("Conv2D", "conv"), ("MaxPooling2D", "max pool"),
                        ("AveragePooling2D", "avg pool"), ("GlobalAveragePooling2D",
                                                          "global avg pool"),
                        ("GlobalMaxPooling2D", "global max pool"), ("Dense", "dense"),
                        ("Subsampling2D", "subsampling"), ("PartialConv2D", "partial conv")):
        if text.startswith(long):
            text = short + text[len(long):]
            break
    if kind == "PartialConv2D":
        text += f" {layer.kernel_size}x{layer.kernel_size}"
    act = _activation_name(layer) if kind not in ("Activation",) else None
    if act and act != "linear":
        text += f" + {act}"
    return text


def diagram_boxes(model_or_name, **build_kwargs):
    """The boxes of the architecture picture of a model or registered network.

    Returns:
        A tuple of ``Box`` in the order of the model's layers.
    """
    from kcnn.analysis import summary

    model = _model(model_or_name, build_kwargs)
    layers = {layer.name: layer for layer in model.layers}
    boxes = []
    box_of = {}  # layer name -> name of the box drawing it
    pending = []  # padding layers waiting for the layer they pad
    rows = {r.name: r for r in summary(model).rows if not r.depth}
    for name in _chain_order(model, list(rows)):
        row = rows[name]
        layer = layers.get(row.name)
        kind_name = row.type.split()[0]
        if kind_name == "ZeroPadding2D":
            pending.append(row)
            continue
        fold = _FOLDED.get(kind_name)
        if kind_name == "Activation" and layer is not None:
            fold = _activation_name(layer)
            if row.name == "predictions" or not boxes:
                fold = None
        follows = boxes and _source(layer) in (None, boxes[-1].layers[-1])
        if fold and follows and boxes[-1].kind != "input":
            last = boxes[-1]
            box_of[row.name] = last.name
            boxes[-1] = dataclasses.replace(
                last, detail=f"{last.detail} + {fold}", output_shape=row.output_shape,
                params=last.params + row.params, layers=last.layers + (row.name,))
            continue
        detail = _describe(layer, row) if layer is not None else row.type
        if kind_name == "InputLayer":
            detail = "input"
        if pending:
            pads = [layers[p.name].padding for p in pending if p.name in layers]
            if pads:
                detail = f"pad {_pad_text(pads[0])}, " + detail
        source = _source(layers.get(pending[0].name if pending else row.name))
        if boxes and source is not None and source != boxes[-1].layers[-1]:
            source = box_of.get(source, source)  # a branch
            detail = f"from {source}: " + detail
        else:
            source = None
        box_of.update({p.name: row.name for p in pending} | {row.name: row.name})
        boxes.append(Box(name=row.name, kind=_kind(kind_name), detail=detail,
                         output_shape=row.output_shape, params=row.params + sum(
                             p.params for p in pending),
                         layers=tuple(p.name for p in pending) + (row.name,), source=source))
        pending = []
    return tuple(boxes)


def _chain_order(model, names):
    """``names`` (the model's layers in Keras's order) reordered so that each branch is
    drawn in one piece: after a layer comes the earliest ready layer that reads it, else the
    earliest ready layer (GoogLeNet's auxiliary heads after the main path)."""
    layers = {layer.name: layer for layer in model.layers}
    inputs = {}
    for name in names:
        nodes = getattr(layers.get(name), "_inbound_nodes", None) or []
        inputs[name] = {t._keras_history.operation.name for t in nodes[0].input_tensors} \
            if nodes else set()
    done, order = set(), []
    while len(order) < len(names):
        ready = [n for n in names if n not in done and inputs[n] <= done | {None}]
        if not ready:  # layers outside the graph keep Keras's order
            ready = [n for n in names if n not in done]
        last = order[-1] if order else None
        follow = [n for n in ready if last in inputs[n]]
        chosen = (follow or ready)[0]
        done.add(chosen)
        order.append(chosen)
    return order


def _source(layer):
    """Name of the layer whose output ``layer`` reads first, or None."""
    tensor = _grid.first_input(layer)
    return None if tensor is None else tensor._keras_history.operation.name


def _pad_text(padding):
    flat = [v for pair in padding for v in (pair if isinstance(pair, (tuple, list)) else (pair,))]
    return str(flat[0]) if len(set(flat)) == 1 else "/".join(map(str, flat))


def _model(model_or_name, build_kwargs):
    import keras

    if isinstance(model_or_name, str):
        from kcnn.registry import build

        return build(model_or_name, **build_kwargs)
    if isinstance(model_or_name, keras.Model):
        if build_kwargs:
            raise TypeError("Build arguments only apply to a registered name, not to a model. "
                            f"Received: {', '.join(sorted(build_kwargs))}")
        return model_or_name
    raise TypeError("`model_or_name` must be a keras.Model or a registered model name. "
                    f"Received: model_or_name={model_or_name!r}")


# Layout, in inches.
_BOX_W, _BOX_H, _GAP, _COL_GAP, _MARGIN, _TITLE = 3.6, 0.5, 0.2, 0.7, 0.3, 0.55


def _stage(name):
    match = re.match(r"(conv\d+|inception\d+|block\d+)", name)
    return match.group(1) if match else None


def diagram(model_or_name, path=None, *, per_column=None, **build_kwargs):
    """Draws the architecture of a model or registered network.

    Args:
        model_or_name: a built ``keras.Model`` or a registry name (built with
            ``build_kwargs``, e.g. ``input_shape=(224, 224, 3)``).
        path: where to write: a ``.svg``, ``.png`` or ``.pdf`` path, or a list of them
            (``["net.svg", "net.png"]``); None returns the figure.
        per_column: boxes per column before wrapping (default: about 20, balanced).
        **build_kwargs: builder arguments when a name is given.

    Returns:
        ``path`` (as given), or the ``matplotlib.figure.Figure`` when ``path`` is None.
    """
    import math

    from matplotlib.patches import FancyBboxPatch

    paths = [path] if isinstance(path, (str, os.PathLike)) or path is None else list(path)
    paths = [_grid.check_path(p) for p in paths]
    if per_column is not None and (isinstance(per_column, bool) or
                                   not isinstance(per_column, int) or per_column < 2):
        raise ValueError(f"`per_column` must be an integer >= 2. Received: per_column={per_column!r}")
    model = _model(model_or_name, build_kwargs)
    boxes = diagram_boxes(model)
    if per_column is None:
        columns = math.ceil(len(boxes) / 22)
        per_column = math.ceil(len(boxes) / columns)
    columns = math.ceil(len(boxes) / per_column)
    width = 2 * _MARGIN + columns * _BOX_W + (columns - 1) * _COL_GAP
    height = 2 * _MARGIN + _TITLE + per_column * _BOX_H + (per_column - 1) * _GAP
    fig = _grid.new_figure(width, height)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    shape = "x".join(str(d) for d in model.inputs[0].shape[1:])
    ax.text(_MARGIN, _MARGIN, model.name, fontsize=12, weight="bold", va="top")
    ax.text(_MARGIN, _MARGIN + 0.25, f"input {shape}, {trainable:,} trainable parameters",
            fontsize=8.5, va="top", color="#333333")
    stages = [s for s in dict.fromkeys(_stage(b.name) for b in boxes) if s]
    positions = []
    for i, box in enumerate(boxes):
        col, pos = divmod(i, per_column)
        x = _MARGIN + col * (_BOX_W + _COL_GAP)
        y = _MARGIN + _TITLE + pos * (_BOX_H + _GAP)
        positions.append((x, y))
        colour = _COLOURS.get(box.kind, _COLOURS["other"])
        stage = _stage(box.name)
        edge = "#674ea7" if box.kind == "block" else "#666666"
        if box.kind == "block" and stage in stages and stages.index(stage) % 2:
            colour = "#b4a7d6"
        ax.add_patch(FancyBboxPatch((x, y), _BOX_W, _BOX_H, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor=colour, edgecolor=edge, linewidth=0.8))
        ax.text(x + 0.08, y + 0.05, box.name, fontsize=8.5, weight="bold", va="top")
        ax.text(x + _BOX_W - 0.08, y + 0.05, box.shape_text, fontsize=8.5, va="top",
                ha="right", family="monospace")
        detail = box.detail if len(box.detail) <= 62 else box.detail[:59] + "..."
        ax.text(x + 0.08, y + _BOX_H - 0.06, detail, fontsize=7.2, va="bottom",
                color="#333333")
    arrow = {"arrowstyle": "-|>", "color": "#555555", "lw": 0.8, "shrinkA": 0, "shrinkB": 0}
    for i in range(1, len(boxes)):
        if boxes[i].source is not None:  # a branch: its detail line says where it starts
            continue
        (x0, y0), (x1, y1) = positions[i - 1], positions[i]
        if x0 == x1:
            ax.annotate("", xy=(x1 + _BOX_W / 2, y1), xytext=(x0 + _BOX_W / 2, y0 + _BOX_H),
                        arrowprops=arrow)
        else:  # to the top of the next column
            mid = x0 + _BOX_W + _COL_GAP / 2
            bottom = y0 + _BOX_H + _GAP / 2
            top = y1 - _GAP / 2
            ax.plot([x0 + _BOX_W / 2, x0 + _BOX_W / 2, mid, mid, x1 + _BOX_W / 2],
                    [y0 + _BOX_H, bottom, bottom, top, top], color="#555555", lw=0.8)
            ax.annotate("", xy=(x1 + _BOX_W / 2, y1), xytext=(x1 + _BOX_W / 2, top),
                        arrowprops=arrow)
    if path is None:
        return fig
    for p in paths:
        _grid.finish(fig, p)
    return path
