"""BasicBlock, BottleneckBlock and the option A shortcut against a numpy computation of the
paper's blocks, under every dtype policy and XLA; gradients, structure, serialization and
bad arguments."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from kcnn.layers import BasicBlock, BottleneckBlock, ZeroPaddedIdentity
from tests.helpers import TOLERANCE, save_and_reload_in_fresh_process


# === numpy reference (He et al. 2016, section 3; padding as in Caffe/Torch) ===

def np_conv(x, kernel, stride):
    """Convolution with ``(k - 1) // 2`` zero pixels on every side, as the papers' code."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho = (x.shape[1] - k) // stride + 1
    wo = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], ho, wo, kernel.shape[-1]))
    for i in range(k):
        for j in range(k):
            patch = x[:, i:i + stride * ho:stride, j:j + stride * wo:stride, :]
            out += np.einsum("nhwc,co->nhwo", patch, kernel[i, j])
    return out


def np_bn(x, bn, training):
    gamma, beta, mean, var = (np.asarray(w, "float64") for w in
                              (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    if training:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return gamma * (x - mean) / np.sqrt(var + bn.epsilon) + beta


def relu(x):
    return np.maximum(x, 0.0)


def np_shortcut(x, block, kind, training):
    """The paper's options: identity, zero-padded identity (A), projection (B/C)."""
    out_channels = block.filters * type(block).expansion
    if kind == "identity":
        return x
    if kind == "zero_pad":
        sub = x[:, ::block.strides, ::block.strides, :]
        zeros = np.zeros(sub.shape[:-1] + (out_channels - x.shape[-1],))
        return np.concatenate([sub, zeros], axis=-1)
    conv = np.asarray(block.shortcut_conv.kernel, "float64")
    return np_bn(np_conv(x, conv, block.strides), block.shortcut_bn, training)


def np_basic(x, block, kind, training):
    k1, k2 = (np.asarray(c.kernel, "float64") for c in (block.conv1, block.conv2))
    y = relu(np_bn(np_conv(x, k1, block.strides), block.bn1, training))
    y = np_bn(np_conv(y, k2, 1), block.bn2, training)
    return relu(y + np_shortcut(x, block, kind, training))


def np_bottleneck(x, block, kind, training, stride_in_3x3):
    k1, k2, k3 = (np.asarray(c.kernel, "float64") for c in (block.conv1, block.conv2,
                                                            block.conv3))
    s1, s3 = (1, block.strides) if stride_in_3x3 else (block.strides, 1)
    y = relu(np_bn(np_conv(x, k1, s1), block.bn1, training))
    y = relu(np_bn(np_conv(y, k2, s3), block.bn2, training))
    y = np_bn(np_conv(y, k3, 1), block.bn3, training)
    return relu(y + np_shortcut(x, block, kind, training))


def randomize_batch_norms(block, rng):
    for bn in (l for l in block._flatten_layers(include_self=False)
               if isinstance(l, keras.layers.BatchNormalization)):
        c = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, c))
        bn.beta.assign(rng.uniform(-0.5, 0.5, c))
        bn.moving_mean.assign(rng.uniform(-0.3, 0.3, c))
        bn.moving_variance.assign(rng.uniform(0.5, 1.5, c))


# (id, block factory, input channels, expected shortcut, stride on the 3x3)
CASES = [
    ("basic_A_stride2_pad", lambda: BasicBlock(8, strides=2, shortcut="A"), 4, "zero_pad", False),
    ("basic_B_identity", lambda: BasicBlock(4, shortcut="B"), 4, "identity", False),
    ("basic_B_stride2", lambda: BasicBlock(8, strides=2, shortcut="B"), 4, "projection", False),
    ("bottleneck_v1_B_stride2", lambda: BottleneckBlock(2, strides=2), 4, "projection", False),
    ("bottleneck_v15_B_stride2", lambda: BottleneckBlock(2, strides=2, stride_in_3x3=True),
     4, "projection", True),
    ("bottleneck_C_identity_shape", lambda: BottleneckBlock(2, shortcut="C"), 8, "projection",
     False),
    ("bottleneck_A_widen", lambda: BottleneckBlock(2, shortcut="A"), 4, "zero_pad", False),
]


def reference(block, x, kind, training, stride_in_3x3):
    if isinstance(block, BasicBlock):
        return np_basic(x, block, kind, training)
    return np_bottleneck(x, block, kind, training, stride_in_3x3)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_block_matches_numpy(case):
    check_against_numpy(case, "float32")


# the two blocks with every kind of sublayer (strided pads, projection, zero padding)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=[CASES[0][0], CASES[4][0]])
def test_block_matches_numpy_under_mixed_policy(case, policy):
    keras.mixed_precision.set_dtype_policy(policy)  # conftest restores float32
    check_against_numpy(case, policy)


def check_against_numpy(case, policy):
    """Inference and training mode, eager and XLA, against the numpy block."""
    _, make, channels, kind, stride_in_3x3 = case
    rng = np.random.default_rng(1)
    block = make()
    # 6x6: even input sizes are where "same" padding would shift a strided grid
    x = rng.normal(size=(2, 6, 6, channels)).astype("float32")
    block.build(x.shape)
    randomize_batch_norms(block, rng)
    assert block.compute_dtype == keras.mixed_precision.dtype_policy().compute_dtype
    assert block.conv1.compute_dtype == block.compute_dtype  # the policy reached the sublayers
    x64 = x.astype("float64")
    xla_inference = tf.function(lambda t: block(t, training=False), jit_compile=True)
    for training in (False, True):
        expected = reference(block, x64, kind, training, stride_in_3x3)
        tol = TOLERANCE[policy] * max(1.0, np.abs(expected).max())
        eager = np.asarray(block(x, training=training), "float64")
        assert eager.shape == expected.shape == tuple(block.compute_output_shape(x.shape))
        np.testing.assert_allclose(eager, expected, atol=tol, rtol=0)
    expected = reference(block, x64, kind, False, stride_in_3x3)
    np.testing.assert_allclose(np.asarray(xla_inference(x), "float64"), expected,
                               atol=TOLERANCE[policy] * max(1.0, np.abs(expected).max()), rtol=0)


@pytest.mark.parametrize("make, jit", [
    (lambda: BasicBlock(8, strides=2, shortcut="A"), False),
    (lambda: BottleneckBlock(2, strides=2, stride_in_3x3=True), True)],
    ids=["basic_A_graph", "bottleneck_B_xla"])
def test_gradients_reach_every_weight(make, jit):
    block = make()
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 6, 6, 4)), "float32")
    block.build(x.shape)
    weights = block.trainable_weights

    @tf.function(jit_compile=jit)
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x, training=True)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x] + weights)

    g = grads(x)
    assert all(t is not None for t in g)
    for w, t in zip([None] + weights, g):
        t = np.asarray(t)
        assert np.all(np.isfinite(t))
        assert np.abs(t).max() > 0, f"no gradient reaches {w.path if w is not None else 'x'}"


def test_option_a_shortcut_subsamples_and_appends_zero_channels():
    x = np.arange(2 * 5 * 5 * 3, dtype="float32").reshape(2, 5, 5, 3) + 1.0
    layer = ZeroPaddedIdentity(8, strides=2)
    out = np.asarray(layer(x))
    assert out.shape == (2, 3, 3, 8)  # ceil(5 / 2): the grid of a padded stride-2 conv
    np.testing.assert_array_equal(out[..., :3], x[:, 0::2, 0::2, :])
    np.testing.assert_array_equal(out[..., 3:], 0.0)
    assert layer.count_params() == 0
    assert tuple(layer.compute_output_shape((None, 5, 5, 3))) == (None, 3, 3, 8)
    # stride 1, same width: exactly the identity
    np.testing.assert_array_equal(np.asarray(ZeroPaddedIdentity(3)(x)), x)


def test_option_a_block_has_no_shortcut_weights():
    block = BasicBlock(8, strides=2, shortcut="A")
    block.build((None, 6, 6, 4))
    assert block.shortcut_conv is None and block.shortcut_pad is not None
    # two 3x3 convolutions and two BNs: 9*4*8 + 9*8*8 + 2*(2*8)
    trainable = sum(int(np.prod(w.shape)) for w in block.trainable_weights)
    assert trainable == 9 * 4 * 8 + 9 * 8 * 8 + 2 * 2 * 8


SHORTCUT_CHOICES = [
    # the torchvision rule: strides != 1 or in_channels != filters * expansion
    (BasicBlock, 64, 64, 1, "B", "identity"),
    (BasicBlock, 64, 64, 2, "B", "projection"),
    (BasicBlock, 128, 64, 1, "B", "projection"),
    (BottleneckBlock, 64, 64, 1, "B", "projection"),   # conv2_block1 of ResNet-50
    (BottleneckBlock, 64, 256, 1, "B", "identity"),
    (BottleneckBlock, 128, 256, 2, "B", "projection"),
    (BasicBlock, 64, 64, 1, "C", "projection"),
    (BottleneckBlock, 64, 256, 1, "C", "projection"),
    (BasicBlock, 64, 64, 1, "A", "identity"),
    (BasicBlock, 128, 64, 2, "A", "zero_pad"),
    (BottleneckBlock, 64, 64, 1, "A", "zero_pad"),
]


def test_shortcut_choice():
    assert (BasicBlock.expansion, BottleneckBlock.expansion) == (1, 4)
    for case in SHORTCUT_CHOICES:
        block_class, filters, in_channels, strides, shortcut, expected = case
        block = block_class(filters, strides=strides, shortcut=shortcut)
        block.build((None, 8, 8, in_channels))
        kind = ("projection" if block.shortcut_conv is not None else
                "zero_pad" if block.shortcut_pad is not None else "identity")
        assert kind == expected, case


def test_zero_init_residual_makes_the_block_start_as_relu_of_its_input():
    block = BottleneckBlock(2, zero_init_residual=True)
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 8)).astype("float32")
    for training in (False, True):
        np.testing.assert_array_equal(np.asarray(block(x, training=training)),
                                      np.maximum(x, 0))
    np.testing.assert_array_equal(np.asarray(block.bn3.gamma), 0.0)
    for bn in (block.bn1, block.bn2):
        np.testing.assert_array_equal(np.asarray(bn.gamma), 1.0)
    basic = BasicBlock(4, zero_init_residual=True)
    basic.build((None, 5, 5, 4))
    np.testing.assert_array_equal(np.asarray(basic.bn2.gamma), 0.0)
    np.testing.assert_array_equal(np.asarray(basic.bn1.gamma), 1.0)


def test_batch_norm_settings_default_to_torchvision():
    block = BottleneckBlock(2)
    block.build((None, 4, 4, 8))
    for _, bn in block.conv_bn_pairs():
        assert bn.epsilon == 1e-5 and bn.momentum == 0.9
    block = BasicBlock(2, bn_momentum=0.99, bn_epsilon=1.001e-5)  # keras.applications
    block.build((None, 4, 4, 2))
    assert (block.bn1.momentum, block.bn1.epsilon) == (0.99, 1.001e-5)


def test_training_updates_moving_statistics_with_momentum():
    block = BasicBlock(2)
    x = np.random.default_rng(4).normal(1.0, 2.0, size=(4, 4, 4, 2)).astype("float32")
    block.build(x.shape)
    k1 = np.asarray(block.conv1.kernel, "float64")
    batch = np_conv(x.astype("float64"), k1, 1)
    block(x, training=True)
    np.testing.assert_allclose(np.asarray(block.bn1.moving_mean),
                               0.1 * batch.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)


def test_bias_free_convolutions_and_sublayer_names():
    block = BottleneckBlock(4, strides=2, stride_in_3x3=True, name="conv3_block1")
    rows = block.sublayer_shapes((None, 8, 8, 16))
    # keras.applications names, shortcut first; v1.5 pads before the strided 3x3
    assert [layer.name for layer, _, _ in rows] == [
        "0_conv", "0_bn", "1_conv", "1_bn", "1_relu", "2_pad", "2_conv", "2_bn", "2_relu",
        "3_conv", "3_bn", "add", "out"]
    convs = [layer for layer, _, _ in rows if isinstance(layer, keras.layers.Conv2D)]
    assert all(not c.use_bias for c in convs)
    assert {w.path for w in block.weights} >= {"conv3_block1/1_conv/kernel",
                                               "conv3_block1/0_bn/gamma"}
    # every weight of the block belongs to a listed sublayer
    listed = sum(layer.count_params() for layer, _, _ in rows)
    assert listed == block.count_params()


def test_sublayer_shapes_match_running_the_sublayers():
    for block, shape in [(BottleneckBlock(4, strides=2, name="b"), (2, 7, 7, 8)),
                         (BasicBlock(6, strides=2, shortcut="A", name="a"), (2, 7, 7, 3))]:
        rows = block.sublayer_shapes((None,) + shape[1:])
        x = np.random.default_rng(5).normal(size=shape).astype("float32")
        shortcut = main = x
        for layer, in_shape, out_shape in rows:
            if layer.name == "add":
                assert [tuple(s[1:]) for s in in_shape] == [shortcut.shape[1:], main.shape[1:]]
                main = np.asarray(layer([shortcut, main]))
            elif layer.name.startswith("0_"):
                assert tuple(in_shape[1:]) == shortcut.shape[1:]
                shortcut = np.asarray(layer(shortcut))
                assert tuple(out_shape[1:]) == shortcut.shape[1:]
                continue
            else:
                if layer.name != "out":
                    assert tuple(in_shape[1:]) == main.shape[1:]
                main = np.asarray(layer(main))
            assert tuple(out_shape[1:]) == main.shape[1:], layer.name
        np.testing.assert_allclose(main, np.asarray(block(x)), atol=1e-5)


def test_conv_bn_pairs_cover_every_batch_norm():
    block = BottleneckBlock(4, strides=2)
    block.build((None, 8, 8, 8))
    pairs = block.conv_bn_pairs()
    assert [(c.name, b.name) for c, b in pairs] == [
        ("0_conv", "0_bn"), ("1_conv", "1_bn"), ("2_conv", "2_bn"), ("3_conv", "3_bn")]
    all_bns = [l for l in block._flatten_layers(include_self=False)
               if isinstance(l, keras.layers.BatchNormalization)]
    assert sorted(b.name for _, b in pairs) == sorted(b.name for b in all_bns)
    for conv, bn in pairs:  # the conv's output feeds its BN
        assert conv.filters == bn.gamma.shape[0]


def test_get_config_returns_the_constructor_arguments():
    for cls, extra in [(BasicBlock, {}), (BottleneckBlock, {"stride_in_3x3": True})]:
        kwargs = dict(filters=3, strides=2, shortcut="C", zero_init_residual=True,
                      activation="elu", bn_momentum=0.5, bn_epsilon=1e-3,
                      kernel_initializer="glorot_uniform", **extra)
        block = cls(name="blk", **kwargs)
        config = block.get_config()
        params = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        assert {k: config[k] for k in params} == kwargs
        block.build((None, 6, 6, 4))
        assert block.get_config() == config  # build changes nothing
        clone = cls.from_config(config)
        assert clone.get_config() == config
    init = keras.initializers.HeNormal(seed=1)
    config = BasicBlock(2, kernel_initializer=init).get_config()
    assert isinstance(BasicBlock.from_config(config).kernel_initializer, keras.initializers.HeNormal)


def test_saved_model_reloads_in_fresh_process_with_its_policy(tmp_path):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    inputs = keras.Input((8, 8, 3))
    x = BasicBlock(4, strides=2, shortcut="A", name="conv2_block1")(inputs)
    x = BottleneckBlock(2, strides=2, stride_in_3x3=True, zero_init_residual=True,
                        name="conv3_block1")(x)
    x = BottleneckBlock(2, shortcut="C", name="conv3_block2")(x)
    outputs = keras.layers.GlobalAveragePooling2D(dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    keras.mixed_precision.set_dtype_policy("float32")
    rng = np.random.default_rng(6)
    data = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    for layer in model.layers[1:]:
        randomize_batch_norms(layer, rng)

    reloaded = keras.saving.load_model(_save(model, tmp_path / "in_process.keras"))
    assert [w.path for w in reloaded.weights] == [w.path for w in model.weights]
    block = reloaded.get_layer("conv3_block1")
    assert block.conv2.dtype_policy.name == "mixed_float16"
    assert block.stride_in_3x3 and block.shortcut_conv is not None

    expected, got = save_and_reload_in_fresh_process(model, tmp_path / "blocks.keras", data)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-3, rtol=1e-3)


def _save(model, path):
    model.save(path)
    return path


BAD_BLOCK_ARGUMENTS = [
    ({"filters": 0}, ValueError, "filters"),
    ({"filters": 2.5}, TypeError, "filters"),
    ({"filters": 4, "strides": 0}, ValueError, "strides"),
    ({"filters": 4, "shortcut": "D"}, ValueError, "shortcut"),
    ({"filters": 4, "shortcut": "b"}, ValueError, "shortcut"),
    ({"filters": 4, "zero_init_residual": "yes"}, TypeError, "zero_init_residual"),
    ({"filters": 4, "bn_momentum": 1.0}, ValueError, "bn_momentum"),
    ({"filters": 4, "bn_epsilon": 0.0}, ValueError, "bn_epsilon"),
    ({"filters": 4, "activation": None}, ValueError, "activation"),
    ({"filters": 4, "activation": "relu7"}, ValueError, "activation"),
    ({"filters": 4, "kernel_initializer": "nope"}, ValueError, "nope"),
]


def test_bad_block_arguments():
    for kwargs, error, match in BAD_BLOCK_ARGUMENTS:
        for cls in (BasicBlock, BottleneckBlock):
            with pytest.raises(error, match=match) as info:
                cls(**kwargs)
            if match != "nope":  # Keras's own message for an unknown initializer
                assert "Received:" in str(info.value), kwargs


def test_bad_block_inputs():
    with pytest.raises(TypeError, match="stride_in_3x3"):
        BottleneckBlock(4, stride_in_3x3=1)
    with pytest.raises(ValueError, match="height, width, channels"):
        BasicBlock(4).build((None, 8, 4))
    with pytest.raises(ValueError, match="input channels"):
        BasicBlock(4).build((None, 8, 8, None))
    with pytest.raises(ValueError, match="shortcut='B'.*Received: input_shape"):
        BasicBlock(8, shortcut="A").build((None, 8, 8, 16))
    with pytest.raises(ValueError, match="filters=4"):
        ZeroPaddedIdentity(4).build((None, 8, 8, 6))
    with pytest.raises(ValueError, match="filters"):
        ZeroPaddedIdentity(0)
