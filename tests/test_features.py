"""kcnn.feature_extractor: named intermediate outputs as a dict-output model."""

import keras
import numpy as np
import pytest

import kcnn
from kcnn.features import feature_extractor

NARROW = {"stackwise_num_filters": (4, 8, 16)}


def test_resnet50_pyramid_at_224():
    extractor = kcnn.feature_extractor("resnet50", include_top=False)
    assert extractor.name == "resnet50_features"
    shapes = {k: tuple(v.shape) for k, v in extractor.output.items()}
    # strides 4, 8, 16, 32 with 256, 512, 1024, 2048 channels
    assert shapes == {"conv2_block3": (None, 56, 56, 256), "conv3_block4": (None, 28, 28, 512),
                      "conv4_block6": (None, 14, 14, 1024),
                      "conv5_block3": (None, 7, 7, 2048)}


def test_features_are_the_model_activations():
    model = kcnn.build("resnet20", classifier_activation=None, **NARROW)
    extractor = feature_extractor(model)  # a registered name: its default layers
    assert list(extractor.output) == ["conv2_block3", "conv3_block3", "conv4_block3"]
    assert {id(w) for w in extractor.weights} <= {id(w) for w in model.weights}
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    features = extractor(x, training=False)
    assert isinstance(features, dict)
    # the last stage's output through the head gives the model's logits
    head = model.get_layer("predictions")
    pooled = np.asarray(features["conv4_block3"]).mean(axis=(1, 2))
    kernel, bias = (np.asarray(w) for w in head.weights)
    np.testing.assert_allclose(pooled @ kernel + bias, np.asarray(model(x, training=False)),
                               atol=1e-4)
    # an earlier stage feeds the next block
    block = model.get_layer("conv3_block1")
    np.testing.assert_allclose(np.asarray(block(features["conv2_block3"], training=False)),
                               np.asarray(feature_extractor(model, ["conv3_block1"])(x)[
                                   "conv3_block1"]), atol=1e-5)


def test_build_arguments_and_chosen_layers():
    extractor = feature_extractor("resnet20", layers=["conv1_relu", "conv3_block1"],
                                  input_shape=(None, None, 3), include_top=False, **NARROW)
    out = extractor(np.zeros((1, 12, 20, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "conv1_relu": (1, 12, 20, 4), "conv3_block1": (1, 6, 10, 8)}
    single = feature_extractor("resnet20", layers="conv2_block1", **NARROW)
    assert list(single.output) == ["conv2_block1"]


def test_any_functional_model_with_layers():
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(2, 3, name="c1")(inputs)
    outputs = keras.layers.Conv2D(3, 3, name="c2")(x)
    model = keras.Model(inputs, outputs, name="mine")
    extractor = feature_extractor(model, ["c1", "c2"])
    assert {k: tuple(v.shape) for k, v in extractor.output.items()} == {
        "c1": (None, 6, 6, 2), "c2": (None, 4, 4, 3)}
    with pytest.raises(ValueError, match="pass `layers=`.*'c1'"):
        feature_extractor(model)


def test_errors():
    model = kcnn.build("resnet20", **NARROW)
    with pytest.raises(ValueError, match=r"no layer 'conv2_block9'\. Did you mean "
                                         r"'conv2_block3'.*Its layers: image, conv1_conv"):
        feature_extractor(model, ["conv2_block9"])
    with pytest.raises(ValueError, match="more than once"):
        feature_extractor(model, ["conv2_block1", "conv2_block1"])
    with pytest.raises(TypeError, match="layer names"):
        feature_extractor(model, [3])
    with pytest.raises(TypeError, match="non-empty list"):
        feature_extractor(model, [])
    with pytest.raises(TypeError, match="registered name"):
        feature_extractor(model, ["conv2_block1"], include_top=False)
    with pytest.raises(TypeError, match="model_or_name"):
        feature_extractor(42)
    with pytest.raises(ValueError, match="Unknown model 'resnet21'"):
        feature_extractor("resnet21")
    # overriding the depth removes the default layers
    with pytest.raises(ValueError, match=r"conv2_block3, conv3_block3, conv4_block3 missing.*pass `layers=`"):
        feature_extractor("resnet20", stackwise_num_blocks=(1, 1, 1), **NARROW)
    renamed = kcnn.models.resnet.resnet20(name="custom", **NARROW)
    with pytest.raises(ValueError, match="not a registered network"):
        feature_extractor(renamed)


def test_network_without_default_feature_layers():
    @kcnn.register_model("tiny_featureless", family="test", paper="-", input_shape=(4, 4, 1))
    def tiny(*, name=None):
        inputs = keras.Input((4, 4, 1))
        return keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name=name)

    try:
        with pytest.raises(ValueError, match="no default feature layers"):
            feature_extractor("tiny_featureless")
        assert list(feature_extractor("tiny_featureless", ["d"]).output) == ["d"]
    finally:
        kcnn.unregister_model("tiny_featureless")
