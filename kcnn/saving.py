"""Loading ``.keras`` files that hold kcnn's layers, initializers, schedules or optimizers.

A ``.keras`` file records each object by its registered name (``kcnn>BasicBlock``,
``kcnn>HeGaussian``); Keras finds those classes only once kcnn has registered them, which
``import kcnn`` does. Without it ``keras.saving.load_model`` fails with a generic "could not
be deserialized" error. ``kcnn.load_model(path)`` registers everything first, and when a file
still names classes nobody registered it lists them.

Models made by ``kcnn.inference.optimize_for_inference`` from networks of plain Keras layers
(ResNet's residual blocks are unrolled) save with Keras's built-in initializers and load with
``keras.saving.load_model`` alone; ``kcnn_names(path)`` tells whether a file needs kcnn.
"""

from __future__ import annotations

import json
import os
import zipfile

__all__ = ["kcnn_names", "load_model", "registered_names"]


def _register_all():
    """Imports every kcnn module that registers serializable classes."""
    import importlib

    for module in ("kcnn.activations", "kcnn.initializers", "kcnn.layers", "kcnn.losses",
                   "kcnn.optimizers", "kcnn.schedules", "kcnn.models"):
        importlib.import_module(module)


def registered_names(path):
    """The sorted registered names (``package>Class``) a ``.keras`` file refers to.

    Reads the file's ``config.json`` without building anything; Keras's own classes have
    no registered name and are not listed.

    Raises:
        ValueError: ``path`` is not a ``.keras`` archive.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a .keras model file (a zip archive with config.json; "
                         f"{type(error).__name__}: {error}). Received: path={path!r}") from None
    names = set()

    def visit(node):
        if isinstance(node, dict):
            name = node.get("registered_name")
            if isinstance(name, str) and ">" in name:
                names.add(name)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return sorted(names)


def kcnn_names(path):
    """The kcnn classes (``kcnn>...``) a ``.keras`` file needs; empty when plain Keras
    loads it."""
    return [name for name in registered_names(path) if name.startswith("kcnn>")]


def load_model(path, *, custom_objects=None, compile=True, safe_mode=True):
    """``keras.saving.load_model`` for files holding kcnn objects (no ``import kcnn``
    needed first).

    Args:
        path: a ``.keras`` file (a run folder's ``model.keras``, a saved kcnn model).
        custom_objects: your own classes the file uses, by name (as in Keras).
        compile: whether to restore the optimizer, loss and metrics.
        safe_mode: as in ``keras.saving.load_model`` (refuses lambda deserialization).

    Returns:
        The ``keras.Model``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file names classes that neither Keras, kcnn nor ``custom_objects``
            provide (they are listed).
    """
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path}. Received: path={path!r}")
    _register_all()
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=compile,
                                       safe_mode=safe_mode)
    except (TypeError, ValueError) as error:
        given = set(custom_objects or {})
        unknown = [name for name in _unregistered(path) if name not in given]
        if not unknown:
            raise
        raise ValueError(
            f"{path} uses classes that neither Keras nor kcnn registers: "
            f"{', '.join(unknown)}. Import the module that defines them before loading, or "
            f"pass them by their registered names: custom_objects={{{unknown[0]!r}: cls, "
            f"...}}. Received: path={path!r}") from error


def _unregistered(path):
    import keras

    missing = []
    for name in registered_names(path):
        if keras.saving.get_registered_object(name) is None:
            missing.append(name)
    return missing
