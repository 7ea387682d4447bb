"""AlexNet: the layer shapes of the lecture table (seeds 000/001), per-layer parameter
arithmetic, LRN placement, initialization, the precision/XLA matrix on a narrow
configuration, and every bad argument."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn
from kcnn.layers import LocalResponseNormalization
from tests.helpers import TOLERANCE
from tests.narrow_training import train_changes_weights

# The table of seeds 000/001 ("Full (simplified) AlexNet architecture"), 227x227x3 input.
TABLE = {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256),
         "pool2": (13, 13, 256), "conv3": (13, 13, 384), "conv4": (13, 13, 384),
         "conv5": (13, 13, 256), "pool5": (6, 6, 256), "fc6": (4096,), "fc7": (4096,),
         "predictions": (1000,)}

NARROW = dict(filters=(8, 16, 16, 16, 8), fc_units=16, input_shape=(67, 67, 3),
              num_classes=5, groups=2)


def conv_params(k, cin, cout, groups=1):
    return k * k * (cin // groups) * cout + cout


@pytest.fixture(scope="module")
def one_tower():
    return kcnn.build("alexnet")


@pytest.fixture(scope="module")
def caffenet_two_towers():
    return kcnn.build("alexnet", groups=2, lrn="caffenet")


def shapes(model):
    return {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}


def test_layer_shapes_are_the_tables(one_tower, caffenet_two_towers):
    for model in (one_tower, caffenet_two_towers):
        got = shapes(model)
        assert {name: got[name] for name in TABLE} == TABLE
        assert got["image"] == (227, 227, 3)


def test_paper_order_normalizes_before_pooling(one_tower):
    names = [layer.name for layer in one_tower.layers]
    assert names[:7] == ["image", "conv1", "norm1", "pool1", "conv2", "norm2", "pool2"]
    assert shapes(one_tower)["norm1"] == (55, 55, 96)
    assert one_tower.get_layer("conv1").activation is keras.activations.relu
    norm = one_tower.get_layer("norm1")
    assert isinstance(norm, LocalResponseNormalization)
    # section 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75, alpha not divided by n
    assert (norm.k, norm.size, norm.alpha, norm.beta, norm.convention) == \
        (2.0, 5, 1e-4, 0.75, "paper")


def test_caffenet_order_pools_then_normalizes_as_the_lecture_table(caffenet_two_towers):
    names = [layer.name for layer in caffenet_two_towers.layers]
    assert names[:7] == ["image", "conv1", "pool1", "norm1", "conv2", "pool2", "norm2"]
    # "[27x27x96] NORM1", "[13x13x256] NORM2"
    assert shapes(caffenet_two_towers)["norm1"] == (27, 27, 96)
    assert shapes(caffenet_two_towers)["norm2"] == (13, 13, 256)


def test_per_layer_parameters_by_arithmetic(one_tower, caffenet_two_towers):
    one = {"conv1": conv_params(11, 3, 96), "conv2": conv_params(5, 96, 256),
           "conv3": conv_params(3, 256, 384), "conv4": conv_params(3, 384, 384),
           "conv5": conv_params(3, 384, 256), "fc6": 6 * 6 * 256 * 4096 + 4096,
           "fc7": 4096 * 4096 + 4096, "predictions": 4096 * 1000 + 1000}
    # the paper's two GPUs: conv2, conv4, conv5 see half of the previous layer's maps
    two = {**one, "conv2": conv_params(5, 96, 256, 2), "conv4": conv_params(3, 384, 384, 2),
           "conv5": conv_params(3, 384, 256, 2)}
    assert sum(one.values()) == 62_378_344 and sum(two.values()) == 60_965_224
    for model, expected in ((one_tower, one), (caffenet_two_towers, two)):
        assert {n: model.get_layer(n).count_params() for n in expected} == expected
    assert caffenet_two_towers.get_layer("conv2").kernel.shape == (5, 5, 48, 256)
    assert caffenet_two_towers.get_layer("conv3").groups == 1  # conv3 sees both towers


def test_dropout_on_fc6_and_fc7(one_tower):
    names = [layer.name for layer in one_tower.layers]
    assert names[-6:] == ["flatten", "fc6", "fc6_dropout", "fc7", "fc7_dropout",
                          "predictions"]
    assert one_tower.get_layer("fc6_dropout").rate == 0.5
    no_dropout = kcnn.build("alexnet", **{**NARROW, "groups": 1}, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)


def test_without_lrn_and_feature_outputs():
    model = kcnn.build("alexnet", **NARROW, lrn=None)
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    features = kcnn.build("alexnet", **NARROW, include_top=False, pooling="max")
    assert features.output_shape == (None, 8)
    assert kcnn.build("alexnet", **NARROW, include_top=False).output_shape == (None, 1, 1, 8)
    logits = kcnn.build("alexnet", **NARROW, classifier_activation=None)
    x = np.random.default_rng(0).uniform(0, 255, (2, 67, 67, 3)).astype("float32")
    assert not np.allclose(np.sum(np.asarray(logits(x)), axis=-1), 1.0)


def test_paper_initialization():
    """Section 5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7; else 0."""
    model = kcnn.build("alexnet", **{**NARROW, "fc_units": 512})
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        np.testing.assert_array_equal(np.asarray(model.get_layer(name).bias), 1.0)
    for name in ("conv1", "conv3", "predictions"):
        np.testing.assert_array_equal(np.asarray(model.get_layer(name).bias), 0.0)
    kernel = np.asarray(model.get_layer("fc7").kernel)
    assert abs(kernel.std() - 0.01) < 0.001 and abs(kernel.mean()) < 0.001
    glorot = kcnn.build("alexnet", **NARROW, initialization="glorot")
    np.testing.assert_array_equal(np.asarray(glorot.get_layer("conv2").bias), 0.0)


def test_narrow_network_under_policy_with_and_without_xla(policy):
    model = kcnn.build("alexnet", **NARROW)
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    assert model.get_layer("conv2").compute_dtype == compute
    assert model.get_layer("norm1").compute_dtype == compute
    x = np.random.default_rng(0).uniform(0, 1, (4, 67, 67, 3)).astype("float32")
    eager = np.asarray(model(x, training=False))
    assert eager.dtype == np.float32 and eager.shape == (4, 5)
    assert np.all(np.isfinite(eager))
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    np.testing.assert_allclose(np.asarray(xla), eager, atol=TOLERANCE[policy])


def test_narrow_network_training_step_under_mixed_float16():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    model = kcnn.build("alexnet", **NARROW)
    x = np.random.default_rng(0).uniform(0, 1, (4, 67, 67, 3)).astype("float32")
    train_changes_weights(model, x, np.array([0, 1, 2, 3]))


@pytest.mark.slow
def test_narrow_network_trains_under_xla_in_mixed_float16():
    """An XLA training step in float16, where tf.nn.local_response_normalization fails;
    the XLA forward pass under every policy is checked above."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    model = kcnn.build("alexnet", **NARROW)
    x = np.random.default_rng(0).uniform(0, 1, (4, 67, 67, 3)).astype("float32")
    train_changes_weights(model, x, np.array([0, 1, 2, 3]), jit=True)


BAD_ARGUMENTS = [
    ({"input_shape": (66, 66, 3)}, ValueError, "minimum size is 67x67"),
    ({"input_shape": (None, None, 3)}, ValueError, "fixed height and width"),
    ({"groups": 3}, ValueError, "divisible by `groups`"),
    ({"groups": 0}, ValueError, "`groups`"),
    ({"lrn": "before_pool"}, ValueError, "`lrn` must be one of"),
    ({"filters": (96, 256, 384, 256)}, ValueError, "`filters` must have 5 entries"),
    ({"fc_units": 0}, ValueError, "`fc_units`"),
    ({"initialization": "he"}, ValueError, "`initialization` must be one of"),
    ({"pooling": "sum", "include_top": False}, ValueError, "`pooling` must be one of"),
    ({"num_classes": 0}, ValueError, "`num_classes`"),
    ({"dropout": 1.0}, ValueError, "`dropout`"),
    ({"classifier_activation": "softmaxx"}, ValueError, "classifier_activation"),
    ({"include_top": "yes"}, TypeError, "`include_top` must be True or False"),
]


def test_bad_arguments():
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match) as info:
            kcnn.build("alexnet", **kwargs)
        assert "Received:" in str(info.value), kwargs


def test_lrn_constant_and_convention_reach_both_lrn_layers():
    """bvlc_alexnet's LRN: k = 1 and alpha / n (Caffe), against the numpy formula."""
    model = kcnn.build("alexnet", lrn_k=1.0, lrn_convention="caffe", **NARROW)
    x = np.random.default_rng(0).uniform(0, 3, (1, 5, 5, 8)).astype("float32")
    for name in ("norm1", "norm2"):
        layer = model.get_layer(name)
        assert (layer.k, layer.convention, layer.size, layer.alpha) == (1.0, "caffe", 5, 1e-4)
    padded = np.pad(x ** 2, [(0, 0)] * 3 + [(2, 2)])
    window = sum(padded[..., i:i + 8] for i in range(5))
    expected = x / (1.0 + 1e-4 / 5 * window) ** 0.75
    np.testing.assert_allclose(np.asarray(model.get_layer("norm1")(x)), expected, rtol=1e-6)
    for kwargs, error, match in [({"lrn_k": 0.0}, ValueError, "lrn_k"),
                                 ({"lrn_convention": "torch"}, ValueError, "lrn_convention"),
                                 ({"lrn": None, "lrn_k": 1.0}, ValueError, "lrn=None")]:
        with pytest.raises(error, match=f"{match}(.|\n)*Received"):
            kcnn.build("alexnet", **kwargs)
