"""Building a network with ImageNet weights, and converting a downloaded checkpoint once into
kcnn's own ``.weights.h5``.

A converted file records the network, the builder arguments of its variant and the source it
came from as HDF5 attributes (``kcnn_model``, ``kcnn_build_kwargs``, ``kcnn_source``), so
``kcnn predict --weights OUT.weights.h5`` and ``build_pretrained`` rebuild the same variant
and use the source's preprocessing without being told again.
"""

from __future__ import annotations

import json
import os

from kcnn.weights.sources import is_path, merge_variant

__all__ = ["ATTRS", "is_path", "build_pretrained", "converted_info", "convert", "source_of"]

ATTRS = ("kcnn_model", "kcnn_build_kwargs", "kcnn_source")


def converted_info(path):
    """``(model, build_kwargs, source_name)`` recorded in a file written by ``convert``, or
    None for any other file."""
    path = os.fspath(path)
    if not path.endswith(".h5") or not os.path.isfile(path):
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "kcnn_model" not in f.attrs:
                return None
            source = f.attrs.get("kcnn_source", "")
            return (str(f.attrs["kcnn_model"]), json.loads(f.attrs["kcnn_build_kwargs"]),
                    str(source) or None)
    except (OSError, ValueError):
        return None


def _source_by_format(name, path):
    """The first of ``name``'s sources published in the format of the file at ``path``,
    when all such sources share one preprocessing (a torchvision ``.pth`` of vgg16 is
    torchvision's, not keras.applications'); None otherwise."""
    from kcnn.weights.checkpoint import CheckpointError, detect_format
    from kcnn.weights.sources import sources_for

    path = os.fspath(path)
    if not os.path.isfile(path):
        return None
    try:
        fmt = detect_format(path)
    except CheckpointError:
        return None
    fmt = "torch_zip" if fmt == "safetensors" else fmt  # timm's mirrors of torchvision
    found = [s for s in sources_for(name) if s.format == fmt]
    return found[0] if len({s.preprocessing for s in found}) == 1 else None


def source_of(name, weights, source=None):
    """The ``WeightSource`` behind ``weights`` ("imagenet", a source name, or a file: the
    ``source`` given for it, recorded by ``convert``, or told by the file's format), or
    None when unknown."""
    from kcnn.weights.sources import resolve

    if weights is None:
        return None
    if not is_path(weights):
        return resolve(name, weights)
    if source is None:
        info = converted_info(weights)
        source = info[2] if info else None
    return resolve(name, source) if source else _source_by_format(name, weights)


def build_pretrained(name, weights="imagenet", *, source=None, **kwargs):
    """Builds ``name`` with published or local weights.

    Args:
        name: a registered network.
        weights: "imagenet", a source name (``kcnn.weights.sources``) or a file path.
        source: for a file path, the source it came from (its variant is built and its
            preprocessing applies); files written by ``convert`` record it themselves.
        **kwargs: other builder arguments; one contradicting the checkpoint's variant is
            refused.

    Returns:
        ``(model, source)``; ``source`` is the ``WeightSource`` or None when unknown.
    """
    import kcnn
    from kcnn.weights.sources import resolve

    spec = kcnn.get_spec(name)
    if not is_path(weights):
        if source is not None:
            raise ValueError(f"`source` applies to a weights file; {weights!r} already names "
                             f"a source. Received: source={source!r}")
        found = resolve(spec.name, weights)
        return kcnn.build(spec.name, weights=weights, **kwargs), found
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r}. Received: weights={weights!r}")
    info = converted_info(path)
    if info is not None:
        model, recorded, recorded_source = info
        if model != spec.name:
            raise ValueError(f"{path} was converted for {model!r}, not {spec.name!r}. "
                             f"Received: name={name!r}")
        kwargs = merge_variant(recorded, kwargs, what=f"{path} (converted with {recorded})",
                               model=spec.name)
        source = source or recorded_source
    if source is None:
        return kcnn.build(spec.name, weights=path, **kwargs), None
    from kcnn.weights import load_weights

    found = resolve(spec.name, source)
    kwargs = merge_variant(found.variant, kwargs, what=f"the {found.origin} checkpoint "
                           f"{found.name!r}", model=spec.name)
    model = load_weights(kcnn.build(spec.name, **kwargs), path, source=found)
    return model, found


def convert(src, name, output, *, source=None, overwrite=False, **kwargs):
    """Reads checkpoint ``src`` into network ``name`` and writes kcnn's ``.weights.h5``.

    Offline: ``src`` is a local file in any format ``kcnn.weights`` reads. The output is
    written atomically (``kcnn._io.atomic_path``) with the variant recorded.

    Args:
        src: the downloaded checkpoint.
        name: the registered network it is for.
        output: path ending in ``.weights.h5``.
        source: the source ``src`` came from ("keras", "torchvision_v2", ...), giving its
            variant; or pass the variant's builder arguments in ``kwargs``.
        overwrite: replace an existing ``output``.
        **kwargs: builder arguments (e.g. ``stride_in_3x3=True``).

    Returns:
        The model with the weights loaded.

    Raises:
        ValueError: for a bad ``output`` name, an existing ``output`` without
            ``overwrite``, or a checkpoint that does not fit; nothing is written then.
    """
    output = os.fspath(output)
    if not output.endswith(".weights.h5"):
        raise ValueError(f"`output` must end in .weights.h5 (kcnn's own weights format). "
                         f"Received: output={output!r}")
    if os.path.exists(output) and not overwrite:
        raise ValueError(f"{output} exists; pass overwrite=True (--overwrite) to replace it. "
                         f"Received: output={output!r}")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ValueError(f"The folder of `output` does not exist: {folder}. "
                         f"Received: output={output!r}")
    if not os.path.isfile(os.fspath(src)):
        raise FileNotFoundError(f"No checkpoint at {os.fspath(src)!r}. Received: src={src!r}")
    model, found = build_pretrained(name, src, source=source, **kwargs)
    import h5py

    from kcnn._io import atomic_path
    from kcnn.registry import get_spec

    variant = {**(dict(found.variant) if found else {}), **kwargs}
    with atomic_path(output) as tmp:
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["kcnn_model"] = get_spec(name).name
            f.attrs["kcnn_build_kwargs"] = json.dumps(variant, sort_keys=True)
            f.attrs["kcnn_source"] = found.name if found else ""
    return model
