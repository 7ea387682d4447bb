"""Weight initializers the papers use and Keras 3 lacks.

``HeGaussian``: the initialization of He, Zhang, Ren and Sun, "Delving Deep into Rectifiers"
(ICCV 2015, arXiv:1502.01852), section 2.2: weights drawn from "a zero-mean Gaussian
distribution whose standard deviation (std) is sqrt(2/n_l)", with ``n_l = k^2 c`` the fan-in
of a ``k x k`` convolution over ``c`` channels. The ResNet paper initializes "as in [13]",
this paper; torchvision's ``kaiming_normal_`` draws the same untruncated Gaussian (on the
fan-out). Keras's ``"he_normal"`` differs: it draws a normal truncated at two standard
deviations (rescaled to the same variance), which takes about 2.5 times as long to sample —
half a second of CPU for ResNet-152's 58 million convolution weights, more than the rest of
building the network costs kcnn over keras.applications.

The samples are exact Gaussians from the Box-Muller transform of uniform numbers (Box and
Muller, 1958): ``z1 = r cos(theta)``, ``z2 = r sin(theta)`` with ``r = sqrt(-2 ln u1)`` and
``theta = 2 pi u2``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["HeGaussian", "HE_GAUSSIAN"]


@keras.saving.register_keras_serializable(package="kcnn")
class HeGaussian(keras.initializers.VarianceScaling):
    """He et al.'s Gaussian initialization, ``N(0, 2 / fan_in)``, untruncated.

    ``fan_in`` is the product of all kernel dimensions but the last (``k * k * c`` for a
    convolution kernel ``(k, k, c, filters)``, the input width of a dense kernel).

    Pass it by name to layers, ``Conv2D(64, 3, kernel_initializer="kcnn>HeGaussian")``, so
    that every layer gets its own instance (and its own random stream).

    Args:
        seed: an int, a ``keras.random.SeedGenerator`` or None (as Keras's initializers).
    """

    def __init__(self, seed=None):
        super().__init__(scale=2.0, mode="fan_in", distribution="untruncated_normal", seed=seed)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        size = math.prod(shape)
        fan_in = math.prod(shape[:-1]) if len(shape) > 1 else max(size, 1)
        stddev = math.sqrt(self.scale / max(fan_in, 1))
        half = (size + 1) // 2
        u = keras.random.uniform((2, half), seed=self.seed, dtype="float32")
        # 1 - u is in (0, 1], so the logarithm is finite.
        radius = ops.sqrt(ops.log1p(-u[0]) * (-2.0 * stddev * stddev))
        theta = u[1] * (2.0 * math.pi)
        z = ops.concatenate([radius * ops.cos(theta), radius * ops.sin(theta)])
        if 2 * half != size:
            z = z[:size]
        return ops.cast(ops.reshape(z, shape), dtype or "float32")

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}


# He et al.'s Gaussian by its registered name: the default convolution initializer of the
# residual blocks and ResNet (a name gives every layer its own instance and random stream).
HE_GAUSSIAN = "kcnn>" + HeGaussian.__name__
