"""ResNet builders: Table 1 and section 4.2 of the paper, keras.applications' ResNet50, the
family options, the precision and XLA matrix on narrow networks, and bad arguments.

(Full-size builds with reference counts and a fresh-process reload of every registered
network are in test_zoo.py.)"""

import keras
import numpy as np
import pytest

import kcnn
from kcnn.layers import BasicBlock, BottleneckBlock
from kcnn.models.resnet import resnet
from tests.helpers import TOLERANCE

# Blocks per stage: Table 1 (ImageNet) and n of section 4.2 (CIFAR: 6n + 2 layers).
PAPER_STAGES = {
    "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3),
    "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3),
    "resnet20": (3, 3, 3), "resnet32": (5, 5, 5), "resnet44": (7, 7, 7),
    "resnet56": (9, 9, 9), "resnet110": (18, 18, 18),
}
NARROW_CIFAR = {"input_shape": (16, 16, 3), "stackwise_num_filters": (4, 8, 16)}
# ResNet-8: one block per stage, still every kind of sublayer (option A pads, strided pads)
NARROW_MATRIX = {"input_shape": (8, 8, 3), "stackwise_num_filters": (4, 8, 16),
                 "stackwise_num_blocks": (1, 1, 1)}
NARROW_IMAGENET = {"input_shape": (64, 64, 3), "stackwise_num_filters": (2, 4, 4, 8),
                   "stackwise_num_blocks": (2, 1, 1, 1)}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def blocks_of(model):
    return [l for l in model.layers if isinstance(l, (BasicBlock, BottleneckBlock))]


def shape(model, name):
    return tuple(model.get_layer(name).output.shape[1:])


def test_registry_metadata_follows_the_paper():
    assert kcnn.list_models("resnet*") == ["resnet18", "resnet20", "resnet32", "resnet34",
                                           "resnet44", "resnet50", "resnet56", "resnet101",
                                           "resnet110", "resnet152"]
    for name, stages in PAPER_STAGES.items():
        spec = kcnn.get_spec(name)
        cifar = len(stages) == 3
        assert spec.family == "resnet" and spec.paper == "arXiv:1512.03385"
        assert spec.input_shape == ((32, 32, 3) if cifar else (224, 224, 3))
        assert spec.feature_layers == tuple(f"conv{s + 2}_block{n}"
                                            for s, n in enumerate(stages))
        assert spec.recipe == ("resnet_cifar10" if cifar else "resnet_imagenet")
        assert spec.preprocessing == ("cifar_mean" if cifar else "imagenet_mean")
        assert dict(spec.reference_kwargs) == ({"num_classes": 10} if cifar else {})


def test_resnet50_stage_shapes_at_224_and_keras_applications():
    resnet50 = kcnn.build("resnet50")
    assert shape(resnet50, "conv1_conv") == (112, 112, 64)
    assert shape(resnet50, "pool1_pool") == (56, 56, 64)
    expected = {"conv2_block3": (56, 56, 256), "conv3_block4": (28, 28, 512),
                "conv4_block6": (14, 14, 1024), "conv5_block3": (7, 7, 2048)}
    for name, size in expected.items():
        assert shape(resnet50, name) == size
    assert [b.name for b in blocks_of(resnet50)] == [
        f"conv{s + 2}_block{i + 1}" for s, n in enumerate((3, 4, 6, 3)) for i in range(n)]
    assert tuple(resnet50.output_shape) == (None, 1000)
    # the stem keeps keras.applications' names
    for name in ("conv1_pad", "conv1_bn", "conv1_relu", "pool1_pad", "avg_pool",
                 "predictions"):
        resnet50.get_layer(name)

    # keras.applications' ResNet50: same stages and blocks, a bias in every convolution
    reference = keras.applications.ResNet50(weights=None)
    for s, n in enumerate((3, 4, 6, 3)):
        for i in range(n):
            ours = f"conv{s + 2}_block{i + 1}"
            assert shape(resnet50, ours) == shape(reference, ours + "_out")
    conv_biases = sum(l.filters for l in reference.layers
                      if isinstance(l, keras.layers.Conv2D) and l.use_bias)
    assert conv_biases == 26_560
    assert trainable_count(reference) - trainable_count(resnet50) == conv_biases
    # projections exactly where keras.applications has its conv_shortcut blocks
    projections = [b.name for b in blocks_of(resnet50) if b.shortcut_conv is not None]
    assert projections == [l.name[:-len("_0_conv")] for l in reference.layers
                           if l.name.endswith("_0_conv")]


def test_resnet18_uses_basic_blocks_with_projections_where_the_width_doubles():
    model = kcnn.build("resnet18", input_shape=(64, 64, 3), num_classes=7)
    blocks = blocks_of(model)
    assert all(type(b) is BasicBlock for b in blocks)
    assert [b.name for b in blocks if b.shortcut_conv is not None] == [
        "conv3_block1", "conv4_block1", "conv5_block1"]
    assert [shape(model, f"conv{s}_block2") for s in (2, 3, 4, 5)] == [
        (16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512)]
    # ResNet-18 at another input size and class count: only the classifier changes
    assert trainable_count(model) == 11_689_512 - 513 * 1000 + 513 * 7


@pytest.mark.parametrize("name, n", [("resnet20", 3)])
def test_cifar_resnets_follow_section_4_2(name, n):
    model = kcnn.build(name)
    assert tuple(model.input_shape) == (None, 32, 32, 3) and tuple(model.output_shape) == (
        None, 10)
    assert shape(model, "conv1_conv") == (32, 32, 16)
    assert [shape(model, f"conv{s}_block{n}") for s in (2, 3, 4)] == [
        (32, 32, 16), (16, 16, 32), (8, 8, 64)]
    weighted = [l for l in model._flatten_layers()  # blocks' sublayers included
                if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(weighted) == 6 * n + 2  # option A: no projection convolutions
    option_b = kcnn.build(name, shortcut="B")
    # two projections (1x1 conv + BN): 16 -> 32 and 32 -> 64
    assert trainable_count(option_b) - trainable_count(model) == (
        16 * 32 + 2 * 32) + (32 * 64 + 2 * 64) == 2_752


def test_family_options_reach_every_block():
    model = kcnn.build("resnet50", stride_in_3x3=True, zero_init_residual=True,
                       shortcut="C", **NARROW_IMAGENET)
    for block in blocks_of(model):
        assert block.stride_in_3x3 and block.shortcut_conv is not None
        np.testing.assert_array_equal(np.asarray(block.bn3.gamma), 0.0)
        np.testing.assert_array_equal(np.asarray(block.bn1.gamma), 1.0)
        strided = block.strides == 2
        assert block.conv1.strides == (1, 1)
        assert block.conv2.strides == ((2, 2) if strided else (1, 1))
    v1 = kcnn.build("resnet50", **NARROW_IMAGENET)
    for block in blocks_of(v1):
        assert block.conv1.strides == (block.strides,) * 2 and block.conv2.strides == (1, 1)
    v15 = kcnn.build("resnet50", stride_in_3x3=True, **NARROW_IMAGENET)
    assert trainable_count(v15) == trainable_count(v1)  # v1.5 only moves the stride
    # option C adds a projection to each identity-shaped block: (4*f)^2 + 2*(4*f)
    identity_blocks = [b for b in blocks_of(v1) if b.shortcut_conv is None]
    assert [b.name for b in identity_blocks] == ["conv2_block2"]
    c = kcnn.build("resnet50", shortcut="C", **NARROW_IMAGENET)
    assert trainable_count(c) - trainable_count(v1) == 8 * 8 + 2 * 8


def test_stackwise_overrides_and_model_names():
    model = kcnn.models.resnet.resnet20(stackwise_num_blocks=(1, 2, 1),
                                        stackwise_num_filters=(8, 16, 32), name="tuned")
    assert model.name == "tuned"
    assert [b.name for b in blocks_of(model)] == [
        "conv2_block1", "conv3_block1", "conv3_block2", "conv4_block1"]
    assert shape(model, "conv1_conv") == (32, 32, 8)  # stem as wide as the first stage
    assert shape(model, "conv4_block1") == (8, 8, 32)
    assert kcnn.build("resnet20", **NARROW_CIFAR).name == "resnet20"
    # the generic builder: a two-stage bottleneck network on the CIFAR stem
    two = resnet(block="bottleneck", stackwise_num_blocks=(1, 1), stackwise_num_filters=(4, 8),
                 stem="cifar", num_classes=3)
    assert tuple(two.output_shape) == (None, 3)
    assert shape(two, "conv3_block1") == (16, 16, 32)


def test_headless_outputs():
    for pooling, expected, last in [(None, (None, 4, 4, 16), "conv4_block3"),
                                    ("avg", (None, 16), "avg_pool"),
                                    ("max", (None, 16), "max_pool")]:
        model = kcnn.build("resnet20", include_top=False, pooling=pooling,
                           stackwise_num_blocks=(1, 1, 1), **NARROW_CIFAR)
        assert tuple(model.output_shape) == expected
        assert model.get_layer(index=-1).name == last.replace("block3", "block1")


def test_minimum_and_variable_input_sizes():
    model = kcnn.build("resnet50", input_shape=(32, 32, 3), **{
        k: v for k, v in NARROW_IMAGENET.items() if k != "input_shape"})
    assert shape(model, "conv5_block1") == (1, 1, 32)
    model = kcnn.build("resnet20", input_shape=(None, None, 1), include_top=False,
                       stackwise_num_filters=(4, 8, 16))
    out = model(np.zeros((1, 20, 12, 1), "float32"))
    assert tuple(out.shape) == (1, 5, 3, 16)  # ceil(20/4), ceil(12/4)


# Every policy in graph mode; XLA with mixed_float16 (loss scaling inside the compiled step),
# and with mixed_bfloat16 among the slow tests: XLA compilation dominates the suite's time.
# Blocks are checked under XLA with every policy in test_residual.py.
@pytest.mark.parametrize("policy, jit", [
    ("float32", False), ("mixed_float16", False), ("mixed_bfloat16", False),
    ("mixed_float16", True), pytest.param("mixed_bfloat16", True, marks=pytest.mark.slow)])
def test_narrow_resnet_under_policy(policy, jit):
    reference = kcnn.build("resnet20", classifier_activation=None, **NARROW_MATRIX)
    keras.mixed_precision.set_dtype_policy(policy)
    model = kcnn.build("resnet20", classifier_activation=None, **NARROW_MATRIX)
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    block = model.get_layer("conv3_block1")
    assert block.compute_dtype == block.conv1.compute_dtype == compute
    assert block.shortcut_pad.compute_dtype == compute
    model.set_weights(reference.get_weights())
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    # inference: the same weights give the float32 logits within the policy's tolerance
    expected = np.asarray(reference(x, training=False))
    got = model(x, training=False)
    assert got.dtype == "float32"
    np.testing.assert_allclose(np.asarray(got), expected,
                               atol=TOLERANCE[policy] * max(1.0, np.abs(expected).max()))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    y = rng.integers(0, 10, 4)
    before = [np.array(w) for w in model.trainable_weights]
    for _ in range(8):  # a dynamic loss scale may skip the first float16 steps
        assert np.isfinite(float(model.train_on_batch(x, y)))
        if not np.allclose(np.asarray(model.trainable_weights[0]), before[0]):
            break
    changed = [not np.allclose(np.asarray(w), b)
               for w, b in zip(model.trainable_weights, before)]
    assert all(changed), "a weight did not train"
    out = np.asarray(model(x, training=False))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))


BAD = [
    ("resnet20", {"input_shape": (3, 3, 3)}, ValueError, "minimum size is 4x4"),
    ("resnet50", {"input_shape": (31, 31, 3)}, ValueError, "minimum size is 32x32"),
    ("resnet50", {"input_shape": (224, 224)}, ValueError, "input_shape"),
    ("resnet50", {"input_shape": (224, 224, None)}, ValueError, "channels"),
    ("resnet20", {"num_classes": 0}, ValueError, "num_classes"),
    ("resnet20", {"num_classes": 2.0}, TypeError, "num_classes"),
    ("resnet20", {"include_top": "no"}, TypeError, "include_top"),
    ("resnet20", {"include_top": False, "pooling": "bogus"}, ValueError, "pooling"),
    ("resnet20", {"classifier_activation": "softmaxx"}, ValueError, "classifier_activation"),
    ("resnet20", {"shortcut": "D"}, ValueError, "shortcut"),
    ("resnet50", {"stride_in_3x3": "yes"}, TypeError, "stride_in_3x3"),
    ("resnet20", {"zero_init_residual": None}, TypeError, "zero_init_residual"),
    ("resnet20", {"stackwise_num_blocks": (3, 3)}, ValueError, "one entry per stage"),
    ("resnet20", {"stackwise_num_blocks": (3, 0, 3)}, ValueError, "stackwise_num_blocks"),
    ("resnet20", {"stackwise_num_blocks": 3}, TypeError, "stackwise_num_blocks"),
    ("resnet50", {"stackwise_num_filters": "wide"}, TypeError, "stackwise_num_filters"),
    ("resnet50", {"stackwise_num_filters": (), "stackwise_num_blocks": ()}, ValueError,
     "at least one stage"),
]


def test_bad_arguments():
    for name, kwargs, error, match in BAD:  # one test: each case builds nothing
        with pytest.raises(error, match=match) as info:
            kcnn.build(name, **kwargs)
        assert "Received:" in str(info.value), (name, kwargs)


def test_bad_generic_arguments():
    with pytest.raises(ValueError, match="block.*Received: block='huge'"):
        resnet(block="huge")
    with pytest.raises(ValueError, match="stem"):
        resnet(stem="tiny")
    with pytest.raises(ValueError, match="stem_filters"):
        resnet(stem_filters=0)
    with pytest.raises(ValueError, match="stem_filters.*at most 16"):
        resnet(block="basic", stem="cifar", stackwise_num_blocks=(1, 1, 1),
               stackwise_num_filters=(16, 32, 64), stem_filters=32, shortcut="A")
    with pytest.raises(TypeError, match="unexpected keyword argument 'shortcutt'"):
        kcnn.build("resnet20", shortcutt="B")
    with pytest.raises(TypeError):
        kcnn.models.resnet.resnet50((224, 224, 3))  # keyword-only


def test_variant_functions_show_exactly_the_arguments_that_act():
    import inspect

    full = set(inspect.signature(resnet).parameters) - {"block", "stem"}
    for name, variant in kcnn.models.resnet.VARIANTS.items():
        fn = getattr(kcnn.models.resnet, name)
        params = inspect.signature(fn).parameters
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values())
        expected = set(full)
        if variant.block == "basic":
            expected.discard("stride_in_3x3")
        if variant.stem == "cifar":
            expected.discard("stem_pool")
        assert set(params) == expected, name
        assert params["stackwise_num_blocks"].default == variant.stackwise_num_blocks
        assert params["name"].default == name
        assert "resnet" in fn.__doc__ and f"{kcnn.get_spec(name).params:,}" in fn.__doc__
    assert inspect.signature(kcnn.models.resnet.resnet20).parameters["shortcut"].default == "A"
    # an argument that does nothing for a network is refused, naming it
    for name, kwargs in [("resnet18", {"stride_in_3x3": True}),
                         ("resnet20", {"stride_in_3x3": False}),
                         ("resnet56", {"stem_pool": "caffe"})]:
        key = next(iter(kwargs))
        with pytest.raises(TypeError, match=f"{key}.*no effect.*Received: {key}="):
            kcnn.build(name, **kwargs)
    with pytest.raises(ValueError, match="stride_in_3x3.*bottleneck"):
        resnet(block="basic", stride_in_3x3=True)
    with pytest.raises(ValueError, match="stem_pool.*CIFAR"):
        resnet(block="basic", stem="cifar", stem_pool="padded")
    with pytest.raises(ValueError, match="stem_pool.*Received: stem_pool='same'"):
        kcnn.build("resnet50", stem_pool="same")
    for key, value, error in [("bn_epsilon", 0.0, ValueError), ("bn_momentum", 1.0, ValueError),
                              ("bn_epsilon", "small", TypeError),
                              ("kernel_initializer", "he_gaussian", ValueError)]:
        with pytest.raises(error, match=f"{key}.*Received: {key}="):
            kcnn.build("resnet18", **{key: value})


def test_stem_options_reach_the_layers():
    model = kcnn.build("resnet50", stem_filters=8, bn_epsilon=1.001e-5, bn_momentum=0.99,
                       kernel_initializer="he_normal", **NARROW_IMAGENET)
    assert model.get_layer("conv1_conv").filters == 8
    bns = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert {(l.epsilon, l.momentum) for l in bns} == {(1.001e-5, 0.99)}
    block = model.get_layer("conv2_block1")
    assert block.kernel_initializer == "he_normal"
    assert model.get_layer("pool1_pad").padding == ((1, 1), (1, 1))


@pytest.mark.parametrize("size", [64, 65, 66, 67])
def test_caffe_stem_pool_is_unpadded_round_up_pooling(size):
    """Caffe's pooling: ceil((h - 3) / 2) + 1 windows starting at pixel 0, the last one
    clipped at the border."""
    model = resnet(block="basic", stackwise_num_blocks=(1,), stackwise_num_filters=(2,),
                   stem_pool="caffe", input_shape=(size, size, 3), include_top=False)
    stem = keras.Model(model.input, [model.get_layer("conv1_relu").output,
                                     model.get_layer("pool1_pool").output])
    x = np.random.default_rng(size).normal(size=(1, size, size, 3)).astype("float32")
    relu, pooled = (np.asarray(t) for t in stem(x))
    h = relu.shape[1]
    out = -(-(h - 3) // 2) + 1
    expected = np.stack([np.stack([relu[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1))
                                   for j in range(out)]) for i in range(out)])[None]
    np.testing.assert_array_equal(pooled, expected)
