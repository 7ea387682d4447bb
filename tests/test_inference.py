"""optimize_for_inference: BatchNorm folded into convolutions (in residual blocks too),
identity layers and auxiliary heads removed, same outputs as the trained model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn
from kcnn.inference import IDENTITY_LAYERS, fold_batch_norm, optimize_for_inference
from tests.helpers import run_fresh


def _randomize_batch_norms(model, seed=0):
    """Moving statistics and affine parameters away from their initial values, so that a
    wrong fold cannot go unnoticed."""
    rng = np.random.default_rng(seed)
    for v in model.variables:
        leaf = v.path.rsplit("/", 1)[-1]
        if leaf in ("moving_mean", "beta"):
            v.assign(rng.normal(0.0, 0.5, v.shape).astype("float32"))
        elif leaf in ("moving_variance", "gamma"):
            v.assign(rng.uniform(0.5, 2.0, v.shape).astype("float32"))


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _batch_norm_count(model):
    """BatchNormalization layers of a model, those inside blocks included."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            count += 1
        elif hasattr(layer, "conv_bn_pairs"):
            count += len(layer.conv_bn_pairs())
    return count


NETWORKS = {
    # bottleneck blocks, projection shortcuts (B), ImageNet stem
    "resnet50_narrow": ("resnet50", dict(input_shape=(64, 64, 3), num_classes=7,
                                         stackwise_num_filters=(4, 4, 8, 8),
                                         stackwise_num_blocks=(2, 1, 1, 1))),
    # v1.5 (padded strided 3x3) with projections everywhere (C)
    "resnet50_v15_c": ("resnet50", dict(input_shape=(64, 64, 3), num_classes=5,
                                        stackwise_num_filters=(4, 4, 8, 8),
                                        stackwise_num_blocks=(1, 1, 1, 1), shortcut="C",
                                        stride_in_3x3=True)),
    # basic blocks with the zero-padded identity shortcut (A), CIFAR stem
    "resnet20": ("resnet20", dict(stackwise_num_blocks=(1, 1, 1))),
    # top-level Conv2D -> BatchNormalization pairs and dropout
    "vgg11_bn_narrow": ("vgg11_bn", dict(input_shape=(32, 32, 3), filters=(4, 4, 8, 8, 8),
                                         fc_units=16, num_classes=3)),
}


@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_folded_network_computes_the_same_logits(key):
    name, kwargs = NETWORKS[key]
    model = kcnn.build(name, classifier_activation=None, **kwargs)
    _randomize_batch_norms(model)
    folded = optimize_for_inference(model)
    x = np.random.default_rng(1).uniform(-1, 1, (3, *model.input_shape[1:])).astype("float32")
    expected = _numpy(model(x, training=False))
    got = _numpy(folded(x))
    assert np.abs(expected).max() > 0.1  # the check below is not vacuous
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # Every BatchNormalization is gone, each folded once; dropout is gone.
    kinds = {type(layer).__name__ for layer in folded.layers}
    assert "BatchNormalization" not in kinds and not kinds & set(IDENTITY_LAYERS)
    assert len(folded.inference_report.folded) == _batch_norm_count(model)


def test_residual_blocks_are_unrolled_with_keras_applications_names():
    name, kwargs = NETWORKS["resnet50_narrow"]
    model = kcnn.build(name, **kwargs)
    folded = optimize_for_inference(model)
    names = {layer.name for layer in folded.layers}
    # keras.applications' names for the first bottleneck (projection shortcut "0_").
    for sub in ("0_conv", "1_conv", "1_relu", "2_conv", "2_relu", "3_conv", "add", "out"):
        assert f"conv2_block1_{sub}" in names
    assert "conv2_block2_0_conv" not in names  # identity shortcut: no projection
    conv = folded.get_layer("conv2_block1_1_conv")
    assert conv.use_bias and tuple(conv.kernel.shape) == (1, 1, 4, 4)  # stem: 4 filters
    assert folded.inference_report.unrolled[:2] == ["conv2_block1", "conv2_block2"]
    # Parameters: every BN's 4 x channels become a bias of channels.
    bn_channels = sum(bn.moving_mean.shape[0] for layer in model.layers
                      for bn in ([layer] if isinstance(layer, keras.layers.BatchNormalization)
                                 else [b for _, b in getattr(layer, "conv_bn_pairs",
                                                             lambda: [])()]))
    assert folded.count_params() == model.count_params() - 3 * bn_channels


def test_original_model_is_left_untouched_and_independent():
    name, kwargs = NETWORKS["resnet20"]
    model = kcnn.build(name, classifier_activation=None, **kwargs)
    _randomize_batch_norms(model)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    before = _numpy(model(x, training=False))
    layers_before = [layer.name for layer in model.layers]
    folded = optimize_for_inference(model)
    assert [layer.name for layer in model.layers] == layers_before
    np.testing.assert_array_equal(_numpy(model(x, training=False)), before)
    for v in folded.trainable_variables:  # the copy shares no variables
        v.assign(keras.ops.zeros_like(v))
    np.testing.assert_array_equal(_numpy(model(x, training=False)), before)


def test_auxiliary_heads_and_dropout_are_dropped():
    kwargs = dict(input_shape=(80, 80, 3), width_multiplier=0.125, num_classes=4,
                  classifier_activation=None)
    model = kcnn.build("googlenet", aux_logits=True, **kwargs)
    folded = optimize_for_inference(model)
    assert folded.inference_report.outputs == ["predictions"]
    assert len(folded.outputs) == 1
    # The main path of the auxiliary model is the network without auxiliary heads.
    plain = kcnn.build("googlenet", aux_logits=False, **kwargs)
    assert folded.count_params() == plain.count_params()
    assert not any(layer.name.startswith("aux") for layer in folded.layers)
    assert "dropout" in folded.inference_report.dropped
    x = np.random.default_rng(3).uniform(0, 255, (2, 80, 80, 3)).astype("float32")
    np.testing.assert_allclose(_numpy(folded(x)), _numpy(model(x, training=False)[0]),
                               rtol=1e-5, atol=1e-5)
    # Other outputs can be kept by name.
    both = optimize_for_inference(model, outputs=["predictions", "aux2_predictions"])
    assert [t.shape[-1] for t in both.outputs] == [4, 4]


def test_fold_batch_norm_matches_the_numpy_formula():
    """Dense (with bias) -> BN and DepthwiseConv2D -> BN, against y = gamma (x - mean) /
    sqrt(var + eps) + beta computed in numpy."""
    rng = np.random.default_rng(4)
    cases = [(keras.layers.Dense(5, use_bias=True), (3, 6), 5),
             (keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                           use_bias=False), (2, 5, 5, 3), 6)]
    for layer, shape, channels in cases:
        inputs = keras.Input(shape[1:])
        bn = keras.layers.BatchNormalization(epsilon=1e-3)
        keras.Model(inputs, bn(layer(inputs)))
        mean, var = rng.normal(size=channels), rng.uniform(0.2, 3.0, size=channels)
        gamma, beta = rng.normal(size=channels), rng.normal(size=channels)
        bn.set_weights([gamma, beta, mean, var])
        if layer.use_bias:
            layer.bias.assign(rng.normal(size=channels))
        x = rng.normal(size=shape).astype("float32")
        z = _numpy(layer(x))
        expected = gamma * (z - mean) / np.sqrt(var + 1e-3) + beta
        new, (kernel, bias) = fold_batch_norm(layer, bn, name="folded")
        new.build(shape)
        new.set_weights([kernel, bias])
        assert new.name == "folded" and new.use_bias
        np.testing.assert_allclose(_numpy(new(x)), expected, rtol=1e-4, atol=1e-4)


def test_pairs_that_cannot_be_folded_are_kept():
    """A convolution whose output is also used elsewhere, or with an activation before the
    BN, keeps its BatchNormalization; the result is still the same function."""
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="shared_conv")(inputs)
    b = keras.layers.BatchNormalization(name="bn_a")(a)
    c = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="relu_conv")(inputs)
    d = keras.layers.BatchNormalization(name="bn_c")(c)
    e = keras.layers.Conv2D(4, 1, name="plain_conv")(inputs)
    f = keras.layers.BatchNormalization(name="bn_e")(e)
    outputs = keras.layers.Concatenate()([a, b, d, f])
    model = keras.Model(inputs, outputs)
    _randomize_batch_norms(model)
    folded = optimize_for_inference(model)
    assert folded.inference_report.folded == [("plain_conv", "bn_e")]
    kept = {layer.name for layer in folded.layers}
    assert {"bn_a", "bn_c"} <= kept and "bn_e" not in kept
    x = np.random.default_rng(5).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_numpy(folded(x)), _numpy(model(x, training=False)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="activation"):
        fold_batch_norm(model.get_layer("relu_conv"), model.get_layer("bn_c"))


def test_policies_and_xla(policy):
    """Under mixed precision the folded model is as close to the float32 network as the
    unfolded one is (both round to 16 bits, at different places)."""
    name, kwargs = NETWORKS["resnet50_v15_c"]
    model = kcnn.build(name, classifier_activation=None, **kwargs)
    _randomize_batch_norms(model)
    keras.mixed_precision.set_dtype_policy("float32")
    reference = kcnn.build(name, classifier_activation=None, **kwargs)
    reference.set_weights(model.get_weights())
    folded = optimize_for_inference(model)
    assert folded.get_layer("conv2_block1_1_conv").dtype_policy.name == policy
    assert folded.output.dtype == "float32"
    x = np.random.default_rng(6).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    exact = _numpy(reference(x, training=False))
    unfolded_error = np.abs(_numpy(model(x, training=False)) - exact).max()
    for got in (_numpy(folded(x)),
                _numpy(tf.function(lambda t: folded(t), jit_compile=True)(x))):
        error = np.abs(got - exact).max()
        assert error <= 3 * unfolded_error + 1e-4 * np.abs(exact).max(), (error,
                                                                          unfolded_error)


def test_folded_resnet_loads_in_a_fresh_process_without_kcnn(tmp_path):
    from kcnn.saving import kcnn_names

    name, kwargs = NETWORKS["resnet50_narrow"]
    model = kcnn.build(name, classifier_activation=None, **kwargs)
    _randomize_batch_norms(model)
    folded = optimize_for_inference(model)
    x = np.random.default_rng(7).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    folded.save(tmp_path / "folded.keras")
    model.save(tmp_path / "full.keras")
    np.save(tmp_path / "x.npy", x)
    assert kcnn_names(tmp_path / "folded.keras") == []
    assert "kcnn>HeGaussian" in kcnn_names(tmp_path / "full.keras")
    out = run_fresh(f"""
        import json, sys, numpy as np, keras
        x = np.load({str(tmp_path / "x.npy")!r})
        folded = keras.saving.load_model({str(tmp_path / "folded.keras")!r})
        y_folded = np.asarray(folded(x)).tolist()
        without_kcnn = "kcnn" not in sys.modules
        try:
            keras.saving.load_model({str(tmp_path / "full.keras")!r})
            plain_error = None
        except Exception as error:
            plain_error = type(error).__name__
        import kcnn
        full = kcnn.load_model({str(tmp_path / "full.keras")!r})
        print(json.dumps({{"folded": y_folded, "without_kcnn": without_kcnn,
                          "plain_error": plain_error,
                          "full": np.asarray(full(x, training=False)).tolist()}}))
    """)
    assert out["without_kcnn"]
    np.testing.assert_allclose(out["folded"], _numpy(folded(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["folded"], _numpy(model(x, training=False)), rtol=1e-4,
                               atol=1e-4)
    # the unfolded network keeps kcnn's blocks: plain Keras cannot load it, kcnn.load_model can
    assert out["plain_error"] is not None
    np.testing.assert_allclose(out["full"], _numpy(model(x, training=False)), rtol=1e-5,
                               atol=1e-5)


def test_load_model_names_classes_nobody_registered(tmp_path):
    from kcnn.saving import load_model

    @keras.saving.register_keras_serializable(package="kcnn_tests_unregistered")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = keras.Input((3,))
    keras.Model(inputs, Twice()(inputs)).save(tmp_path / "m.keras")
    del keras.saving.get_custom_objects()["kcnn_tests_unregistered>Twice"]
    with pytest.raises(ValueError, match=r"neither Keras nor kcnn registers: "
                                         r"kcnn_tests_unregistered>Twice.*custom_objects"):
        load_model(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras",
                        custom_objects={"kcnn_tests_unregistered>Twice": Twice})
    np.testing.assert_allclose(np.asarray(loaded(np.ones((1, 3), "float32"))), 2.0)
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "missing.keras")


def test_bad_arguments():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional"):
        optimize_for_inference(Subclassed())
    model = kcnn.build("resnet20", stackwise_num_blocks=(1, 1, 1))
    with pytest.raises(ValueError, match="Received: outputs='aux1'"):
        optimize_for_inference(model, outputs="aux1")
