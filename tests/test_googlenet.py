"""GoogLeNet: Table 1 of the paper (output sizes and branch widths), parameter arithmetic,
LRN placement, the auxiliary classifiers, the precision/XLA matrix on a narrow
configuration, and every bad argument."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn
from kcnn.layers import InceptionModule, LocalResponseNormalization
from tests.helpers import TOLERANCE
from tests.narrow_training import train_changes_weights

# Table 1 (seeds 000/001): layer -> output size, and for the Inception modules the columns
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
OUTPUTS = {
    "conv1_7x7_s2": (112, 112, 64), "pool1_3x3_s2": (56, 56, 64),
    "conv2_3x3": (56, 56, 192), "pool2_3x3_s2": (28, 28, 192),
    "inception3a": (28, 28, 256), "inception3b": (28, 28, 480),
    "pool3_3x3_s2": (14, 14, 480),
    "inception4a": (14, 14, 512), "inception4b": (14, 14, 512),
    "inception4c": (14, 14, 512), "inception4d": (14, 14, 528),
    "inception4e": (14, 14, 832), "pool4_3x3_s2": (7, 7, 832),
    "inception5a": (7, 7, 832), "inception5b": (7, 7, 1024),
    "avg_pool": (1024,), "dropout": (1024,), "predictions": (1000,),
}
COLUMNS = {
    "inception3a": (64, 96, 128, 16, 32, 32), "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64), "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64), "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128), "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
NARROW = dict(width_multiplier=0.125, input_shape=(65, 65, 3), num_classes=5)


def inception_params(cin, f1, r3, f3, r5, f5, pp):
    return (cin * f1 + f1 + cin * r3 + r3 + 9 * r3 * f3 + f3 + cin * r5 + r5
            + 25 * r5 * f5 + f5 + cin * pp + pp)


def module_inputs():
    """Input channels of each module: the previous module's output channels."""
    cin, out = 192, {}
    for name, (f1, _, f3, _, f5, pp) in COLUMNS.items():
        out[name] = cin
        cin = f1 + f3 + f5 + pp
    return out


@pytest.fixture(scope="module")
def plain():
    return kcnn.build("googlenet")


@pytest.fixture(scope="module")
def with_aux():
    return kcnn.build("googlenet", aux_logits=True)


def test_output_sizes_are_table_1(plain):
    got = {layer.name: tuple(layer.output.shape[1:]) for layer in plain.layers}
    assert {name: got[name] for name in OUTPUTS} == OUTPUTS
    assert plain.get_layer("dropout").rate == 0.4  # "dropout (40%)"


def test_branch_widths_are_table_1(plain):
    cins = module_inputs()
    for name, (f1, r3, f3, r5, f5, pp) in COLUMNS.items():
        block = plain.get_layer(name)
        assert isinstance(block, InceptionModule)
        cin = cins[name]
        kernels = {v.path.split("/")[1]: tuple(v.shape) for v in block.weights
                   if v.name == "kernel"}
        assert kernels == {"1x1": (1, 1, cin, f1), "3x3_reduce": (1, 1, cin, r3),
                           "3x3": (3, 3, r3, f3), "5x5_reduce": (1, 1, cin, r5),
                           "5x5": (5, 5, r5, f5), "pool_proj": (1, 1, cin, pp)}
        assert block.count_params() == inception_params(cin, f1, r3, f3, r5, f5, pp)


def test_parameter_totals_by_arithmetic(plain, with_aux):
    stem = (7 * 7 * 3 * 64 + 64) + (64 * 64 + 64) + (3 * 3 * 64 * 192 + 192)
    cins = module_inputs()
    modules = sum(inception_params(cins[n], *c) for n, c in COLUMNS.items())
    classifier = 1024 * 1000 + 1000
    total = stem + modules + classifier
    # section 5: 5x5/3 avg pool -> 4x4, 1x1 conv 128, fc 1024, linear 1000
    aux = sum(cin * 128 + 128 + 4 * 4 * 128 * 1024 + 1024 + 1024 * 1000 + 1000
              for cin in (512, 528))
    assert (total, total + aux) == (6_998_552, 13_378_280)  # reference.md
    assert plain.count_params() == total
    assert with_aux.count_params() == total + aux


def test_local_response_normalization_as_figure_3(plain):
    names = [layer.name for layer in plain.layers]
    i = names.index("pool1_norm1")
    assert names[i - 1] == "pool1_3x3_s2" and names[i + 1] == "conv2_3x3_reduce"
    j = names.index("conv2_norm2")
    assert names[j - 1] == "conv2_3x3" and names[j + 1] == "pool2_3x3_s2"
    norm = plain.get_layer("conv2_norm2")
    assert isinstance(norm, LocalResponseNormalization)
    # the BVLC reference model's LRN: local_size 5, alpha 1e-4 (divided by 5), beta 0.75, k 1
    assert (norm.size, norm.alpha, norm.beta, norm.k, norm.convention) == \
        (5, 1e-4, 0.75, 1.0, "caffe")
    without = kcnn.build("googlenet", **NARROW, lrn=False)
    assert not any(isinstance(l, LocalResponseNormalization) for l in without.layers)


def test_auxiliary_classifiers(with_aux):
    assert [tuple(o.shape) for o in with_aux.outputs] == [(None, 1000)] * 3
    assert with_aux.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in with_aux.layers}
    assert shapes["aux1_ave_pool"] == (4, 4, 512) and shapes["aux2_ave_pool"] == (4, 4, 528)
    assert shapes["aux1_conv"] == (4, 4, 128) and shapes["aux2_fc"] == (1024,)
    assert with_aux.get_layer("aux1_dropout").rate == 0.7
    pool = with_aux.get_layer("aux2_ave_pool")
    assert (pool.pool_size, pool.strides) == ((5, 5), (3, 3))
    # inference: the main output alone shares the trained weights
    inference = keras.Model(with_aux.inputs, with_aux.outputs[0])
    assert inference.count_params() == 6_998_552


def test_width_multiplier_scales_every_width():
    model = kcnn.build("googlenet", width_multiplier=0.5, input_shape=(64, 64, 3))
    assert model.get_layer("inception3a").output.shape[-1] == 128
    assert model.get_layer("inception5b").output.shape[-1] == 512
    assert model.get_layer("conv2_3x3").output.shape[-1] == 96
    features = kcnn.build("googlenet", **NARROW, include_top=False)
    assert features.output_shape == (None, 3, 3, 128)


def test_narrow_network_under_policy(policy):
    model = kcnn.build("googlenet", **NARROW, aux_logits=True)
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    block = model.get_layer("inception4a")
    assert block.compute_dtype == compute and block.branch_5x5.compute_dtype == compute
    x = np.random.default_rng(0).uniform(0, 1, (2, 65, 65, 3)).astype("float32")
    outputs = model(x, training=False)
    assert len(outputs) == 3
    for y in outputs:
        y = np.asarray(y)
        assert y.dtype == np.float32 and y.shape == (2, 5) and np.all(np.isfinite(y))
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-5)


def test_narrow_network_training_step_with_aux_losses_under_mixed_bfloat16():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = kcnn.build("googlenet", **NARROW, aux_logits=True)
    x = np.random.default_rng(0).uniform(0, 1, (4, 65, 65, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    train_changes_weights(model, x, (y, y, y), loss_weights=[1.0, 0.3, 0.3],
                          loss=["sparse_categorical_crossentropy"] * 3)


@pytest.mark.slow
@pytest.mark.parametrize("policy_name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_narrow_network_under_xla(policy_name):
    """XLA forward pass of the whole network (15-30 s each on a CPU; an XLA training step
    of GoogLeNet takes minutes to compile there, so the XLA gradients are checked on the
    InceptionModule and LocalResponseNormalization layers instead)."""
    keras.mixed_precision.set_dtype_policy(policy_name)
    model = kcnn.build("googlenet", **{**NARROW, "input_shape": (32, 32, 3)})
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    eager = np.asarray(model(x, training=False))
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    np.testing.assert_allclose(np.asarray(xla), eager, atol=TOLERANCE[policy_name])


BAD_ARGUMENTS = [
    ({"aux_logits": True, "include_top": False}, ValueError, "needs `include_top=True`"),
    ({"aux_logits": True, "input_shape": (64, 64, 3)}, ValueError, "minimum size is 65x65"),
    ({"input_shape": (31, 31, 3)}, ValueError, "minimum size is 32x32"),
    ({"aux_logits": 1}, TypeError, "`aux_logits` must be True or False"),
    ({"aux_dropout": 1.0}, ValueError, "`aux_dropout`"),
    ({"lrn": "paper"}, TypeError, "`lrn` must be True or False"),
    ({"width_multiplier": 0.0}, ValueError, "`width_multiplier`"),
    ({"dropout": 2}, ValueError, "`dropout`"),
    ({"pooling": "min", "include_top": False}, ValueError, "`pooling` must be one of"),
    ({"input_shape": (224, 224)}, ValueError, "`input_shape` must be a tuple"),
]


def test_bad_arguments():
    for kwargs, error, match in BAD_ARGUMENTS:
        with pytest.raises(error, match=match) as info:
            kcnn.build("googlenet", **kwargs)
        assert "Received:" in str(info.value), kwargs
