"""Keras layers the classic papers need and Keras 3 lacks.

Every layer is registered with ``keras.saving.register_keras_serializable(package="kcnn")``,
written with ``keras.ops``, and runs under float32, mixed_float16, mixed_bfloat16 and XLA.
"""

import importlib

_MODULES = ("lenet", "normalization", "inception", "residual", "position_bias", "activations",
            "pooling", "augmentation")
__all__ = []

for _module in _MODULES:
    try:
        _m = importlib.import_module(f"kcnn.layers.{_module}")
    except ModuleNotFoundError as e:  # a layer module not written yet
        if e.name != f"kcnn.layers.{_module}":
            raise
        continue
    for _name in getattr(_m, "__all__", ()):
        globals()[_name] = getattr(_m, _name)
        __all__.append(_name)

from kcnn import activations as _activations  # noqa: E402

_activations.CUSTOM.setdefault("lecun_tanh", globals()["lecun_tanh"])
