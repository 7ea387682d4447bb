"""Named intermediate outputs of a network as a model (keras-hub's "pyramid outputs").

    >>> extractor = kcnn.feature_extractor("resnet50", include_top=False)
    >>> features = extractor(images)      # {"conv2_block3": ..., "conv5_block3": ...}

By default the layers are the spec's ``feature_layers`` (for ResNet the last block of each
stage, 4x, 8x, 16x and 32x below the input size). Any layer of the model's graph can be asked
for by name; the sublayers inside a block (``1_conv`` of ``conv2_block1``) are not nodes of
the graph, the block's output is.
"""

from __future__ import annotations

import difflib

import keras

__all__ = ["feature_extractor"]


def _check_layers(layers):
    if isinstance(layers, str):
        layers = (layers,)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError("`layers` must be a non-empty list of layer names. "
                        f"Received: layers={layers!r}")
    for layer in layers:
        if not isinstance(layer, str):
            raise TypeError(f"`layers` must contain layer names (strings). "
                            f"Received: layers={layers!r}")
    duplicates = sorted({n for n in layers if list(layers).count(n) > 1})
    if duplicates:
        raise ValueError(f"`layers` names {', '.join(map(repr, duplicates))} more than once. "
                         f"Received: layers={layers!r}")
    return tuple(layers)


def _default_layers(model):
    """The spec's feature layers when ``model`` carries a registered name and has them."""
    from kcnn.registry import _REGISTRY

    spec = _REGISTRY.get(model.name.lower())
    if spec is None or not spec.feature_layers:
        return None
    names = {layer.name for layer in model.layers}
    return spec.feature_layers if set(spec.feature_layers) <= names else None


def feature_extractor(model_or_name, layers=None, **build_kwargs):
    """A model whose outputs are a dict ``{layer_name: output}`` of named layers.

    Args:
        model_or_name: a registered network name (built with ``build_kwargs``) or a
            functional ``keras.Model``.
        layers: names of the layers whose outputs to return. Default: the spec's
            ``feature_layers`` (for a model, those of the registered network of the same
            name, when the model has them).
        **build_kwargs: builder arguments when ``model_or_name`` is a name, e.g.
            ``input_shape=(None, None, 3)``, ``include_top=False``.

    Returns:
        A ``keras.Model`` named ``{model.name}_features`` with the original inputs, sharing
        the original model's layers and weights.

    Raises:
        ValueError: for an unknown layer name (listing the model's layers), a network
            without default feature layers when ``layers`` is None, or a model with
            several outputs for a requested layer.
        TypeError: for ``build_kwargs`` given with a model, or ``layers`` that are not
            names.
    """
    from kcnn.registry import get_spec

    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        model = spec.build(**build_kwargs)
        if layers is None:
            if not spec.feature_layers:
                raise ValueError(f"{spec.name!r} has no default feature layers; pass "
                                 f"`layers=`. Received: layers=None")
            layers = spec.feature_layers
            missing = [n for n in layers if n not in {layer.name for layer in model.layers}]
            if missing:
                raise ValueError(f"The default feature layers of {spec.name!r} "
                                 f"({', '.join(missing)} missing) are not in the network "
                                 f"built with {build_kwargs}: pass `layers=`, names among "
                                 f"{[layer.name for layer in model.layers]}. "
                                 "Received: layers=None")
    elif isinstance(model_or_name, keras.Model):
        model = model_or_name
        if build_kwargs:
            raise TypeError("Builder arguments apply only when `model_or_name` is a "
                            f"registered name. Received: {sorted(build_kwargs)} with a model")
        if layers is None:
            layers = _default_layers(model)
            if layers is None:
                raise ValueError(f"Model {model.name!r} is not a registered network with "
                                 "default feature layers: pass `layers=`, names among "
                                 f"{[layer.name for layer in model.layers]}. "
                                 "Received: layers=None")
    else:
        raise TypeError("`model_or_name` must be a registered model name or a keras.Model. "
                        f"Received: model_or_name={model_or_name!r}")
    layers = _check_layers(layers)

    names = [layer.name for layer in model.layers]
    outputs = {}
    for layer_name in layers:
        if layer_name not in names:
            close = difflib.get_close_matches(layer_name, names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Model {model.name!r} has no layer {layer_name!r}.{hint} "
                             f"Its layers: {', '.join(names)}. "
                             f"Received: layers={list(layers)!r}")
        try:
            outputs[layer_name] = model.get_layer(layer_name).output
        except (AttributeError, ValueError) as e:
            raise ValueError(f"Layer {layer_name!r} of model {model.name!r} has no single "
                             f"output in the model's graph ({e}). "
                             f"Received: layers={list(layers)!r}") from None
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_features")
