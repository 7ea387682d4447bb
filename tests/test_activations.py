import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn
from kcnn.activations import centered_softplus, vrelu
from kcnn.layers import APL, Maxout, RReLU

RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def test_centered_softplus_is_softplus_minus_ln2_and_zero_at_zero():
    x = np.linspace(-6, 6, 49).astype("float32")
    expected = np.log(np.exp(x.astype("float64")) + 1) - np.log(2)
    np.testing.assert_allclose(_np(centered_softplus(x)), expected, atol=1e-6)
    assert _np(centered_softplus(np.zeros(1, "float32")))[0] == pytest.approx(0, abs=1e-7)
    assert kcnn.activations.get("centered_softplus") is centered_softplus
    assert kcnn.activations.get("Centered_SoftPlus") is centered_softplus


def test_vrelu_is_a_very_leaky_relu():
    x = np.linspace(-3, 3, 25).astype("float32")
    np.testing.assert_allclose(_np(vrelu(x)), np.where(x >= 0, x, x / 3), atol=1e-6)
    np.testing.assert_allclose(_np(vrelu(x, negative_slope=0.1)), np.where(x >= 0, x, 0.1 * x),
                               atol=1e-6)
    assert kcnn.activations.get("vrelu") is vrelu
    layer = kcnn.activations.layer("vrelu", name="act")
    np.testing.assert_allclose(_np(layer(x)), np.where(x >= 0, x, x / 3), atol=1e-6)


def _apl_numpy(x, a, b):
    """max(0, x) + sum_s a_s * max(0, -x + b_s), with a, b broadcast against x."""
    out = np.maximum(x, 0)
    for s in range(a.shape[0]):
        out = out + a[s] * np.maximum(0, -x + b[s])
    return out


def test_apl_matches_the_formula_per_channel_and_per_unit():
    x = RNG.normal(size=(2, 3, 4, 5)).astype("float32")
    layer = APL(num_hinges=3)
    layer.build(x.shape)
    a, b = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5))
    layer.set_weights([a, b])
    np.testing.assert_allclose(_np(layer(x)), _apl_numpy(x, a, b), atol=1e-5)

    unit = APL(num_hinges=2, per_channel=False)
    unit.build(x.shape)
    a, b = RNG.normal(size=(2, 3, 4, 5)), RNG.normal(size=(2, 3, 4, 5))
    unit.set_weights([a, b])
    np.testing.assert_allclose(_np(unit(x)), _apl_numpy(x, a, b), atol=1e-5)


def test_apl_initialization_follows_the_paper_code_and_learns():
    layer = APL(num_hinges=4)
    layer.build((None, 256))
    a, b = (_np(w) for w in layer.weights)
    assert a.shape == b.shape == (4, 256)
    assert np.abs(a).max() <= 0.5 / 4 and a.std() > 0.02       # uniform(-1/8, 1/8)
    assert 0.4 < b.std() < 0.6                                  # normal(0, 0.5)
    x = tf.constant(RNG.normal(size=(8, 256)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
    assert kcnn.activations.layer("apl", name="apl1").name == "apl1"
    assert isinstance(kcnn.activations.layer("APL"), APL)


def test_rrelu_random_slope_in_training_mean_slope_at_inference():
    x = -np.abs(RNG.normal(size=(64, 32)).astype("float32")) - 0.1
    x[:, :4] *= -1  # some positive inputs
    layer = RReLU(lower=0.1, upper=0.5, seed=3)
    inference = _np(layer(x))
    np.testing.assert_allclose(inference, np.where(x >= 0, x, 0.3 * x), atol=1e-6)

    trained = _np(layer(x, training=True))
    slopes = trained[:, 4:] / x[:, 4:]
    np.testing.assert_allclose(trained[:, :4], x[:, :4])
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.5 + 1e-6
    assert abs(slopes.mean() - 0.3) < 0.01 and abs(slopes.std() - 0.4 / np.sqrt(12)) < 0.01
    assert not np.allclose(trained, inference)

    # Reproducible with a seed: same seed -> same draws; next call -> new draws.
    again = RReLU(lower=0.1, upper=0.5, seed=3)
    np.testing.assert_array_equal(_np(again(x, training=True)), trained)
    assert not np.allclose(_np(again(x, training=True)), trained)
    assert not np.allclose(_np(RReLU(lower=0.1, upper=0.5, seed=4)(x, training=True)), trained)


def test_rrelu_defaults_are_the_paper_range_and_names_resolve_to_layers():
    layer = RReLU()
    assert (layer.lower, layer.upper) == pytest.approx((1 / 8, 1 / 3))
    assert isinstance(kcnn.activations.layer("rrelu", name="r"), RReLU)
    with pytest.raises(ValueError, match="kcnn.activations.layer"):
        kcnn.activations.get("rrelu")
    assert kcnn.activations.check("rrelu") == "rrelu"
    assert {"apl", "rrelu", "vrelu", "centered_softplus"} <= set(kcnn.activations.names())


def test_maxout_is_the_max_over_pieces_of_linear_units():
    k, units = 3, 4
    x = RNG.normal(size=(5, 6)).astype("float32")
    dense = keras.layers.Dense(units * k)
    maxout = Maxout(num_pieces=k)
    y = _np(maxout(dense(x)))
    w, bias = (_np(v) for v in dense.weights)
    expected = np.empty((5, units))
    for i in range(units):  # h_i(x) = max_j (x W_ij + b_ij), pieces of unit i consecutive
        expected[:, i] = np.max([x @ w[:, i * k + j] + bias[i * k + j] for j in range(k)],
                                axis=0)
    np.testing.assert_allclose(y, expected, atol=1e-5)

    conv = Maxout(2)(RNG.normal(size=(2, 5, 5, 8)).astype("float32"))
    assert conv.shape == (2, 5, 5, 4)
    assert Maxout(2, axis=1).compute_output_shape((None, 6, 3)) == (None, 3, 3)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="multiple of num_pieces=3.*Received: input_shape"):
        Maxout(3)(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="`num_pieces`.*Received: num_pieces=0"):
        Maxout(0)
    with pytest.raises(ValueError, match="`upper` must be >= `lower`"):
        RReLU(lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="Received: lower=-0.1"):
        RReLU(lower=-0.1)
    with pytest.raises(ValueError, match="Received: num_hinges=0"):
        APL(num_hinges=0)
    with pytest.raises(ValueError, match="per_channel=False"):
        APL(per_channel=False)(keras.Input((None, 3)))
