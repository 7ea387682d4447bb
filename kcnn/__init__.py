"""kcnn: the classic convolutional networks, paper-faithful, in Keras 3.

    >>> import kcnn
    >>> model = kcnn.build("resnet152", num_classes=10, input_shape=(224, 224, 3))
    >>> kcnn.list_models("resnet*")
"""

__version__ = "0.1.0"

from kcnn import layers, models  # noqa: F401  (registers layers and networks)
from kcnn.registry import ModelSpec, build, get_spec, list_models, register_model, unregister_model

__all__ = ["ModelSpec", "build", "get_spec", "list_models", "register_model",
           "unregister_model", "layers", "models", "__version__"]
