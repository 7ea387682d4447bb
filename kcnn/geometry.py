"""Convolution geometry: output sizes, and whether a filter "fits" its input exactly.

A filter of size ``F`` moved with stride ``S`` over an input of size ``W`` padded with ``P``
on each side gives ``(W - F + 2P) / S + 1`` outputs (seeds 000/001). When ``S`` does not
divide ``W - F + 2P`` the filter "doesn't fit": a 7 x 7 input with a 3 x 3 filter gives 5
outputs at stride 1 and 3 at stride 2, but ``(7 - 3) / 3 + 1 = 2.33`` at stride 3.
Frameworks floor that number and ignore the last rows and columns, and the classic networks
rely on it (ResNet's 7 x 7 / 2 stem on a 224 + 2 * 3 input gives 112.5 -> 112, its 1 x 1 / 2
projections 56 -> 28.5 -> 28), so kcnn's builders accept such layers; ``conv_output_size``
and ``check_model_geometry`` report them, and ``strict=True`` turns them into errors.

With ``padding="same"`` (Keras/TensorFlow) the output has ``ceil(W / S)`` positions and the
framework pads ``max((out - 1) * S + F - W, 0)`` in total, the smaller half before and the
larger after. An odd total means padding on one side only: the layer does not fit exactly
in the sense above (a symmetric ``P`` would give a fractional output size).

Dilated filters count with their effective size ``d * (F - 1) + 1``.
"""

from __future__ import annotations

import dataclasses
import numbers
from fractions import Fraction

from kcnn._checks import check_bool, check_int

__all__ = ["ConvGeometry", "conv_geometry", "conv_output_size", "fits",
           "check_model_geometry"]


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """One spatial dimension of a convolution or pooling.

    Attributes:
        size: input size ``W``.
        kernel_size: effective filter size ``F`` (dilation included).
        stride: ``S``.
        padding: "valid", "same" or the symmetric padding ``P`` per side.
        pad_before, pad_after: padding on each side actually applied.
        exact: ``(W - F + pad_before + pad_after) / S + 1`` as a fraction.
        output_size: what frameworks produce, ``floor(exact)``.
        fits: whether ``exact`` is a whole number and the padding symmetric.
    """

    size: int
    kernel_size: int
    stride: int
    padding: object
    pad_before: int
    pad_after: int
    exact: Fraction
    output_size: int
    fits: bool

    def explain(self):
        """One line such as ``(7 - 3 + 2*0) / 3 + 1 = 2.33, floored to 2``."""
        pad = (f"{self.pad_before} + {self.pad_after}" if self.pad_before != self.pad_after
               else f"2*{self.pad_before}")
        text = (f"({self.size} - {self.kernel_size} + {pad}) / {self.stride} + 1 = "
                f"{_number(self.exact)}")
        if self.exact.denominator != 1:
            text += f", floored to {self.output_size}"
            unused = (self.size + self.pad_before + self.pad_after - self.kernel_size) \
                % self.stride
            text += (f" ({unused} input row(s)/column(s) at the end never reach a window)")
        if self.pad_before != self.pad_after:
            text += (f"; 'same' pads {self.pad_before} before and {self.pad_after} after "
                     "(asymmetric)")
        return text


def _number(value):
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"


def _same_padding(size, kernel_size, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def conv_geometry(size, kernel_size, stride=1, padding=0, *, dilation=1):
    """The geometry of a convolution or pooling along one dimension.

    Args:
        size: input size ``W`` (>= 1).
        kernel_size: filter size ``F`` (>= 1).
        stride: ``S`` (>= 1).
        padding: an int ``P`` (zeros added on each side), "valid" (``P = 0``) or "same"
            (TensorFlow's ``ceil(W / S)`` outputs).
        dilation: dilation rate ``d``; the filter spans ``d * (F - 1) + 1`` inputs.

    Returns:
        A ``ConvGeometry``.

    Raises:
        ValueError: for invalid arguments, or when the filter is larger than the padded
            input (no output at all).
    """
    size = check_int("size", size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    dilation = check_int("dilation", dilation, minimum=1)
    effective = dilation * (kernel_size - 1) + 1
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError("`padding` must be an integer >= 0, 'valid' or 'same'. "
                             f"Received: padding={padding!r}")
        padding = padding.lower()
        before, after = ((0, 0) if padding == "valid"
                         else _same_padding(size, effective, stride))
    elif isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        before = after = check_int("padding", padding, minimum=0)
        padding = int(padding)
    else:
        raise TypeError("`padding` must be an integer >= 0, 'valid' or 'same'. "
                        f"Received: padding={padding!r}")
    span = size + before + after - effective
    if span < 0:
        raise ValueError(f"The {effective}-wide filter does not fit in the padded input of "
                         f"size {size + before + after}. Received: size={size}, "
                         f"kernel_size={kernel_size}, padding={padding!r}")
    exact = Fraction(span, stride) + 1
    return ConvGeometry(size=size, kernel_size=effective, stride=stride, padding=padding,
                        pad_before=before, pad_after=after, exact=exact,
                        output_size=span // stride + 1,
                        fits=exact.denominator == 1 and before == after)


def conv_output_size(size, kernel_size, stride=1, padding=0, *, dilation=1, strict=False):
    """``floor((W - F + 2P) / S) + 1``, the output size frameworks produce.

    Args:
        size, kernel_size, stride, padding, dilation: as in ``conv_geometry``.
        strict: raise instead of flooring when the filter does not fit exactly.

    Returns:
        The output size (an int).

    Raises:
        ValueError: with ``strict=True``, when the filter does not fit exactly; always, when
            it is larger than the padded input.

    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(7, 3, stride=3)   # (7 - 3) / 3 + 1 = 2.33: doesn't fit
    2
    """
    check_bool("strict", strict)
    geometry = conv_geometry(size, kernel_size, stride, padding, dilation=dilation)
    if strict and not geometry.fits:
        raise ValueError(f"The filter does not fit exactly: {geometry.explain()}. "
                         f"Received: size={size}, kernel_size={kernel_size}, "
                         f"stride={stride}, padding={padding!r}")
    return geometry.output_size


def fits(size, kernel_size, stride=1, padding=0, *, dilation=1):
    """Whether ``(W - F + 2P) / S + 1`` is a whole number (and "same" padding symmetric)."""
    return conv_geometry(size, kernel_size, stride, padding, dilation=dilation).fits


# === Models ===

def _sublayers(model):
    """Every layer inside ``model``, depth first, with its path relative to the model."""
    def walk(layer, prefix):
        children = getattr(layer, "_flatten_layers", None)
        children = (list(children(include_self=False, recursive=False)) if children
                    else list(getattr(layer, "layers", [])))
        for child in children:
            path = f"{prefix}{child.name}"
            yield path, child
            yield from walk(child, path + "/")
    yield from walk(model, "")


def _input_shape(layer):
    """The input shape a layer was built with, or None when unknown."""
    try:
        config = layer.get_build_config() or {}
    except Exception:  # noqa: BLE001 - layers may override get_build_config
        config = {}
    shape = config.get("input_shape")
    if shape is None:
        try:
            shape = tuple(layer.input.shape)
        except (AttributeError, ValueError):
            return None
    if shape is None or not isinstance(shape, (tuple, list)) or len(shape) != 4:
        return None
    return tuple(shape)


def _pair(value):
    if isinstance(value, numbers.Integral):
        return int(value), int(value)
    return tuple(int(v) for v in value)


def _windowed(layer):
    """(kernel, strides, padding, dilation) of a 2D convolution or pooling, else None."""
    kernel = getattr(layer, "kernel_size", None)
    if kernel is None:
        kernel = getattr(layer, "pool_size", None)
    strides, padding = getattr(layer, "strides", None), getattr(layer, "padding", None)
    if kernel is None or strides is None or not isinstance(padding, str):
        return None
    if "transpose" in type(layer).__name__.lower():
        return None
    try:
        kernel, strides = _pair(kernel), _pair(strides)
        dilation = _pair(getattr(layer, "dilation_rate", 1))
    except (TypeError, ValueError):
        return None
    if len(kernel) != 2 or len(strides) != 2 or len(dilation) != 2:
        return None
    return kernel, strides, padding, dilation


def check_model_geometry(model, *, strict=False):
    """Finds the convolution and pooling layers whose windows do not fit their input exactly.

    Walks every 2D convolution and pooling layer of a built model, including those inside
    custom blocks, and checks both spatial dimensions of each with ``conv_geometry``.
    Layers whose input size is unknown (variable-size inputs) are skipped.

    Args:
        model: a built Keras model (or layer).
        strict: raise ``ValueError`` listing every such layer instead of returning them.

    Returns:
        A list of ``(layer_name, message)``, in the order of the model's layers. Layers
        inside a block are named ``"block/sublayer"``, so the top-level layer is
        ``layer_name.split("/")[0]``. Example message:
        ``"7x7/2 'valid' on 230x230: (230 - 7 + 2*0) / 2 + 1 = 112.50, floored to 112
        (1 input row(s)/column(s) at the end never reach a window)"``.
    """
    check_bool("strict", strict)
    found = []
    for path, layer in _sublayers(model):
        window = _windowed(layer)
        if window is None:
            continue
        shape = _input_shape(layer)
        if shape is None:
            continue
        kernel, strides, padding, dilation = window
        channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
        sizes = shape[2:4] if channels_first else shape[1:3]
        if None in sizes:
            continue
        geometries = [conv_geometry(sizes[i], kernel[i], strides[i], padding.lower(),
                                    dilation=dilation[i]) for i in range(2)]
        if all(g.fits for g in geometries):
            continue
        kernel_text = "x".join(str(g.kernel_size) for g in geometries)
        stride_text = (str(strides[0]) if strides[0] == strides[1]
                       else "x".join(map(str, strides)))
        head = f"{kernel_text}/{stride_text} '{padding.lower()}' on {sizes[0]}x{sizes[1]}: "
        if geometries[0] == geometries[1]:
            detail = geometries[0].explain()
        else:
            detail = "; ".join(f"{axis}: {g.explain()}" for axis, g
                               in zip(("height", "width"), geometries) if not g.fits)
        found.append((path, head + detail))
    if strict and found:
        lines = "\n".join(f"  {name}: {message}" for name, message in found)
        raise ValueError(f"{len(found)} layer(s) of {model.name!r} do not fit their input "
                         f"exactly:\n{lines}")
    return found
