"""Keras layers the classic papers need and Keras 3 lacks.

Every layer is registered with ``keras.saving.register_keras_serializable(package="kcnn")``,
written with ``keras.ops``, and runs under float32, mixed_float16, mixed_bfloat16 and XLA.
Importing this package registers them all (``import kcnn`` does), so a ``.keras`` file
holding them loads. Activation *functions* (``lecun_tanh``, ``centered_softplus``,
``vrelu``) are in :mod:`kcnn.activations`.
"""

from kcnn.layers.activation_layers import APL, Maxout, RReLU
from kcnn.layers.augmentation import (CropAndFlip, PCAColorAugmentation, compute_rgb_pca,
                                      ten_crop, ten_crop_predict)
from kcnn.layers.inception import InceptionModule
from kcnn.layers.lenet import LENET5_C3_TABLE, EuclideanRBF, PartialConv2D, Subsampling2D
from kcnn.layers.normalization import LocalResponseNormalization
from kcnn.layers.pooling import L2Pooling2D, MaxAveragePooling2D
from kcnn.layers.position_bias import PositionBias
from kcnn.layers.residual import SHORTCUTS, BasicBlock, BottleneckBlock, ZeroPaddedIdentity

__all__ = ["Subsampling2D", "PartialConv2D", "EuclideanRBF", "LENET5_C3_TABLE",
           "LocalResponseNormalization", "InceptionModule", "BasicBlock", "BottleneckBlock",
           "ZeroPaddedIdentity", "SHORTCUTS", "PositionBias", "APL", "RReLU", "Maxout",
           "L2Pooling2D", "MaxAveragePooling2D", "CropAndFlip", "PCAColorAugmentation",
           "compute_rgb_pca", "ten_crop", "ten_crop_predict"]
