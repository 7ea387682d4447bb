"""Per-layer analysis of a network: output shape, activation memory, parameters and FLOPs.

``summary(model_or_name)`` returns a ``ModelSummary``: one ``LayerRow`` per layer (and, for
blocks that define ``sublayer_shapes`` such as ``InceptionModule`` or ``BottleneckBlock``,
one row per sublayer, indented under the block), with totals, printable as a table:

    >>> import kcnn
    >>> s = kcnn.summary("vgg16")
    >>> print(s)                      # or s.print(), s.to_string(expand=False)
    >>> s.totals["params"], s.rows[1].memory

Conventions (all counts are per example, batch dimension left out):

- ``memory``: number of elements of the layer's output, as the "memory" of the VGG table in
  the lecture notes (``224*224*64 = 3.2M`` for block1_conv1); the total counts every tensor
  the forward pass produces once (the input, each layer's output, each sublayer's output)
  except outputs that are their input seen differently (Flatten, Reshape, and Dropout, an
  identity at inference). ``totals["memory_bytes"]`` weighs each by its compute dtype size.
- ``params``: every weight of the layer (like ``count_params()``, BatchNorm moving
  statistics included); ``trainable`` only the trainable ones; ``params_without_bias``
  leaves out variables named ``bias``, the convention of the VGG table ("not counting
  biases": ``(3*3*3)*64 = 1,728``).
- ``flops``: multiply-adds (one multiplication and one addition count once) of
  convolutions and dense layers, weights times activations, like the "ops" column of the
  GoogLeNet table (inception (3a): 128M). Biases, activations, pooling and normalization are
  not counted. A custom layer can report its own count with a method
  ``multiply_adds(input_shape) -> int``.
- ``note``: where a convolution or pooling window does not fit its input exactly
  (``kcnn.geometry.check_model_geometry``), e.g. ResNet's 7x7/2 stem on a 224x224 image
  padded by 3: ``(230 - 7) / 2 + 1 = 112.5``, so the last row and column are never read.
"""

from __future__ import annotations

import dataclasses
import math

import keras

__all__ = ["LayerRow", "ModelSummary", "summary", "layer_multiply_adds"]

# Layers whose output is their input viewed differently (no new activation memory at
# inference).
VIEW_LAYERS = ("Flatten", "Reshape", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
               "SpatialDropout3D", "GaussianDropout", "AlphaDropout", "GaussianNoise",
               "Identity")


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One line of the table.

    Attributes:
        name: layer name; sublayers are ``block/sublayer`` (``inception3a/5x5``).
        type: class name with patch size and stride where they apply (``Conv2D 3x3/1``).
        depth: 0 for the model's layers, 1 for sublayers of a block, ...
        input_shape: input shape without the batch dimension (the first input's).
        output_shape: output shape without the batch dimension (the first output's).
        memory: output elements per example (None if the shape is not fully known).
        params: number of weights, trainable or not.
        trainable: number of trainable weights.
        params_without_bias: ``params`` without the variables named ``bias``.
        flops: multiply-adds per example (None if the shape is not fully known).
        counted: whether ``memory`` counts in the total (False for views such as Flatten).
        itemsize: bytes per element of the output (the output tensor's dtype, or the
            compute dtype for sublayers).
        note: geometry warning, or "".
    """

    name: str
    type: str
    depth: int
    input_shape: tuple | None
    output_shape: tuple | None
    memory: int | None
    params: int
    trainable: int
    params_without_bias: int
    flops: int | None
    counted: bool = True
    itemsize: int = 4
    note: str = ""

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """The rows of ``summary`` and their totals; ``str()`` gives the table."""

    name: str
    rows: tuple
    expand: bool = True

    @property
    def totals(self):
        """Sums over the model's layers (sublayers are inside their block's counts):
        ``params``, ``trainable``, ``non_trainable``, ``params_without_bias``, ``flops``
        (multiply-adds), ``memory`` (elements, every produced tensor once) and
        ``memory_bytes``."""
        top = [r for r in self.rows if r.depth == 0]
        produced = [r for r in self.rows if r.counted and r.memory is not None]
        params = sum(r.params for r in top)
        trainable = sum(r.trainable for r in top)
        flops = [r.flops for r in top]
        return {
            "params": params,
            "trainable": trainable,
            "non_trainable": params - trainable,
            "params_without_bias": sum(r.params_without_bias for r in top),
            "flops": None if any(f is None for f in flops) else sum(flops),
            "memory": sum(r.memory for r in produced),
            "memory_bytes": sum(r.memory * r.itemsize for r in produced),
        }

    def row(self, name):
        """The row of the layer (or ``block/sublayer``) called ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"No layer named {name!r} in the summary of {self.name!r}.")

    def as_dict(self):
        return {"name": self.name, "rows": [r.as_dict() for r in self.rows],
                "totals": self.totals}

    def to_string(self, *, expand=None, line_length=None):
        """The table as text. ``expand`` (default: as built) shows the sublayers of blocks;
        ``line_length`` truncates the layer-name column to fit, if given."""
        expand = self.expand if expand is None else expand
        header = ("Layer", "Type", "Output shape", "Memory", "Params", "Params w/o bias",
                  "Mult-adds")
        lines = []
        notes = []
        for r in self.rows:
            if r.depth and not expand:
                continue
            name = "  " * r.depth + (r.name.rsplit("/", 1)[-1] if r.depth else r.name)
            if r.note:
                notes.append(f"{r.name}: {r.note}")
                name += " *"
            lines.append((name, r.type, _shape_str(r.output_shape), _count(r.memory),
                          _count(r.params), _count(r.params_without_bias), _count(r.flops)))
        t = self.totals
        widths = [max(len(x[i]) for x in [header] + lines) for i in range(len(header))]
        if line_length:
            widths[0] = max(8, min(widths[0], line_length - sum(widths[1:]) - 12))
        right = (False, False, False, True, True, True, True)

        def fmt(cells):
            out = []
            for cell, w, r in zip(cells, widths, right):
                cell = cell[:w]
                out.append(cell.rjust(w) if r else cell.ljust(w))
            return "  ".join(out).rstrip()

        rule = "-" * len(fmt(tuple("x" * w for w in widths)))
        text = [f"Model: {self.name}", rule, fmt(header), rule]
        text += [fmt(x) for x in lines]
        text += [rule,
                 f"Total params: {t['params']:,} (trainable {t['trainable']:,}, "
                 f"non-trainable {t['non_trainable']:,}); without biases "
                 f"{t['params_without_bias']:,}",
                 f"Total activation memory: {t['memory']:,} elements per example "
                 f"({t['memory_bytes'] / 2**20:,.1f} MiB forward)",
                 f"Total multiply-adds: {_count(t['flops'])} per example "
                 "(convolutions and dense layers, as GoogLeNet's 'ops')"]
        if notes:
            text += ["* window does not fit its input exactly:"] + [f"  {n}" for n in notes]
        return "\n".join(text)

    def print(self, **kwargs):
        """Prints ``to_string(**kwargs)``."""
        print(self.to_string(**kwargs))

    def __str__(self):
        return self.to_string()

    def __repr__(self):
        return self.to_string()


def summary(model_or_name, *, expand=True, **build_kwargs):
    """Per-layer table of a Keras model or of a registered network.

    Args:
        model_or_name: a built ``keras.Model`` or a registry name (``"vgg16"``).
        expand: show the sublayers of blocks (``inception3a/5x5_reduce``) when printing.
        **build_kwargs: arguments for ``kcnn.build`` when a name is given
            (``input_shape=``, ``num_classes=``, family options).

    Returns:
        A ``ModelSummary`` (``.rows``, ``.totals``, ``.to_string()``, ``.print()``).

    Raises:
        TypeError: if ``model_or_name`` is neither a model nor a string, or build arguments
            are given with a model.
    """
    if isinstance(model_or_name, str):
        from kcnn.registry import build

        model = build(model_or_name, **build_kwargs)
    elif isinstance(model_or_name, keras.Model):
        if build_kwargs:
            raise TypeError("Build arguments only apply to a registered name, not to a model. "
                            f"Received: {', '.join(sorted(build_kwargs))}")
        model = model_or_name
    else:
        raise TypeError("`model_or_name` must be a keras.Model or a registered model name. "
                        f"Received: model_or_name={model_or_name!r}")
    if not isinstance(expand, bool):
        raise TypeError(f"`expand` must be True or False. Received: expand={expand!r}")
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built; call it on data or build it "
                         "first.")
    from kcnn.geometry import check_model_geometry

    notes = dict(check_model_geometry(model))
    rows = []
    layers = list(model.layers)
    if not layers or type(layers[0]).__name__ != "InputLayer":
        for t in model.inputs:  # Sequential models do not list their InputLayer
            shape = _strip(t.shape)
            rows.append(LayerRow(name="input", type="InputLayer", depth=0, input_shape=None,
                                 output_shape=shape, memory=_size(shape), params=0,
                                 trainable=0, params_without_bias=0, flops=0,
                                 itemsize=_itemsize(t.dtype)))
    for layer in layers:
        in_shapes, out_shapes, out_dtype = _node_shapes(layer)
        rows.extend(_rows(layer, in_shapes, out_shapes, depth=0, prefix="",
                          out_dtype=out_dtype))
    rows = [dataclasses.replace(r, note=notes.get(r.name, "")) for r in rows]
    return ModelSummary(name=model.name, rows=tuple(rows), expand=expand)


# === Per-layer figures ===

def layer_multiply_adds(layer, input_shape, output_shape):
    """Multiply-adds of one application of ``layer`` per example (see module docstring).

    ``input_shape`` and ``output_shape`` include the batch dimension. Returns None when a
    needed dimension is unknown.
    """
    if hasattr(layer, "multiply_adds"):
        return layer.multiply_adds(input_shape)
    if hasattr(layer, "sublayer_shapes"):
        total = 0
        for sub, sub_in, sub_out in layer.sublayer_shapes(input_shape):
            f = layer_multiply_adds(sub, sub_in, sub_out)
            if f is None:
                return None
            total += f
        return total
    kind = type(layer).__name__
    out_size = _size(_strip(output_shape))
    if kind == "Dense":
        if out_size is None or input_shape[-1] is None:
            return None
        return out_size * input_shape[-1]
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        in_ch = _channels(layer, input_shape)
        if out_size is None or in_ch is None:
            return None
        return out_size * math.prod(layer.kernel_size) * in_ch // layer.groups
    if kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        in_size = _size(_strip(input_shape))
        if in_size is None:
            return None
        return in_size * math.prod(layer.kernel_size) * layer.filters
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return None if out_size is None else out_size * math.prod(layer.kernel_size)
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        in_ch = _channels(layer, input_shape)
        if out_size is None or in_ch is None:
            return None
        spatial = out_size // layer.filters
        mid = in_ch * layer.depth_multiplier
        return spatial * mid * math.prod(layer.kernel_size) + spatial * mid * layer.filters
    return 0


# === Helpers ===

def _rows(layer, in_shapes, out_shapes, *, depth, prefix, out_dtype=None):
    in_shape = in_shapes[0] if in_shapes else None
    out_shape = out_shapes[0] if out_shapes else None
    memory = None
    if out_shapes:
        sizes = [_size(_strip(s)) for s in out_shapes]
        memory = None if any(s is None for s in sizes) else sum(sizes)
    kind = type(layer).__name__
    if kind == "InputLayer":
        flops = 0
    elif in_shape is None:
        flops = None
    else:
        flops = layer_multiply_adds(layer, in_shape, out_shape)
    weights = list(layer.weights)
    row = LayerRow(
        name=prefix + layer.name, type=_describe(layer), depth=depth,
        input_shape=_strip(in_shape) if in_shape is not None else None,
        output_shape=_strip(out_shape) if out_shape is not None else None, memory=memory,
        params=sum(_numel(w) for w in weights),
        trainable=sum(_numel(w) for w in layer.trainable_weights),
        params_without_bias=sum(_numel(w) for w in weights
                                if w.name.rsplit("/", 1)[-1] != "bias"),
        flops=flops, counted=kind not in VIEW_LAYERS,
        itemsize=_itemsize(out_dtype or getattr(layer, "compute_dtype", "float32")))
    rows = [row]
    if hasattr(layer, "sublayer_shapes") and in_shape is not None:
        for sub, sub_in, sub_out in layer.sublayer_shapes(in_shape):
            rows.extend(_rows(sub, [tuple(sub_in)], [tuple(sub_out)], depth=depth + 1,
                              prefix=row.name + "/"))
    elif isinstance(layer, keras.Model):
        for sub in layer.layers:
            sub_in, sub_out, sub_dtype = _node_shapes(sub)
            rows.extend(_rows(sub, sub_in, sub_out, depth=depth + 1, prefix=row.name + "/",
                              out_dtype=sub_dtype))
    return rows


def _node_shapes(layer):
    """Input shapes, output shapes and output dtype of the first call of ``layer``."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return [], [], None
    node = nodes[0]
    ins = [tuple(t.shape) for t in node.input_tensors]
    outs = [tuple(t.shape) for t in node.outputs]
    return ins, outs, (node.outputs[0].dtype if node.outputs else None)


def _describe(layer):
    kind = type(layer).__name__
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    strides = getattr(layer, "strides", None)
    if "Global" in kind or not isinstance(kernel, tuple) or not isinstance(strides, tuple):
        return kind
    patch = "x".join(str(k) for k in kernel)
    stride = "x".join(sorted({str(s) for s in strides}))
    groups = getattr(layer, "groups", 1)
    return f"{kind} {patch}/{stride}" + (f" groups={groups}" if groups > 1 else "")


def _strip(shape):
    """The shape without its batch dimension."""
    return tuple(shape)[1:] if shape is not None else None


def _size(shape):
    if shape is None or any(d is None for d in shape):
        return None
    return math.prod(shape)


def _numel(variable):
    return math.prod(variable.shape)


def _channels(layer, input_shape):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return input_shape[1]
    return input_shape[-1]


def _itemsize(dtype):
    name = getattr(dtype, "name", dtype)
    name = str(name)
    for bits in ("64", "32", "16", "8"):
        if name.endswith(bits):
            return int(bits) // 8
    return 4


def _shape_str(shape):
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape)


def _count(n):
    return "?" if n is None else f"{n:,}"
