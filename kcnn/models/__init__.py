"""Model families. Importing this package registers every network."""

import importlib

FAMILIES = ("lenet", "alexnet", "vgg", "googlenet", "resnet", "alphago", "convnet")

for _family in FAMILIES:
    try:
        importlib.import_module(f"kcnn.models.{_family}")
    except ModuleNotFoundError as e:  # a family module not written yet
        if e.name != f"kcnn.models.{_family}":
            raise
