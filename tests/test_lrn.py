"""LocalResponseNormalization against the paper's formula computed with numpy loops, against
tf.nn.local_response_normalization, under every dtype policy and XLA. (The fresh-process
reload is in test_inception.py, with both layers in one model.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kcnn.layers import LocalResponseNormalization
from tests.helpers import TOLERANCE


def paper_lrn(a, *, n, k, alpha, beta, divide_by_n=False):
    """b[i] = a[i] / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a[j]^2)^beta,
    channel by channel (AlexNet section 3.3)."""
    a = np.asarray(a, dtype=np.float64)
    channels = a.shape[-1]
    scale = alpha / n if divide_by_n else alpha
    b = np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        s = np.sum(a[..., lo:hi + 1] ** 2, axis=-1)
        b[..., i] = a[..., i] / (k + scale * s) ** beta
    return b


def inputs(shape=(2, 3, 4, 9), scale=3.0, seed=0):
    return np.random.default_rng(seed).normal(0, scale, shape).astype("float32")


def test_defaults_are_the_papers():
    layer = LocalResponseNormalization()
    assert (layer.size, layer.k, layer.alpha, layer.beta) == (5, 2.0, 1e-4, 0.75)
    assert layer.convention == "paper" and layer.effective_alpha == 1e-4
    assert LocalResponseNormalization(convention="caffe").effective_alpha == pytest.approx(2e-5)


@pytest.mark.parametrize("convention", ["paper", "caffe"])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_matches_the_formula_in_float32(size, convention):
    # alpha large enough that the sum matters; 9 channels so the window is cut at both ends
    x = inputs()
    layer = LocalResponseNormalization(size=size, alpha=0.05, beta=0.75, k=2.0,
                                       convention=convention)
    expected = paper_lrn(x, n=size, k=2.0, alpha=0.05, beta=0.75,
                         divide_by_n=convention == "caffe")
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("convention", ["paper", "caffe"])
def test_agrees_with_tf_nn_lrn_as_documented(convention):
    """depth_radius = (n - 1) / 2; tf.nn does not divide alpha by n."""
    x = inputs(scale=5.0)
    layer = LocalResponseNormalization(size=5, alpha=0.01, beta=0.6, k=1.5,
                                       convention=convention)
    tf_alpha = 0.01 / 5 if convention == "caffe" else 0.01
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.5, alpha=tf_alpha,
                                                  beta=0.6)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(expected), rtol=1e-5,
                               atol=1e-6)


def test_under_policy_with_and_without_xla(policy):
    x = inputs(scale=2.0)
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    expected = paper_lrn(x.astype(compute).astype("float32"), n=5, k=2.0, alpha=0.05,
                         beta=0.75)
    for jit in (False, True):
        inp = keras.Input(x.shape[1:])
        model = keras.Model(inp, LocalResponseNormalization(size=5, alpha=0.05)(inp))
        model.compile(jit_compile=jit)
        y = model.predict(x, verbose=0)
        assert y.dtype == np.dtype(compute)
        np.testing.assert_allclose(y.astype("float64"), expected,
                                   atol=TOLERANCE[policy] * 3, rtol=TOLERANCE[policy])


def test_large_activations_do_not_overflow_in_half_precision():
    """300^2 overflows float16; the squared sum is computed in float32."""
    x = np.full((1, 2, 2, 6), 300.0, "float32")
    expected = paper_lrn(x, n=5, k=2.0, alpha=1e-4, beta=0.75)
    for dtype in ("float16", "bfloat16"):
        layer = LocalResponseNormalization(dtype=dtype)
        y = np.asarray(keras.ops.convert_to_numpy(layer(x)), dtype="float64")
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y, expected, rtol=1e-2)


def test_gradient_matches_tf_nn_lrn_with_and_without_xla():
    x = tf.constant(inputs(scale=2.0))
    layer = LocalResponseNormalization(size=3, alpha=0.05, beta=0.75, k=2.0)

    def grads(fn, jit):
        @tf.function(jit_compile=jit)
        def g(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(x)
                loss = tf.reduce_sum(y * tf.sin(y))
            return tape.gradient(loss, x)
        return g(x).numpy()

    reference = grads(lambda t: tf.nn.local_response_normalization(
        t, depth_radius=1, bias=2.0, alpha=0.05, beta=0.75), False)
    for jit in (False, True):
        ours = grads(layer, jit)
        assert np.all(np.isfinite(ours)) and np.any(ours != 0)
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_config_round_trip_and_shape():
    layer = LocalResponseNormalization(size=3, alpha=2e-4, beta=0.5, k=1.0,
                                       convention="caffe", name="norm1")
    config = layer.get_config()
    assert {k: config[k] for k in ("size", "alpha", "beta", "k", "convention")} == {
        "size": 3, "alpha": 2e-4, "beta": 0.5, "k": 1.0, "convention": "caffe"}
    clone = LocalResponseNormalization.from_config(config)
    x = inputs()
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(layer(x)))
    assert layer.compute_output_shape((None, 5, 5, 9)) == (None, 5, 5, 9)
    assert layer.weights == []


BAD_ARGUMENTS = [
    ({"size": 4}, ValueError, "`size` must be odd"),
    ({"size": 0}, ValueError, "`size`"),
    ({"size": 2.5}, TypeError, "`size` must be an integer"),
    ({"alpha": -1.0}, ValueError, "`alpha`"),
    ({"beta": "0.75"}, TypeError, "`beta` must be a number"),
    ({"k": 0.0}, ValueError, "`k`"),
    ({"convention": "pytorch"}, ValueError, "`convention` must be one of"),
]


def test_bad_arguments():
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match) as info:
            LocalResponseNormalization(**kwargs)
        assert "Received:" in str(info.value)
    with pytest.raises(ValueError, match="rank >= 2"):
        LocalResponseNormalization()(np.ones((5,), "float32"))
