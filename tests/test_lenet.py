"""LeNet-5's own layers against numpy, and the paper's layer sizes."""

import keras
import numpy as np
import pytest

import kcnn
from kcnn.activations import lecun_tanh
from kcnn.layers.lenet import LENET5_C3_TABLE, EuclideanRBF, PartialConv2D, Subsampling2D
from tests.helpers import TOLERANCE, run_fresh


def numpy_valid_conv(x, kernel, bias):
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    out = np.zeros((n, h - k + 1, w - k + 1, kernel.shape[-1]))
    for i in range(h - k + 1):
        for j in range(w - k + 1):
            patch = x[:, i:i + k, j:j + k, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def test_c3_connection_table_is_the_papers():
    assert len(LENET5_C3_TABLE) == 16
    sizes = [len(c) for c in LENET5_C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert sum(sizes) == 60  # 60 * 25 weights + 16 biases = 1,516 trainable parameters
    # each S2 map feeds the same number of C3 maps (the table is symmetric by rotation)
    fan_out = np.bincount([i for c in LENET5_C3_TABLE for i in c], minlength=6)
    assert fan_out.tolist() == [10] * 6


def test_partial_conv_equals_numpy_with_unconnected_slices_zero():
    rng = np.random.default_rng(0)
    layer = PartialConv2D(kernel_size=5)
    x = rng.normal(size=(2, 9, 9, 6)).astype("float32")
    y = np.asarray(layer(x))
    assert layer.count_params() == 1_516
    kernel = np.asarray(layer.full_kernel())
    for out, inputs in enumerate(LENET5_C3_TABLE):
        unconnected = [i for i in range(6) if i not in inputs]
        assert np.all(kernel[:, :, unconnected, out] == 0)
        assert np.all(kernel[:, :, list(inputs), out] != 0)
    layer.bias.assign(rng.normal(size=16).astype("float32"))
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y, numpy_valid_conv(x, kernel, np.asarray(layer.bias)),
                               rtol=1e-4, atol=1e-4)


def test_partial_conv_rejects_bad_tables():
    with pytest.raises(ValueError, match="connections"):
        PartialConv2D(connections=[])
    with pytest.raises(ValueError, match=r"connections\[0\]"):
        PartialConv2D(connections=[(0, 0)])
    with pytest.raises(ValueError, match="input map 5"):
        PartialConv2D()(np.zeros((1, 8, 8, 3), "float32"))


def test_subsampling_is_coefficient_times_window_sum_plus_bias():
    rng = np.random.default_rng(1)
    layer = Subsampling2D(2)
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    layer.build(x.shape)
    coef = rng.normal(size=3).astype("float32")
    bias = rng.normal(size=3).astype("float32")
    layer.coefficient.assign(coef)
    layer.bias.assign(bias)
    expected = x.reshape(2, 3, 2, 3, 2, 3).sum(axis=(2, 4)) * coef + bias
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)
    assert layer.count_params() == 6


def test_rbf_gives_squared_distances_to_fixed_digit_bitmaps():
    layer = EuclideanRBF(10, negate=False)
    x = np.random.default_rng(2).normal(size=(3, 84)).astype("float32")
    y = np.asarray(layer(x))
    w = np.asarray(layer.kernel)
    assert set(np.unique(w)) == {-1.0, 1.0}
    assert not layer.trainable_weights
    expected = ((x[:, :, None] - w[None]) ** 2).sum(axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-4)
    # each bitmap is closest to itself
    assert np.argmin(np.asarray(layer(w.T)), axis=1).tolist() == list(range(10))
    with pytest.raises(ValueError, match="units=10"):
        EuclideanRBF(5, prototypes="digits")


def test_lecun_tanh_maps_plus_minus_one_to_themselves():
    y = np.asarray(lecun_tanh(np.array([-1.0, 0.0, 1.0], "float32")))
    np.testing.assert_allclose(y, [-1.0, 0.0, 1.0], atol=2e-4)


def test_paper_layer_sizes():
    model = kcnn.build("lenet5")
    shapes = {l.name: tuple(l.output.shape[1:]) for l in model.layers}
    assert shapes["c1"] == (28, 28, 6)
    assert shapes["s2"] == (14, 14, 6)
    assert shapes["c3"] == (10, 10, 16)
    assert shapes["s4"] == (5, 5, 16)
    assert shapes["c5"] == (1, 1, 120)
    assert shapes["f6"] == (84,)
    per_layer = {l.name: sum(int(np.prod(w.shape)) for w in l.trainable_weights)
                 for l in model.layers}
    assert per_layer["c1"] == 156 and per_layer["s2"] == 12 and per_layer["c3"] == 1_516
    assert per_layer["s4"] == 32 and per_layer["c5"] == 48_120 and per_layer["f6"] == 10_164
    assert per_layer["rbf"] == 0


@pytest.mark.parametrize("jit", [False, True])
def test_lenet_layers_under_policies_and_xla(policy, jit):
    import tensorflow as tf

    x = np.random.default_rng(3).normal(size=(2, 14, 14, 6)).astype("float32")
    for make in (lambda **kw: PartialConv2D(kernel_size=5, **kw),
                 lambda **kw: Subsampling2D(2, **kw)):
        reference = make(dtype="float32")
        reference.build(x.shape)
        layer = make()
        layer.build(x.shape)
        layer.set_weights(reference.get_weights())
        assert layer.compute_dtype == keras.mixed_precision.dtype_policy().compute_dtype
        call = tf.function(layer, jit_compile=True) if jit else layer
        out = np.asarray(keras.ops.convert_to_numpy(call(x)), dtype="float64")
        np.testing.assert_allclose(out, np.asarray(reference(x), dtype="float64"),
                                   atol=TOLERANCE[policy] * 20, rtol=TOLERANCE[policy] * 5)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(layer(x), "float32"))
        grads = tape.gradient(loss, layer.trainable_weights)
        assert all(g is not None and np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_lenet_layers_reload_in_fresh_process(tmp_path):
    inputs = keras.Input((14, 14, 6))
    x = PartialConv2D(kernel_size=5, activation="lecun_tanh", name="c3")(inputs)
    x = Subsampling2D(2, name="s4")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(84)(x)
    out = EuclideanRBF(10, name="rbf")(x)
    model = keras.Model(inputs, out)
    data = np.random.default_rng(4).normal(size=(2, 14, 14, 6)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", data)
    got = run_fresh(f"""
        import json, numpy as np, keras, kcnn
        m = keras.saving.load_model({str(tmp_path / 'm.keras')!r})
        print(json.dumps(np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}))).tolist()))
    """)
    np.testing.assert_allclose(np.asarray(got), np.asarray(model(data)), rtol=1e-5, atol=1e-5)
