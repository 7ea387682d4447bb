"""InceptionModule against a numpy computation of Figure 2(b) of the GoogLeNet paper, under
every dtype policy and XLA; gradients, sublayer shapes, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kcnn.layers import InceptionModule, LocalResponseNormalization
from tests.helpers import TOLERANCE, run_fresh

SUBLAYERS = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool", "pool_proj")
SMALL = dict(filters_1x1=3, filters_3x3_reduce=4, filters_3x3=5, filters_5x5_reduce=2,
             filters_5x5=3, pool_proj=2)


def conv_same(x, kernel, bias):
    """Stride-1 'same' convolution with ReLU, by summing shifted products."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cf->nhwf", xp[:, i:i + h, j:j + w, :], kernel[i, j])
    return np.maximum(out + bias, 0.0)


def max_pool_3x3_same(x):
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    windows = [xp[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)]
    return np.max(np.stack(windows), axis=0)


def numpy_inception(block, x, dtype="float32"):
    """Figure 2(b): [1x1, 1x1 -> 3x3, 1x1 -> 5x5, 3x3 max pool -> 1x1] concatenated."""
    def p(name):
        layer = getattr(block, "branch_" + name)
        # the weights as the compute dtype sees them
        return [np.asarray(w).astype(dtype).astype("float64") for w in layer.get_weights()]

    x = x.astype("float64")
    b1 = conv_same(x, *p("1x1"))
    b3 = conv_same(conv_same(x, *p("3x3_reduce")), *p("3x3"))
    b5 = conv_same(conv_same(x, *p("5x5_reduce")), *p("5x5"))
    bp = conv_same(max_pool_3x3_same(x), *p("pool_proj"))
    return np.concatenate([b1, b3, b5, bp], axis=-1)


def data(shape=(2, 6, 5, 4), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def test_matches_numpy_under_policy_with_and_without_xla(policy):
    x = data()
    inp = keras.Input(x.shape[1:])
    block = InceptionModule(**SMALL)
    model = keras.Model(inp, block(inp))
    # non-zero biases so that they are checked too
    for layer, _, _ in block.sublayer_shapes((None, 6, 5, 4)):
        if layer.weights:
            layer.bias.assign(np.linspace(-0.2, 0.3, layer.bias.shape[0]))
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    assert all(layer.compute_dtype == compute and layer.dtype_policy.name == policy
               for layer, _, _ in block.sublayer_shapes((None, 6, 5, 4)))
    expected = numpy_inception(block, x.astype(compute).astype("float32"), compute)
    for jit in (False, True):
        model.compile(jit_compile=jit)
        y = model.predict(x, verbose=0)
        assert y.dtype == np.dtype(compute) and y.shape == (2, 6, 5, 13)
        np.testing.assert_allclose(y.astype("float64"), expected,
                                   atol=TOLERANCE[policy] * 3, rtol=TOLERANCE[policy])


def test_inception_3a_widths_names_and_parameters():
    block = InceptionModule(filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128,
                            filters_5x5_reduce=16, filters_5x5=32, pool_proj=32,
                            name="inception3a")
    y = block(keras.Input((28, 28, 192)))
    assert tuple(y.shape) == (None, 28, 28, 256)  # Table 1: 28x28x256
    kernels = {v.path: tuple(v.shape) for v in block.weights if v.name == "kernel"}
    assert kernels == {
        "inception3a/1x1/kernel": (1, 1, 192, 64),
        "inception3a/3x3_reduce/kernel": (1, 1, 192, 96),
        "inception3a/3x3/kernel": (3, 3, 96, 128),
        "inception3a/5x5_reduce/kernel": (1, 1, 192, 16),
        "inception3a/5x5/kernel": (5, 5, 16, 32),  # a true 5x5, not two 3x3
        "inception3a/pool_proj/kernel": (1, 1, 192, 32),
    }
    weights = (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32)
    assert weights == 163_328  # the table's "159K" is this / 1024
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert block.count_params() == weights + biases
    assert [layer.name for layer, _, _ in block.sublayer_shapes((None, 28, 28, 192))] == \
        list(SUBLAYERS)
    pool = block.branch_pool
    assert (pool.pool_size, pool.strides, pool.padding) == ((3, 3), (1, 1), "same")


def test_sublayer_shapes_are_what_the_sublayers_produce():
    block = InceptionModule(**SMALL)
    x = data((1, 7, 9, 6))
    block(x)
    inputs = {"1x1": x, "3x3_reduce": x, "5x5_reduce": x, "pool": x,
              "3x3": block.branch_3x3_reduce(x), "5x5": block.branch_5x5_reduce(x),
              "pool_proj": block.branch_pool(x)}
    for layer, in_shape, out_shape in block.sublayer_shapes((None, 7, 9, 6)):
        assert in_shape == (None,) + tuple(inputs[layer.name].shape[1:])
        assert out_shape == (None,) + tuple(layer(inputs[layer.name]).shape[1:])
    assert block.compute_output_shape((None, 7, 9, 6)) == (None, 7, 9, 13)


def test_gradients_reach_every_weight_with_and_without_xla():
    x = tf.constant(data())
    block = InceptionModule(**SMALL)
    block(x)

    for jit in (False, True):
        @tf.function(jit_compile=jit)
        def grads(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(block(x) - 0.1))
            return tape.gradient(loss, block.trainable_variables)

        gs = grads(x)
        assert len(gs) == 12
        for v, g in zip(block.trainable_variables, gs):
            assert np.all(np.isfinite(g.numpy())), v.path
            assert np.any(g.numpy() != 0), v.path


def test_config_is_the_constructor_arguments():
    block = InceptionModule(**SMALL, activation="elu", use_bias=False,
                            kernel_initializer="he_normal", name="inception9z")
    config = block.get_config()
    for key, value in {**SMALL, "activation": "elu", "use_bias": False,
                       "kernel_initializer": "he_normal"}.items():
        assert config[key] == value
    clone = InceptionModule.from_config(config)
    x = data()
    clone(x), block(x)
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(block(x)), rtol=1e-6)
    assert block.weights and all(v.name != "bias" for v in block.weights)
    assert np.min(np.asarray(block(x))) < 0  # elu, not relu


def test_lrn_and_inception_reload_in_fresh_process_under_mixed_bfloat16(tmp_path):
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = LocalResponseNormalization(name="norm1")(x)
    x = InceptionModule(**SMALL, name="inception3a")(x)
    x = LocalResponseNormalization(size=3, alpha=0.1, k=1.0, convention="caffe",
                                   name="norm2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(3, dtype="float32")(x)
    model = keras.Model(inp, out)
    keras.mixed_precision.set_dtype_policy("float32")
    x = data((2, 8, 8, 3))
    expected = np.asarray(model(x), "float64")
    path = tmp_path / "blocks.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    got = run_fresh(f"""
        import json, numpy as np, keras, kcnn
        m = keras.saving.load_model({str(path)!r})
        block = m.get_layer("inception3a")
        print(json.dumps({{
            "y": np.asarray(m(np.load({str(tmp_path / 'x.npy')!r})), "float64").tolist(),
            "policy": block.branch_5x5.dtype_policy.name,
            "norm2": [m.get_layer("norm2").convention, m.get_layer("norm2").size]}}))
    """)
    np.testing.assert_allclose(np.asarray(got["y"]), expected, rtol=1e-5, atol=1e-6)
    assert got["policy"] == "mixed_bfloat16"
    assert got["norm2"] == ["caffe", 3]


BAD_ARGUMENTS = [
    ({"filters_1x1": 0}, ValueError, "`filters_1x1`"),
    ({"filters_3x3": 2.0}, TypeError, "`filters_3x3` must be an integer"),
    ({"pool_proj": True}, TypeError, "`pool_proj` must be an integer"),
    ({"activation": "relu6x"}, ValueError, "`activation`"),
    ({"activation": "apl"}, ValueError, "`activation` must be an activation without weights"),
    ({"use_bias": "yes"}, TypeError, "`use_bias` must be True or False"),
]


def test_bad_arguments():
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match) as info:
            InceptionModule(**{**SMALL, **kwargs})
        assert "Received:" in str(info.value)
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        InceptionModule(**SMALL)(np.ones((2, 5, 4), "float32"))
