import keras
import numpy as np
import pytest
import tensorflow as tf

from kcnn.layers import L2Pooling2D, MaxAveragePooling2D, pooling

RNG = np.random.default_rng(1)
# Seed 004's max-pooling example (kernel 2x2, stride 2).
SEED_INPUT = np.array([[4, 1, -3, 1], [2, 0, -2, 3], [4, 2, -1, 2], [2, 1, -1, 0]], "float32")


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _windows(x, pool, strides, padding):
    """Yields (i, j, window, valid mask) over an (H, W, C) array the TensorFlow way:
    "same" gives ceil(size / stride) outputs and pads the smaller half before."""
    (kh, kw), (sh, sw) = pool, strides
    h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow, top, left, ph, pw = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0, 0, 0
    padded = np.zeros((h + ph, w + pw, c))
    mask = np.zeros((h + ph, w + pw, 1), bool)
    padded[top:top + h, left:left + w] = x
    mask[top:top + h, left:left + w] = True
    for i in range(oh):
        for j in range(ow):
            sl = (slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))
            yield i, j, padded[sl], mask[sl]


def _pool_numpy(x, pool, strides, padding, reduce):
    outs = []
    for image in x:
        cells = list(_windows(image, pool, strides, padding))
        oh, ow = cells[-1][0] + 1, cells[-1][1] + 1
        out = np.zeros((oh, ow, image.shape[-1]))
        for i, j, window, mask in cells:
            out[i, j] = reduce(window, np.broadcast_to(mask, window.shape))
        outs.append(out)
    return np.stack(outs)


def _l2(window, mask):
    return np.sqrt((window ** 2).sum(axis=(0, 1)))


def _max(window, mask):
    return np.where(mask, window, -np.inf).max(axis=(0, 1))


def _avg(window, mask):
    return (window * mask).sum(axis=(0, 1)) / mask.sum(axis=(0, 1))


def test_seed_004_max_pooling_example():
    layer = pooling.get("max", pool_size=2)
    out = _np(layer(SEED_INPUT[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[4, 3], [4, 2]])
    np.testing.assert_array_equal(out, _pool_numpy(SEED_INPUT[None, :, :, None], (2, 2), (2, 2),
                                                   "valid", _max)[0, :, :, 0])


CASES = [((2, 2), None, "valid"), ((3, 3), (2, 2), "valid"), ((3, 3), (2, 2), "same"),
         ((2, 3), (1, 2), "same"), ((3, 2), (2, 1), "valid")]


@pytest.mark.parametrize("pool_size, strides, padding", CASES)
def test_l2_and_max_average_pooling_match_numpy(pool_size, strides, padding):
    x = RNG.normal(size=(2, 7, 6, 3)).astype("float32")
    steps = strides or pool_size
    l2 = L2Pooling2D(pool_size, strides, padding)
    expected = _pool_numpy(x, pool_size, steps, padding, _l2)
    np.testing.assert_allclose(_np(l2(x)), expected, atol=1e-5)
    assert l2.compute_output_shape(x.shape) == expected.shape

    mixed = MaxAveragePooling2D(pool_size, strides, padding, alpha=0.3)
    expected = (0.3 * _pool_numpy(x, pool_size, steps, padding, _max)
                + 0.7 * _pool_numpy(x, pool_size, steps, padding, _avg))
    np.testing.assert_allclose(_np(mixed(x)), expected, atol=1e-5)
    assert mixed.compute_output_shape(x.shape) == expected.shape


def test_max_average_pooling_spans_keras_max_and_average_pooling():
    x = RNG.normal(size=(2, 9, 9, 4)).astype("float32")
    for padding in ("valid", "same"):
        args = dict(pool_size=3, strides=2, padding=padding)
        np.testing.assert_allclose(_np(MaxAveragePooling2D(alpha=1.0, **args)(x)),
                                   _np(keras.layers.MaxPooling2D(**args)(x)), atol=1e-6)
        np.testing.assert_allclose(_np(MaxAveragePooling2D(alpha=0.0, **args)(x)),
                                   _np(keras.layers.AveragePooling2D(**args)(x)), atol=1e-6)


def test_learned_mixing_weight_trains_and_stays_in_the_unit_interval():
    layer = MaxAveragePooling2D(2, alpha=0.9, learn_alpha=True)
    x = tf.constant(RNG.normal(size=(4, 6, 6, 2)).astype("float32"))
    layer(x)
    assert [w.name for w in layer.trainable_weights] == ["alpha"]
    optimizer = keras.optimizers.SGD(learning_rate=10.0)
    for _ in range(3):  # maximizing the output pushes alpha towards max pooling (> 1)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(layer(x))
        optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights),
                                      layer.trainable_weights))
    assert float(layer.mixing) == 1.0
    assert MaxAveragePooling2D(2).weights == []


def test_l2_pooling_of_zeros_has_zero_gradient_and_sums_squares_in_float32():
    x = tf.Variable(np.zeros((1, 4, 4, 2), "float32"))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(L2Pooling2D(2)(x))
    grad = tape.gradient(y, x)
    assert float(y) == 0 and np.all(np.isfinite(_np(grad))) and float(tf.reduce_sum(grad)) == 0
    big = np.full((1, 2, 2, 1), 300.0, "float32")  # 300^2 overflows float16
    out = L2Pooling2D(2, dtype="mixed_float16")(big)
    assert out.dtype == "float16" and float(out[0, 0, 0, 0]) == pytest.approx(600, rel=1e-3)


def test_resolver_names_and_arguments():
    for name, cls in [("max", keras.layers.MaxPooling2D), ("AVG", keras.layers.AveragePooling2D),
                      ("average", keras.layers.AveragePooling2D), ("l2", L2Pooling2D),
                      ("max_avg", MaxAveragePooling2D), ("Max_Average", MaxAveragePooling2D)]:
        layer = pooling.get(name, pool_size=3, strides=2, padding="same", name="pool1")
        assert type(layer) is cls and layer.name == "pool1"
        assert tuple(layer.pool_size) == (3, 3) and tuple(layer.strides) == (2, 2)
        assert layer.padding == "same"
    assert pooling.get(None, pool_size=2) is None
    assert tuple(pooling.get("l2", pool_size=2).strides) == (2, 2)
    with pytest.raises(ValueError, match="Did you mean 'max_avg'.*Received: stage_pooling="):
        pooling.get("max_ag", pool_size=2, argument="stage_pooling")
    with pytest.raises(TypeError, match="Received: pooling=2"):
        pooling.get(2, pool_size=2)
    assert set(pooling.names()) == {"max", "avg", "average", "l2", "max_avg", "max_average"}


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="`padding` must be one of.*Received: padding='full'"):
        L2Pooling2D(2, padding="full")
    with pytest.raises(ValueError, match="Received: alpha=1.5"):
        MaxAveragePooling2D(alpha=1.5)
    with pytest.raises(ValueError, match="`pool_size`"):
        L2Pooling2D(0)
    with pytest.raises(ValueError, match="ndim=4"):
        L2Pooling2D(2)(np.zeros((4, 4, 1), "float32"))
