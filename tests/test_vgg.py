"""VGG: parameter counts of configurations A/B/D/E by arithmetic, layer names and shapes
against keras.applications, the BN variants, the precision/XLA matrix on a narrow
configuration, and every bad argument. (VGG-16's per-layer table is in test_analysis.py.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn
from kcnn.models.vgg import vgg
from tests.helpers import TOLERANCE
from tests.narrow_training import train_changes_weights

# Table 1 of the paper: 3x3 convolutions per block.
CONVS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
NARROW = dict(filters=(4, 8, 8, 16, 16), fc_units=16, input_shape=(32, 32, 3), num_classes=5)


def vgg_params(depth, *, filters=(64, 128, 256, 512, 512), fc=4096, classes=1000, size=224,
               batch_norm=False):
    """(trainable, non-trainable) by arithmetic: 3x3 convs (bias, or BN gamma/beta with
    moving mean/variance), then fc1 on (size/32)^2 * filters[-1] inputs, fc2, classifier."""
    trainable = non_trainable = 0
    cin = 3
    for convs, width in zip(CONVS[depth], filters):
        for _ in range(convs):
            trainable += 9 * cin * width + (2 * width if batch_norm else width)
            non_trainable += 2 * width if batch_norm else 0
            cin = width
    flat = (size // 32) ** 2 * filters[-1]
    trainable += flat * fc + fc + fc * fc + fc + fc * classes + classes
    return trainable, non_trainable


def counts(model):
    t = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    n = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return t, n


def test_arithmetic_gives_the_reference_counts():
    # shared/reference.md: torchvision / keras.applications, and bias-free BN variants
    assert [vgg_params(d)[0] for d in (11, 13, 16, 19)] == [
        132_863_336, 133_047_848, 138_357_544, 143_667_240]
    assert [vgg_params(d, batch_norm=True)[0] for d in (11, 13, 16, 19)] == [
        132_866_088, 133_050_792, 138_361_768, 143_672_744]


def test_narrow_counts_follow_the_arithmetic():
    for depth in (11, 13, 16, 19):
        for batch_norm in (False, True):
            name = f"vgg{depth}" + ("_bn" if batch_norm else "")
            model = kcnn.build(name, **{**NARROW, "input_shape": (64, 64, 3)})
            assert model.name == name
            assert counts(model) == vgg_params(depth, filters=NARROW["filters"], fc=16,
                                               classes=5, size=64, batch_norm=batch_norm)


@pytest.mark.parametrize("depth, application", [(16, "VGG16"), (19, "VGG19")])
def test_features_match_keras_applications(depth, application):
    """Same layer names, shapes and weights as keras.applications (include_top=False)."""
    reference = getattr(keras.applications, application)(
        weights=None, include_top=False, input_shape=(32, 32, 3))
    ours = kcnn.build(f"vgg{depth}", include_top=False, input_shape=(32, 32, 3))
    assert [layer.name for layer in ours.layers[1:]] == \
        [layer.name for layer in reference.layers[1:]]
    for a, b in zip(ours.layers, reference.layers):
        assert a.output.shape == b.output.shape, a.name
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], a.name
    assert ours.count_params() == reference.count_params()


def test_top_names_dropout_and_pooling():
    model = kcnn.build("vgg16", **NARROW)
    assert [layer.name for layer in model.layers[-6:]] == [
        "flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
    assert model.get_layer("fc1_dropout").rate == 0.5  # section 3.1
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    no_dropout = kcnn.build("vgg16", **NARROW, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)
    pooled = kcnn.build("vgg11", **NARROW, include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 16)
    variable = kcnn.build("vgg11", **{**NARROW, "input_shape": (None, None, 3)},
                          include_top=False)
    assert variable.output_shape == (None, None, None, 16)
    assert variable(np.zeros((1, 64, 96, 3), "float32")).shape == (1, 2, 3, 16)


def test_batch_norm_variant_has_bias_free_convolutions_before_bn():
    model = kcnn.build("vgg11_bn", **NARROW)
    names = [layer.name for layer in model.layers]
    assert names[1:5] == ["block1_conv1", "block1_conv1_bn", "block1_conv1_relu",
                          "block1_pool"]
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 8 and not any(c.use_bias for c in convs)
    assert all(isinstance(model.get_layer(c.name + "_bn"), keras.layers.BatchNormalization)
               for c in convs)
    plain = kcnn.build("vgg11", **NARROW)
    assert all(l.use_bias and l.activation is keras.activations.relu
               for l in plain.layers if isinstance(l, keras.layers.Conv2D))


def test_narrow_network_under_policy_with_and_without_xla(policy):
    model = kcnn.build("vgg11_bn", **NARROW)
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    assert model.get_layer("block3_conv2").compute_dtype == compute
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    eager = np.asarray(model(x, training=False))
    assert eager.dtype == np.float32 and eager.shape == (4, 5)
    assert np.all(np.isfinite(eager))
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    np.testing.assert_allclose(np.asarray(xla), eager, atol=TOLERANCE[policy])


def test_narrow_network_training_step_under_mixed_bfloat16():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = kcnn.build("vgg11_bn", **NARROW)
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    train_changes_weights(model, x, np.array([0, 1, 2, 3]))


@pytest.mark.slow
def test_narrow_network_trains_under_xla_in_mixed_bfloat16():
    """An XLA training step with batch normalization in bfloat16; the XLA forward pass
    under every policy is checked above."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = kcnn.build("vgg11_bn", **NARROW)
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    train_changes_weights(model, x, np.array([0, 1, 2, 3]), jit=True)


BAD_ARGUMENTS = [
    ({"input_shape": (31, 32, 3)}, ValueError, "minimum size is 32x32"),
    ({"input_shape": (None, 224, 3)}, ValueError, "fixed height and width"),
    ({"filters": (64, 128, 256, 512)}, ValueError, "`filters` must have 5 entries"),
    ({"filters": (64, 128, 0, 512, 512)}, ValueError, "`filters` must contain integers"),
    ({"fc_units": -1}, ValueError, "`fc_units`"),
    ({"batch_norm": "yes"}, TypeError, "`batch_norm` must be True or False"),
    ({"pooling": "avg2"}, ValueError, "`pooling` must be one of"),
    ({"dropout": -0.1}, ValueError, "`dropout`"),
    ({"num_classes": 2.5}, TypeError, "`num_classes` must be an integer"),
]


def test_bad_arguments():
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match) as info:
            kcnn.build("vgg16", **kwargs)
        assert "Received:" in str(info.value), kwargs
    with pytest.raises(ValueError, match="`depth` must be one of 11, 13, 16, 19") as info:
        vgg(15)
    assert "Received: depth=15" in str(info.value)


def test_bn_epsilon_of_the_batch_normalized_variants():
    model = kcnn.build("vgg11_bn", bn_epsilon=1e-3, **NARROW)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 8 and {l.epsilon for l in bns} == {1e-3}
    assert {l.epsilon for l in kcnn.build("vgg11_bn", **NARROW).layers
            if isinstance(l, keras.layers.BatchNormalization)} == {1e-5}
    with pytest.raises(ValueError, match="bn_epsilon.*batch_norm=True.*Received: bn_epsilon"):
        kcnn.build("vgg11", bn_epsilon=1e-3)
    with pytest.raises(ValueError, match="Received: bn_epsilon=-1"):
        kcnn.build("vgg11_bn", bn_epsilon=-1.0)
