"""kcnn: the classic convolutional networks, paper-faithful, in Keras 3.

    >>> import kcnn
    >>> model = kcnn.build("resnet152", num_classes=10, input_shape=(224, 224, 3))
    >>> kcnn.list_models("resnet*")
    ['resnet18', 'resnet20', 'resnet32', ...]
    >>> kcnn.summary("vgg16")

Subpackages that pull in heavier dependencies (``kcnn.go``, ``kcnn.tuning``,
``kcnn.training``, ``kcnn.schedules``) load on first use.
"""

import importlib

__version__ = "0.1.0"

# importing these registers every layer, schedule, loss and optimizer class with Keras, so a
# .keras file that uses them loads after a plain `import kcnn`
from kcnn import geometry, layers, losses, models, optimizers, preprocessing, schedules  # noqa: F401,E402
from kcnn.registry import (ModelSpec, build, get_spec, list_models,  # noqa: E402
                           register_model, unregister_model)

_LAZY_FUNCTIONS = {"summary": "kcnn.analysis", "feature_extractor": "kcnn.features"}
_LAZY_MODULES = ("activations", "analysis", "bench", "data", "features", "go", "inference",
                 "training", "tuning", "weights")

__all__ = ["ModelSpec", "build", "get_spec", "list_models", "register_model",
           "unregister_model", "summary", "feature_extractor", "geometry", "layers", "losses",
           "models", "optimizers", "preprocessing", "schedules", "__version__"]


def __getattr__(name):
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"kcnn.{name}")
    raise AttributeError(f"module 'kcnn' has no attribute {name!r}")
