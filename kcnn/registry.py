"""The model registry: names -> builder functions, with each network's metadata.

``register_model`` turns a keyword-only builder into a registered entry point; ``build``
looks a name up (ignoring case) and calls it; ``list_models`` lists names with wildcards in
natural order (``resnet18 < resnet34 < resnet101``).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import inspect
import re
from collections.abc import Callable, Mapping

__all__ = ["ModelSpec", "register_model", "build", "list_models", "get_spec", "unregister_model"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What kcnn knows about a registered network.

    Attributes:
        name: registry name (lower case).
        builder: keyword-only function returning a ``keras.Model``.
        family: family name, e.g. ``"resnet"``.
        paper: reference (arXiv id, DOI or citation).
        input_shape: the paper's input shape.
        params: reference trainable parameter count with ``reference_kwargs`` (and otherwise
            default arguments), or None where no reference exists.
        reference_kwargs: builder arguments under which ``params`` holds, e.g.
            ``{"num_classes": 10}`` for the CIFAR ResNets.
        recipe: name of the training recipe in ``recipes/`` (without ``.py``), if any.
        preprocessing: name of the input preprocessing the paper used
            (see ``kcnn.preprocessing``).
        feature_layers: names of the layers whose outputs ``kcnn.feature_extractor`` returns
            by default (e.g. the last block of each ResNet stage).
        description: one line for ``kcnn list``.
    """

    name: str
    builder: Callable
    family: str
    paper: str
    input_shape: tuple
    params: int | None = None
    reference_kwargs: Mapping = dataclasses.field(default_factory=dict)
    recipe: str | None = None
    preprocessing: str | None = None
    feature_layers: tuple = ()
    description: str = ""

    @property
    def weights(self):
        """The published checkpoints of this network (``kcnn.weights.sources``), the
        default (``weights="imagenet"``) first; empty when none is known."""
        from kcnn.weights.sources import sources_for

        return sources_for(self.name)

    def build(self, **kwargs):
        return self.builder(**kwargs)


_REGISTRY: dict[str, ModelSpec] = {}


def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def register_model(name=None, *, family, paper, input_shape, params=None,
                   reference_kwargs=None, recipe=None, preprocessing=None,
                   feature_layers=(), description=None):
    """Decorator registering a keyword-only builder under ``name``.

    The decorated function keeps working when called directly; the registered entry point
    also accepts ``weights``: "imagenet" or a source name (``ModelSpec.weights``) builds the
    checkpoint's variant and loads the published file, downloaded once; a path loads a
    local file of any format ``kcnn.weights.load_weights`` reads.

    Raises:
        ValueError: if ``name`` is already registered, or the builder takes positional
            arguments.
    """

    def decorator(fn):
        key = (name or fn.__name__).lower()
        if key in _REGISTRY:
            raise ValueError(f"A model named {key!r} is already registered "
                             f"(family {_REGISTRY[key].family!r}). Received: name={key!r}")
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL):
                raise ValueError(f"Builders must be keyword-only; {fn.__name__} takes "
                                 f"positional argument {p.name!r}.")

        @functools.wraps(fn)
        def entry_point(**kwargs):
            _check_data_format(key)
            weights = kwargs.pop("weights", None)
            if weights is None:
                return fn(**kwargs)
            return _build_with_weights(fn, key, weights, kwargs)

        doc = inspect.getdoc(fn) or ""
        _REGISTRY[key] = ModelSpec(
            name=key, builder=entry_point, family=family, paper=paper,
            input_shape=tuple(input_shape), params=params,
            reference_kwargs=dict(reference_kwargs or {}), recipe=recipe,
            preprocessing=preprocessing, feature_layers=tuple(feature_layers),
            description=description or (doc.splitlines()[0] if doc else ""))
        return entry_point

    return decorator


def _check_data_format(name):
    """kcnn's networks are channels-last; refuse Keras's channels-first setting by name."""
    import keras

    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            f"kcnn builds channels-last networks only (inputs of shape (height, width, "
            f"channels)); call keras.config.set_image_data_format('channels_last') before "
            f"building {name!r} (on a GPU, XLA and cuDNN choose a fast layout by "
            f"themselves). Received: keras.config.image_data_format()="
            f"{keras.config.image_data_format()!r}")


def _build_with_weights(fn, key, weights, kwargs):
    """``weights=``: "imagenet" or a source name builds the source's variant and loads its
    (downloaded, cached) file; a path loads that file into the model built as asked."""
    from kcnn.weights import load_weights
    from kcnn.weights.sources import is_path

    if is_path(weights):
        return load_weights(fn(**kwargs), weights)
    if not isinstance(weights, str):
        raise TypeError("`weights` must be None (no pretrained weights), \"imagenet\", a "
                        f"source name or a file path. Received: weights={weights!r}")
    from kcnn.weights.download import fetch
    from kcnn.weights.sources import merge_variant, resolve

    source = resolve(key, weights)
    arguments = merge_variant(source.variant, kwargs, model=key, what=(
        f"weights={weights!r} (the {source.origin} checkpoint {source.name!r} of {key})"))
    model = fn(**arguments)  # bad builder arguments are refused before any download
    path = fetch(source, include_top=kwargs.get("include_top", True))
    return load_weights(model, path, source=source)


def unregister_model(name):
    """Removes ``name`` from the registry (for users' temporary registrations)."""
    _REGISTRY.pop(_lookup_key(name))


def _lookup_key(name):
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string. Received: name={name!r}")
    key = name.lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} "
                         f"`kcnn.list_models()` lists the {len(_REGISTRY)} registered names. "
                         f"Received: name={name!r}")
    return key


def get_spec(name, /) -> ModelSpec:
    """Returns the ``ModelSpec`` of a registered model (case-insensitive)."""
    return _REGISTRY[_lookup_key(name)]


def build(name, /, **kwargs):
    """Builds the registered network ``name`` with the builder's keyword arguments.

    Example:
        >>> model = kcnn.build("resnet152", num_classes=10, input_shape=(224, 224, 3))
    """
    return get_spec(name).builder(**kwargs)


def list_models(pattern=None, *, family=None):
    """Registered names in natural order, optionally filtered by a wildcard ``pattern``
    (``"resnet*"``) and by ``family``."""
    names = list(_REGISTRY)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
    if family is not None:
        names = [n for n in names if _REGISTRY[n].family == family]
    return sorted(names, key=_natural_key)
