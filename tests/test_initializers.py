"""HeGaussian: He et al.'s untruncated N(0, 2 / fan_in), against scipy's normal distribution."""

import keras
import numpy as np
import pytest
from scipy import stats

from kcnn.initializers import HeGaussian


def _sample(shape, seed=0, dtype=None):
    return np.asarray(keras.ops.convert_to_numpy(HeGaussian(seed=seed)(shape, dtype=dtype)),
                      dtype="float64")


@pytest.mark.parametrize("shape, fan_in", [((3, 3, 64, 128), 576), ((7, 7, 3, 64), 147),
                                           ((512, 1001), 512), ((5, 3, 7, 9), 105)])
def test_samples_follow_the_papers_gaussian(shape, fan_in):
    w = _sample(shape)
    assert w.shape == shape
    std = np.sqrt(2.0 / fan_in)
    # Kolmogorov-Smirnov against N(0, 2 / fan_in), untruncated: fixed seed, so this either
    # always passes or always fails.
    assert stats.kstest(w.ravel(), "norm", args=(0.0, std)).pvalue > 1e-3
    # Unlike Keras's "he_normal" (truncated at 2 std), 4.6% of the samples lie beyond 2 std.
    beyond = np.mean(np.abs(w) > 2 * std)
    assert beyond == pytest.approx(2 * stats.norm.sf(2), abs=0.02 if w.size < 20_000 else 0.005)


def test_keras_he_normal_is_truncated_and_this_is_not():
    w_keras = np.asarray(keras.initializers.HeNormal(seed=0)((3, 3, 64, 128)))
    w_ours = _sample((3, 3, 64, 128))
    std = np.sqrt(2.0 / 576)
    assert np.abs(w_keras).max() <= 2 * std / 0.87962566103423978 + 1e-6
    assert np.abs(w_ours).max() > 3 * std


def test_seeds_dtypes_and_serialization():
    np.testing.assert_array_equal(_sample((4, 4, 8, 8), seed=3), _sample((4, 4, 8, 8), seed=3))
    assert not np.allclose(_sample((4, 4, 8, 8), seed=3), _sample((4, 4, 8, 8), seed=4))
    assert keras.ops.convert_to_numpy(HeGaussian(1)((2, 3), dtype="bfloat16")).dtype.name \
        == "bfloat16"
    init = keras.initializers.get("kcnn>HeGaussian")  # by registered name
    assert isinstance(init, HeGaussian)
    restored = keras.initializers.deserialize(keras.initializers.serialize(HeGaussian(seed=7)))
    assert isinstance(restored, HeGaussian) and restored.get_config() == {"seed": 7}


def test_layers_named_with_it_get_their_own_streams():
    a = keras.layers.Conv2D(8, 3, kernel_initializer="kcnn>HeGaussian")
    b = keras.layers.Conv2D(8, 3, kernel_initializer="kcnn>HeGaussian")
    a.build((None, 8, 8, 4))
    b.build((None, 8, 8, 4))
    assert not np.allclose(a.kernel.numpy(), b.kernel.numpy())


def test_he_gaussian_name_is_the_residual_networks_default():
    import inspect

    from kcnn.initializers import HE_GAUSSIAN
    from kcnn.layers.residual import BasicBlock
    from kcnn.models.resnet import resnet

    assert isinstance(keras.initializers.get(HE_GAUSSIAN), HeGaussian)
    assert inspect.signature(resnet).parameters["kernel_initializer"].default == HE_GAUSSIAN
    assert inspect.signature(BasicBlock).parameters["kernel_initializer"].default == HE_GAUSSIAN
