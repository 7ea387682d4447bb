"""kcnn: the classic convolutional networks, paper-faithful, in Keras 3.

    >>> import kcnn
    >>> model = kcnn.build("resnet152", num_classes=10, input_shape=(224, 224, 3))
    >>> kcnn.list_models("resnet*")
    ['resnet18', 'resnet20', 'resnet32', ...]
    >>> print(kcnn.summary("vgg16"))

``import kcnn`` loads Keras and the modules that register kcnn's layers, schedules, losses and
optimizers (so a ``.keras`` file using them loads afterwards). On Keras's TensorFlow backend
TensorFlow loads with its start-up notices filtered (:mod:`kcnn._console`); on JAX or PyTorch
TensorFlow is not imported until a part that needs it is used (tf.data pipelines in
``kcnn.data``/``kcnn.training``/``kcnn.tuning``, ``tf.distribute``, ``kcnn.go`` datasets).
Subpackages and the functions listed in ``_LAZY_FUNCTIONS`` load on first use.
"""

import importlib

from kcnn import _console

__version__ = "0.1.0"

_console.quiet_tensorflow_start()

# importing these registers every layer, schedule, loss and optimizer class with Keras, so a
# .keras file that uses them loads after a plain `import kcnn`
from kcnn import geometry, layers, losses, models, optimizers, preprocessing, schedules  # noqa: F401,E402
from kcnn.registry import (ModelSpec, build, get_spec, list_models,  # noqa: E402
                           register_model, unregister_model)

# name -> module defining it; loaded on first access (one line per function)
_LAZY_FUNCTIONS = {
    "summary": "kcnn.analysis",
    "feature_extractor": "kcnn.features",
    "load_model": "kcnn.saving",
}
_LAZY_MODULES = ("activations", "analysis", "bench", "data", "export", "features", "go",
                 "imagenet", "inference", "saving", "training", "tuning", "visualize",
                 "weights")

__all__ = ["ModelSpec", "build", "get_spec", "list_models", "register_model",
           "unregister_model", "summary", "feature_extractor", "load_model", "geometry",
           "layers", "losses", "models", "optimizers", "preprocessing", "schedules",
           "__version__"]


def __getattr__(name):
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"kcnn.{name}")
    raise AttributeError(f"module 'kcnn' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY_FUNCTIONS, *_LAZY_MODULES})
