import itertools
from fractions import Fraction

import keras
import numpy as np
import pytest

import kcnn
from kcnn.geometry import check_model_geometry, conv_geometry, conv_output_size, fits
from kcnn.layers import L2Pooling2D

# Seed 004's convolution example: a 4x4 input and a 3x3 filter.
SEED_INPUT = np.array([[4, 1, -3, 1], [2, 0, -2, 3], [4, 2, -1, 2], [2, 1, -1, 0]], "float32")
SEED_FILTER = np.array([[2, -1, 2], [-2, 0, 1], [1, 3, 4]], "float32")


def _correlate(x, k, stride=1, pad=(0, 0)):
    """Cross-correlation (what CNN layers compute) of 2D arrays, zero padding (before, after)."""
    x = np.pad(x, [pad, pad])
    n = (x.shape[0] - k.shape[0]) // stride + 1
    return np.array([[np.sum(x[i * stride:i * stride + k.shape[0],
                               j * stride:j * stride + k.shape[1]] * k)
                      for j in range(n)] for i in range(n)])


def _keras_conv(x, k, stride, padding):
    layer = keras.layers.Conv2D(1, k.shape, strides=stride, padding=padding, use_bias=False)
    layer.build((1, *x.shape, 1))
    layer.set_weights([k[:, :, None, None]])
    return keras.ops.convert_to_numpy(layer(x[None, :, :, None]))[0, :, :, 0]


def test_seeds_worked_examples():
    # 7x7 input, 3x3 filter: stride 1 -> 5, stride 2 -> 3, stride 3 -> 2.33 "doesn't fit"
    assert conv_output_size(7, 3, stride=1) == 5 and fits(7, 3, 1)
    assert conv_output_size(7, 3, stride=2) == 3 and fits(7, 3, 2)
    geometry = conv_geometry(7, 3, stride=3)
    assert geometry.exact == Fraction(7, 3) and geometry.output_size == 2 and not geometry.fits
    assert "2.33, floored to 2" in geometry.explain()
    with pytest.raises(ValueError, match="does not fit exactly.*2.33"):
        conv_output_size(7, 3, stride=3, strict=True)
    # AlexNet (seeds 000/001): conv1 (227 - 11)/4 + 1 = 55, pool1 (55 - 3)/2 + 1 = 27,
    # conv2 5x5 pad 2 keeps 27, pool2 -> 13, pool3 -> 6; the paper's 224 does not fit.
    assert conv_output_size(227, 11, 4, strict=True) == 55
    assert conv_output_size(55, 3, 2, strict=True) == 27
    assert conv_output_size(27, 5, 1, 2, strict=True) == 27
    assert conv_output_size(27, 3, 2, strict=True) == 13
    assert conv_output_size(13, 3, 2, strict=True) == 6
    assert conv_geometry(224, 11, 4).exact == Fraction(217, 4) and not fits(224, 11, 4)
    # VGG: 3x3 stride 1 pad 1 keeps the size; 2x2/2 pooling halves it.
    assert conv_output_size(224, 3, 1, 1, strict=True) == 224
    assert conv_output_size(224, 2, 2, strict=True) == 112
    # ResNet's stem and 1x1/2 projections rely on flooring.
    assert conv_output_size(224, 7, 2, 3) == 112 and not fits(224, 7, 2, 3)
    assert conv_output_size(56, 1, 2) == 28 and not fits(56, 1, 2)


def test_seed_004_convolution_computed_rather_than_copied():
    # The slides' own numbers ([[1, 5], [-8, 4]]) do not follow from their input and filter.
    valid = _correlate(SEED_INPUT, SEED_FILTER)
    np.testing.assert_array_equal(valid, [[1, 17], [-8, 4]])
    np.testing.assert_allclose(_keras_conv(SEED_INPUT, SEED_FILTER, 1, "valid"), valid)
    assert conv_output_size(4, 3, 1, "valid") == valid.shape[0]
    # "same" at stride 2: TensorFlow pads 0 rows before and 1 after, as the slide draws it.
    same = conv_geometry(4, 3, 2, "same")
    assert (same.output_size, same.pad_before, same.pad_after, same.fits) == (2, 0, 1, False)
    np.testing.assert_allclose(_keras_conv(SEED_INPUT, SEED_FILTER, 2, "same"),
                               _correlate(SEED_INPUT, SEED_FILTER, 2, (0, 1)))


def test_output_sizes_match_keras_and_fit_means_the_last_window_ends_the_input():
    for size, kernel, stride, dilation in itertools.product((5, 8, 9), (1, 2, 3), (1, 2, 3),
                                                            (1, 2)):
        effective = dilation * (kernel - 1) + 1
        for padding in ("valid", "same", 0, 1, 2):
            if dilation > 1 and stride > 1:
                continue  # Keras refuses dilation with strides
            pad = padding if isinstance(padding, int) else 0
            if size + 2 * pad < effective:
                continue
            layer = keras.layers.Conv2D(1, kernel, strides=stride, dilation_rate=dilation,
                                        padding="same" if padding == "same" else "valid")
            keras_size = layer.compute_output_shape((1, size + 2 * pad, size + 2 * pad, 1))[1]
            g = conv_geometry(size, kernel, stride, padding, dilation=dilation)
            assert g.output_size == keras_size, (size, kernel, stride, padding, dilation)
            last_end = (g.output_size - 1) * stride + effective
            assert g.fits == (last_end == size + g.pad_before + g.pad_after
                              and g.pad_before == g.pad_after)


def test_bad_arguments():
    with pytest.raises(ValueError, match="does not fit in the padded input of size 4"):
        conv_output_size(4, 5)
    with pytest.raises(ValueError, match="Received: padding='full'"):
        conv_output_size(4, 3, padding="full")
    with pytest.raises(TypeError, match="Received: padding=1.5"):
        conv_output_size(4, 3, padding=1.5)
    with pytest.raises(ValueError, match="Received: stride=0"):
        conv_output_size(4, 3, stride=0)
    with pytest.raises(TypeError, match="Received: size=True"):
        conv_output_size(True, 1)


class _Projection(keras.layers.Layer):
    """A block whose sublayer is a ResNet-style 1x1/2 projection."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 1, strides=2, name="0_conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return self.conv(x)


def _resnet_like(size):
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(4, 7, strides=2, name="conv1_conv")(x)
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(x)          # fits
    x = _Projection(name="conv3_block1")(x)
    x = L2Pooling2D(3, strides=2, name="l2_pool")(x)
    return keras.Model(inputs, x)


def test_model_walk_reports_the_layers_that_floor():
    report = dict(check_model_geometry(_resnet_like(224)))
    assert list(report) == ["conv1_conv", "pool1", "conv3_block1/0_conv", "l2_pool"]
    assert report["conv1_conv"].startswith("7x7/2 'valid' on 230x230: ")
    assert "112.50, floored to 112" in report["conv1_conv"]
    assert "pads 0 before and 1 after" in report["pool1"]
    assert "1x1/2 'valid' on 56x56" in report["conv3_block1/0_conv"]
    assert "(28 - 3 + 2*0) / 2 + 1 = 13.50" in report["l2_pool"]

    with pytest.raises(ValueError, match="(?s)4 layer.*conv1_conv.*l2_pool"):
        check_model_geometry(_resnet_like(224), strict=True)

    # A 229 input fits the stem: (229 + 6 - 7)/2 + 1 = 115; a variable size is not checked.
    assert "conv1_conv" not in dict(check_model_geometry(_resnet_like(229)))
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, strides=2)(inputs))
    assert check_model_geometry(model) == []
    # LeNet-5: 32 -> 28 -> 14 -> 10 -> 5 -> 1, every window fits.
    assert check_model_geometry(kcnn.build("lenet5_modern")) == []
