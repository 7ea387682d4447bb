"""Model families, one module each. Importing this package registers every network.

Each family module registers its networks with :func:`kcnn.registry.register_model` when
imported; a family is added here with one import line (a misspelt or broken family module
fails ``import kcnn`` loudly).
"""

from kcnn.models import alexnet, alphago, convnet, googlenet, lenet, resnet, vgg

FAMILIES = ("lenet", "alexnet", "vgg", "googlenet", "resnet", "alphago", "convnet")

__all__ = ["FAMILIES", "lenet", "alexnet", "vgg", "googlenet", "resnet", "alphago",
           "convnet"]
