"""Published checkpoints into kcnn networks, exactly (kcnn.weights.load_weights).

References, independent of kcnn's mappings:

- keras.applications: its own ResNet50 and VGG16, built with ``weights=None`` and random
  weights (conv biases and BatchNorm statistics included), written in the legacy Keras 2
  HDF5 layout; kcnn's outputs must agree to float32 rounding.
- torchvision and Caffe: numpy forward passes written from torchvision's ``resnet.py`` /
  ``vgg.py`` and Caffe's layer definitions (NCHW, the publishers' own weight layouts and
  key names, Caffe's round-up pooling and LRN), on narrow networks with random weights.

Narrow widths and small inputs keep this cheap; the mappings do not depend on the widths.
"""

import logging

import keras
import numpy as np
import pytest

import kcnn
from kcnn.weights import (CheckpointError, VariantError, WeightsMismatchError,
                          load_weights)
from tests.test_weights_formats import (V1, keras_model_layers, pb_float, pb_layer,
                                        pb_string, pb_varint, _field, write_caffemodel, write_keras_h5,
                                        write_safetensors, write_torch_zip)

RNG = np.random.default_rng(2024)


def close(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * max(1.0, np.abs(want).max()))


# === numpy references (NCHW), from the publishers' definitions ===

def conv(x, w, b=None, stride=1, pad=0, groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def max_pool(x, k, s, pad=0, ceil=False):
    """torch's padded pooling (-inf padding) or Caffe's round-up pooling (no padding)."""
    h = x.shape[2]
    size = (-(-(h + 2 * pad - k) // s) if ceil else (h + 2 * pad - k) // s) + 1
    extra = max(0, (size - 1) * s + k - h - 2 * pad)
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad + extra), (pad, pad + extra)),
               constant_values=-np.inf)
    return np.stack([np.stack([x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
                               for j in range(size)], -1) for i in range(size)], -2)


def bn(x, gamma, beta, mean, var, eps):
    r = lambda v: np.reshape(v, (1, -1, 1, 1))  # noqa: E731
    return r(gamma) * (x - r(mean)) / np.sqrt(r(var) + eps) + r(beta)


def relu(x):
    return np.maximum(x, 0)


def lrn_caffe(x, size, alpha, beta, k):
    sq = np.pad(x ** 2, ((0, 0), (size // 2, size // 2), (0, 0), (0, 0)))
    window = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * window) ** beta


def nhwc(x):
    return x.transpose(0, 3, 1, 2).astype(np.float64)


# === torchvision's ResNet: state dict and forward pass (torchvision/models/resnet.py) ===

def rand_bn(sd, prefix, c):
    sd[f"{prefix}.weight"] = RNG.uniform(0.5, 1.5, c)
    sd[f"{prefix}.bias"] = RNG.normal(0, 0.2, c)
    sd[f"{prefix}.running_mean"] = RNG.normal(0, 0.2, c)
    sd[f"{prefix}.running_var"] = RNG.uniform(0.5, 1.5, c)
    sd[f"{prefix}.num_batches_tracked"] = np.array(100, np.int64)


def rand_conv(sd, name, o, i, k, bias=False):
    sd[f"{name}.weight"] = RNG.normal(0, np.sqrt(2 / (i * k * k)), (o, i, k, k))
    if bias:
        sd[f"{name}.bias"] = RNG.normal(0, 0.2, o)


def torch_resnet_state(block, blocks, filters, classes, *, conv1_bias=False):
    expansion = 4 if block == "bottleneck" else 1
    sd = {}
    rand_conv(sd, "conv1", filters[0], 3, 7, bias=conv1_bias)
    rand_bn(sd, "bn1", filters[0])
    inplanes = filters[0]
    for s, (n, planes) in enumerate(zip(blocks, filters), 1):
        for i in range(n):
            p, stride = f"layer{s}.{i}", 2 if (i == 0 and s > 1) else 1
            kernels = (1, 3, 1) if block == "bottleneck" else (3, 3)
            widths = (planes, planes, planes * 4) if block == "bottleneck" else (planes,) * 2
            cin = inplanes
            for j, (k, w) in enumerate(zip(kernels, widths), 1):
                rand_conv(sd, f"{p}.conv{j}", w, cin, k)
                rand_bn(sd, f"{p}.bn{j}", w)
                cin = w
            if stride != 1 or inplanes != planes * expansion:
                rand_conv(sd, f"{p}.downsample.0", planes * expansion, inplanes, 1)
                rand_bn(sd, f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    sd["fc.weight"] = RNG.normal(0, 0.1, (classes, inplanes))
    sd["fc.bias"] = RNG.normal(0, 0.1, classes)
    return {k: v.astype(np.int64 if v.dtype == np.int64 else np.float32) for k, v in sd.items()}


def torch_resnet_forward(sd, x, *, v15, caffe_pool=False, eps=1e-5):
    def norm(y, p):
        return bn(y, sd[f"{p}.weight"], sd[f"{p}.bias"], sd[f"{p}.running_mean"],
                  sd[f"{p}.running_var"], eps)

    x = relu(norm(conv(x, sd["conv1.weight"], sd.get("conv1.bias"), 2, 3), "bn1"))
    x = max_pool(x, 3, 2, ceil=True) if caffe_pool else max_pool(x, 3, 2, pad=1)
    s = 1
    while f"layer{s}.0.conv1.weight" in sd:
        i = 0
        while f"layer{s}.{i}.conv1.weight" in sd:
            p, stride = f"layer{s}.{i}", 2 if (i == 0 and s > 1) else 1
            if f"{p}.conv3.weight" in sd:
                out = relu(norm(conv(x, sd[f"{p}.conv1.weight"], None, 1 if v15 else stride),
                                f"{p}.bn1"))
                out = relu(norm(conv(out, sd[f"{p}.conv2.weight"], None, stride if v15 else 1,
                                     1), f"{p}.bn2"))
                out = norm(conv(out, sd[f"{p}.conv3.weight"]), f"{p}.bn3")
            else:
                out = relu(norm(conv(x, sd[f"{p}.conv1.weight"], None, stride, 1), f"{p}.bn1"))
                out = norm(conv(out, sd[f"{p}.conv2.weight"], None, 1, 1), f"{p}.bn2")
            identity = x
            if f"{p}.downsample.0.weight" in sd:
                identity = norm(conv(x, sd[f"{p}.downsample.0.weight"], None, stride),
                                f"{p}.downsample.1")
            x = relu(out + identity)
            i += 1
        s += 1
    return x.mean(axis=(2, 3)) @ sd["fc.weight"].T + sd["fc.bias"]


NARROW_BOTTLENECK = dict(stackwise_num_blocks=(1, 2, 1, 1), stackwise_num_filters=(2, 4, 4, 8))


def test_torchvision_resnet50_v15_from_pth_and_refused_by_v1(tmp_path):
    sd = torch_resnet_state("bottleneck", (1, 2, 1, 1), (2, 4, 4, 8), 5)
    path = tmp_path / "resnet50-0676ba61.pth"
    write_torch_zip(path, sd)
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    want = torch_resnet_forward(sd, nhwc(x), v15=True)
    assert np.abs(want - torch_resnet_forward(sd, nhwc(x), v15=False)).max() > 1e-3
    model = kcnn.build("resnet50", weights=str(path), stride_in_3x3=True, num_classes=5,
                       input_shape=(32, 32, 3), classifier_activation=None,
                       **NARROW_BOTTLENECK)
    close(model(x), want)
    # same shapes, other variant: refused, naming the argument
    with pytest.raises(VariantError, match=r"stride_in_3x3=True.*stride_in_3x3=False"):
        kcnn.build("resnet50", weights=str(path), num_classes=5, input_shape=(32, 32, 3),
                   **NARROW_BOTTLENECK)
    # include_top=False: the body, the file's classifier ignored
    body = kcnn.build("resnet50", weights=str(path), stride_in_3x3=True, include_top=False,
                      pooling="avg", input_shape=(32, 32, 3), **NARROW_BOTTLENECK)
    close(np.asarray(body(x)) @ sd["fc.weight"].T + sd["fc.bias"], want)


def test_torchvision_resnet18_from_safetensors_with_a_fresh_head(tmp_path, caplog):
    blocks, filters = (2, 1, 1, 1), (4, 4, 8, 8)
    sd = torch_resnet_state("basic", blocks, filters, 6)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {k: v for k, v in sd.items() if not k.endswith("_tracked")})
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    kwargs = dict(input_shape=(32, 32, 3), stackwise_num_blocks=blocks,
                  stackwise_num_filters=filters)
    model = kcnn.build("resnet18", weights=str(path), num_classes=6,
                       classifier_activation=None, **kwargs)
    close(model(x), torch_resnet_forward(sd, nhwc(x), v15=False))
    fresh = kcnn.build("resnet18", num_classes=3, **kwargs)
    before = np.asarray(fresh.get_layer("predictions").kernel)
    with caplog.at_level(logging.WARNING, logger="kcnn.weights"):
        load_weights(fresh, path)
    assert [r for r in caplog.records if "fresh" in r.getMessage()][0].getMessage().count(
        "3 classes, the file 6") == 1
    np.testing.assert_array_equal(np.asarray(fresh.get_layer("predictions").kernel), before)
    np.testing.assert_array_equal(np.asarray(fresh.get_layer("conv1_bn").moving_mean),
                                  sd["bn1.running_mean"])
    with pytest.raises(WeightsMismatchError, match="layer 'predictions'.*skip_top=None"):
        load_weights(fresh, path, skip_top=False)
    # a deeper network's file: the first layer that differs, or the surplus, is named
    deeper = tmp_path / "deeper.safetensors"
    write_safetensors(deeper, torch_resnet_state("basic", (3, 1, 1, 1), filters, 6))
    before = [np.array(w) for w in model.weights]
    with pytest.raises(WeightsMismatchError, match="'layer1.2.conv1.weight'"):
        load_weights(model, deeper)
    for w, b in zip(model.weights, before):  # a refused file changes nothing
        np.testing.assert_array_equal(np.asarray(w), b)
    wider = tmp_path / "wider.safetensors"
    write_safetensors(wider, torch_resnet_state("basic", blocks, (8, 4, 8, 8), 6))
    with pytest.raises(WeightsMismatchError, match="layer 'conv1_conv'.*shape"):
        load_weights(model, wider)


# === keras.applications: its own models are the reference ===

def randomize(model):
    """Random weights everywhere: conv biases, BN scales, offsets and statistics."""
    values = []
    for w in model.weights:
        shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
        if name in ("gamma", "moving_variance"):
            values.append(RNG.uniform(0.5, 1.5, shape))
        elif name == "kernel":
            values.append(RNG.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape))
        else:
            values.append(RNG.normal(0, 0.2, shape))
    model.set_weights([np.asarray(v, "float32") for v in values])
    return model


def keras_resnet_v1(blocks, filters, **kwargs):
    """keras.applications' own ResNet v1 (its ``ResNet`` and block stacks) at other depths
    and widths: the stem keeps 64 filters."""
    from keras.src.applications import resnet

    def stack_fn(x):
        for s, (n, f) in enumerate(zip(blocks, filters)):
            x = resnet.stack_residual_blocks_v1(x, f, n, stride1=1 if s == 0 else 2,
                                                name=f"conv{s + 2}")
        return x

    return resnet.ResNet(stack_fn, preact=False, use_bias=True, weights=None, **kwargs)


def msra_name(keras_name):
    """keras.applications' layer name -> MSRA's (conv2_block1_0_conv -> res2a_branch1)."""
    fixed = {"conv1_conv": "conv1", "conv1_bn": "bn_conv1", "predictions": "fc1000"}
    if keras_name in fixed:
        return fixed[keras_name]
    stage, rest = keras_name[len("conv"):].split("_block")
    index, j, kind = rest.split("_")
    block = f"{stage}{chr(ord('a') + int(index) - 1)}"
    branch = ("branch1", "branch2a", "branch2b", "branch2c")[int(j)]
    return f"{'res' if kind == 'conv' else 'bn'}{block}_{branch}"


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_keras_applications_resnet50_exactly(tmp_path, full):
    if full:
        reference = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3),
                                                classes=7, classifier_activation=None)
        narrow = {}
    else:
        narrow = dict(stackwise_num_blocks=(1, 2, 1, 1), stackwise_num_filters=(2, 4, 4, 8),
                      stem_filters=64)
        reference = keras_resnet_v1((1, 2, 1, 1), (2, 4, 4, 8), input_shape=(32, 32, 3),
                                    classes=7, classifier_activation=None)
    randomize(reference)
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    write_keras_h5(path, keras_model_layers(reference))
    x = RNG.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    model = kcnn.build("resnet50", weights=str(path), bn_epsilon=1.001e-5, num_classes=7,
                       input_shape=(32, 32, 3), classifier_activation=None,
                       kernel_initializer="zeros", **narrow)
    close(model(x), reference(x))
    last = "conv5_block1" if narrow else "conv5_block3"
    ours = keras.Model(model.input, model.get_layer(last).output)
    theirs = keras.Model(reference.input, reference.get_layer(f"{last}_out").output)
    close(ours(x), theirs(x))
    if full:
        return
    # the same weights under MSRA's layer names (the first Keras port of ResNet-50)
    msra = path.with_name("msra_named.h5")
    write_keras_h5(msra, [(msra_name(name), weights)
                          for name, weights in keras_model_layers(reference)])
    close(load_weights(model, msra)(x), reference(x))
    # kcnn's default epsilon (1e-5) is another variant: refused by name (before shapes)
    default = kcnn.build("resnet50", include_top=False, input_shape=(32, 32, 3), **narrow)
    with pytest.raises(VariantError, match=r"bn_epsilon=1\.001e-05.*Received: bn_epsilon=1e-05"):
        load_weights(default, path)
    # a truncated download
    data = path.read_bytes()
    cut = path.with_name("cut.h5")
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_weights(default, cut)


def test_keras_applications_vgg16_notop_exactly(tmp_path):
    reference = randomize(keras.applications.VGG16(weights=None, include_top=False,
                                                   input_shape=(32, 32, 3)))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras_h5(path, keras_model_layers(reference))
    x = RNG.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    model = kcnn.build("vgg16", weights=str(path), include_top=False, input_shape=(32, 32, 3))
    close(model(x), reference(x))
    with pytest.raises(VariantError, match="batch_norm=False"):
        load_weights(kcnn.build("vgg16_bn", include_top=False, input_shape=(32, 32, 3),
                                filters=(2, 2, 2, 2, 2)), path)
    # keras.applications' file of another network
    with pytest.raises(WeightsMismatchError, match="layer 'conv1_conv' needs 'conv1_conv'"):
        load_weights(kcnn.build("resnet50", bn_epsilon=1.001e-5, include_top=False,
                                input_shape=(32, 32, 3), **NARROW_BOTTLENECK), path)


# === torchvision's VGG-BN (torchvision/models/vgg.py) ===

def torch_vgg_state(config, filters, fc_units, classes, feature_hw, *, batch_norm):
    sd, n, cin = {}, 0, 3
    for convs, width in zip(config, filters):
        for _ in range(convs):
            rand_conv(sd, f"features.{n}", width, cin, 3, bias=True)
            cin = width
            if batch_norm:
                rand_bn(sd, f"features.{n + 1}", width)
                n += 3
            else:
                n += 2
        n += 1  # max pooling
    flat = cin * feature_hw * feature_hw
    for i, (fin, fout) in enumerate([(flat, fc_units), (fc_units, fc_units),
                                     (fc_units, classes)]):
        sd[f"classifier.{3 * i}.weight"] = RNG.normal(0, np.sqrt(2 / fin), (fout, fin))
        sd[f"classifier.{3 * i}.bias"] = RNG.normal(0, 0.1, fout)
    return {k: v.astype(np.int64 if v.dtype == np.int64 else np.float32) for k, v in sd.items()}


def torch_vgg_forward(sd, x, config, *, batch_norm):
    n = 0
    for convs in config:
        for _ in range(convs):
            x = conv(x, sd[f"features.{n}.weight"], sd[f"features.{n}.bias"], 1, 1)
            if batch_norm:
                p = f"features.{n + 1}"
                x = bn(x, sd[f"{p}.weight"], sd[f"{p}.bias"], sd[f"{p}.running_mean"],
                       sd[f"{p}.running_var"], 1e-5)
            x = relu(x)
            n += 3 if batch_norm else 2
        x = max_pool(x, 2, 2)
        n += 1
    x = x.reshape(len(x), -1)  # torch's flatten: channels first
    for i in range(3):
        x = x @ sd[f"classifier.{3 * i}.weight"].T + sd[f"classifier.{3 * i}.bias"]
        x = relu(x) if i < 2 else x
    return x


def test_torchvision_vgg11_bn_bias_folded_and_fc1_permuted(tmp_path):
    config, filters = (1, 1, 2, 2, 2), (4, 4, 8, 8, 6)
    sd = torch_vgg_state(config, filters, 16, 5, 2, batch_norm=True)
    path = tmp_path / "vgg11_bn-8a719a9e.pth"
    write_torch_zip(path, sd)
    x = RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    kwargs = dict(filters=filters, fc_units=16, num_classes=5, input_shape=(64, 64, 3))
    model = kcnn.build("vgg11_bn", weights=str(path), classifier_activation=None, **kwargs)
    close(model(x), torch_vgg_forward(sd, nhwc(x), config, batch_norm=True))
    with pytest.raises(VariantError, match="a torchvision VGG-BN.*batch_norm=True"):
        load_weights(kcnn.build("vgg11", **kwargs), path)
    # another input size changes fc1's inputs: named, with the remedy
    with pytest.raises(WeightsMismatchError, match="layer 'fc1'.*build the model at the "
                                                   "checkpoint's input size"):
        load_weights(kcnn.build("vgg11_bn", **{**kwargs, "input_shape": (32, 32, 3)}), path)
    # a torchvision file of another family
    with pytest.raises(WeightsMismatchError, match="layer 'conv1_conv' needs 'conv1.weight'"):
        load_weights(kcnn.build("resnet18", include_top=False, input_shape=(32, 32, 3),
                                stackwise_num_filters=(2, 2, 2, 2)), path)


def test_vgg_team_caffe_model_v1_layers(tmp_path):
    """VGG_ILSVRC_*_layers.caffemodel: V1 layers conv1_1 ... conv5_x, fc6-fc8, legacy 4-D
    blobs; fc6 sees pool5 flattened channels first."""
    config, filters = (1, 1, 2, 2, 2), (4, 4, 8, 8, 6)
    sd = torch_vgg_state(config, filters, 16, 5, 2, batch_norm=False)
    layers, n = [], 0
    for b, convs in enumerate(config, 1):
        for i in range(1, convs + 1):
            layers.append(pb_layer(f"conv{b}_{i}", V1["Convolution"],
                                   [sd[f"features.{n}.weight"], sd[f"features.{n}.bias"]],
                                   v1=True))
            layers.append(pb_layer(f"relu{b}_{i}", V1["ReLU"], [], v1=True))
            n += 2
        layers.append(pb_layer(f"pool{b}", V1["Pooling"], [], v1=True))
        n += 1
    for i, fc in enumerate(("fc6", "fc7", "fc8")):
        layers.append(pb_layer(fc, V1["InnerProduct"], [sd[f"classifier.{3 * i}.weight"],
                                                         sd[f"classifier.{3 * i}.bias"]],
                               v1=True))
    path = tmp_path / "VGG_ILSVRC_11_layers.caffemodel"
    write_caffemodel(path, layers, name="VGG_ILSVRC_11_layers", v1=True)
    x = RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    model = kcnn.build("vgg11", weights=str(path), filters=filters, fc_units=16,
                       num_classes=5, input_shape=(64, 64, 3), classifier_activation=None)
    close(model(x), torch_vgg_forward(sd, nhwc(x), config, batch_norm=False))


# === Caffe: BVLC AlexNet, MSRA ResNet, BVLC GoogLeNet ===

def test_bvlc_alexnet_two_towers_caffe_lrn_and_round_up_pooling(tmp_path):
    filters, fc = (8, 16, 12, 12, 8), 16
    w = {}
    shapes = [("conv1", filters[0], 3, 11), ("conv2", filters[1], filters[0] // 2, 5),
              ("conv3", filters[2], filters[1], 3), ("conv4", filters[3], filters[2] // 2, 3),
              ("conv5", filters[4], filters[3] // 2, 3)]
    for name, o, i, k in shapes:
        w[name] = (RNG.normal(0, np.sqrt(2 / (i * k * k)), (o, i, k, k)).astype("float32"),
                   RNG.normal(0, 0.2, o).astype("float32"))
    flat = filters[4] * 2 * 2
    for name, fin, fout in (("fc6", flat, fc), ("fc7", fc, fc), ("fc8", fc, 5)):
        w[name] = (RNG.normal(0, np.sqrt(2 / fin), (fout, fin)).astype("float32"),
                   RNG.normal(0, 0.1, fout).astype("float32"))
    # bvlc_alexnet's deploy order, V1 layers, LRN k = 1 recorded in lrn_param
    lrn = _field(18, 2, pb_varint(1, 5) + pb_float(2, 1e-4) + pb_float(3, 0.75)
                 + pb_float(5, 1.0))
    layers = []
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        kind = "InnerProduct" if name.startswith("fc") else "Convolution"
        layers.append(pb_layer(name, V1[kind], list(w[name]), v1=True))
        layers.append(pb_layer(f"relu{name[-1]}", V1["ReLU"], [], v1=True))
        if name in ("conv1", "conv2"):
            layers.append(pb_layer(f"norm{name[-1]}", V1["LRN"], [], v1=True, extra=lrn))
        if name in ("conv1", "conv2", "conv5"):
            layers.append(pb_layer(f"pool{name[-1]}", V1["Pooling"], [], v1=True))
    path = tmp_path / "bvlc_alexnet.caffemodel"
    write_caffemodel(path, layers, name="AlexNet", v1=True)

    x = RNG.uniform(-1, 1, (2, 99, 99, 3)).astype("float32")
    y = nhwc(x)
    for name, stride, pad, groups in (("conv1", 4, 0, 1), ("conv2", 1, 2, 2), ("conv3", 1, 1, 1),
                                      ("conv4", 1, 1, 2), ("conv5", 1, 1, 2)):
        y = relu(conv(y, *w[name], stride=stride, pad=pad, groups=groups))
        if name in ("conv1", "conv2"):
            y = lrn_caffe(y, 5, 1e-4, 0.75, 1.0)
        if name in ("conv1", "conv2", "conv5"):
            y = max_pool(y, 3, 2, ceil=True)
    y = y.reshape(len(y), -1)
    y = relu(y @ w["fc6"][0].T + w["fc6"][1])
    y = relu(y @ w["fc7"][0].T + w["fc7"][1])
    want = y @ w["fc8"][0].T + w["fc8"][1]
    kwargs = dict(filters=filters, fc_units=fc, num_classes=5, input_shape=(99, 99, 3))
    model = kcnn.build("alexnet", weights=str(path), groups=2, lrn_k=1.0,
                       lrn_convention="caffe", classifier_activation=None, **kwargs)
    close(model(x), want)
    with pytest.raises(VariantError, match="groups=2.*Received: groups=1"):
        load_weights(kcnn.build("alexnet", **kwargs), path)
    with pytest.raises(VariantError, match="lrn_k=1.0.*Received: lrn_k=2.0"):
        load_weights(kcnn.build("alexnet", groups=2, **kwargs), path)
    # the same net without its LRN layers is the lrn=None variant
    plain = tmp_path / "alexnet_no_lrn.caffemodel"
    norms = (pb_string(4, "norm1"), pb_string(4, "norm2"))
    write_caffemodel(plain, [layer for layer in layers if not layer.startswith(norms)], v1=True)
    with pytest.raises(VariantError, match="lrn=None.*Received: lrn='paper'"):
        load_weights(model, plain)
    # an LRN no builder argument reproduces (alpha 1e-3) is refused, naming the layer
    other_lrn = _field(18, 2, pb_varint(1, 5) + pb_float(2, 1e-3) + pb_float(3, 0.75)
                       + pb_float(5, 1.0))
    odd = tmp_path / "alexnet_other_lrn.caffemodel"
    write_caffemodel(odd, [layer.replace(lrn, other_lrn) for layer in layers], v1=True)
    with pytest.raises(WeightsMismatchError, match=r"layer 'norm1': LRN alpha / size is "
                                                   r"2e-05 in the model but 0.0002"):
        load_weights(model, odd)
    # a truncated caffemodel
    data = path.read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="cannot be parsed"):
        load_weights(model, tmp_path / "cut.caffemodel")


def msra_caffemodel(path, sd, *, numbered=False, factor=999.982):
    """MSRA's ResNet layout (ResNet-50-deploy.prototxt): conv1 (with a bias), bn_conv1 +
    scale_conv1, res2a_branch1 / res2a_branch2a..2c with bn* and scale* layers, fc1000;
    BatchNorm blobs are the statistics times a scale factor, then the factor."""
    layers = []

    def bn_scale(suffix, p):
        f = np.float32(factor)
        layers.append(pb_layer(f"bn{suffix}", "BatchNorm", [
            sd[f"{p}.running_mean"] * f, sd[f"{p}.running_var"] * f, np.array([f])],
            extra=_field(139, 2, pb_varint(1, 1))))
        layers.append(pb_layer(f"scale{suffix}", "Scale", [sd[f"{p}.weight"], sd[f"{p}.bias"]]))

    layers.append(pb_layer("conv1", "Convolution", [sd["conv1.weight"], sd["conv1.bias"]]))
    bn_scale("_conv1", "bn1")
    layers.append(pb_layer("conv1_relu", "ReLU", []))
    layers.append(pb_layer("pool1", "Pooling", []))
    s = 1
    while f"layer{s}.0.conv1.weight" in sd:
        i = 0
        while f"layer{s}.{i}.conv1.weight" in sd:
            p = f"layer{s}.{i}"
            block = (f"{s + 1}a" if i == 0 else f"{s + 1}b{i}") if numbered else \
                f"{s + 1}{chr(ord('a') + i)}"
            if f"{p}.downsample.0.weight" in sd:
                layers.append(pb_layer(f"res{block}_branch1", "Convolution",
                                       [sd[f"{p}.downsample.0.weight"]]))
                bn_scale(f"{block}_branch1", f"{p}.downsample.1")
            for j, letter in enumerate("abc", 1):
                layers.append(pb_layer(f"res{block}_branch2{letter}", "Convolution",
                                       [sd[f"{p}.conv{j}.weight"]]))
                bn_scale(f"{block}_branch2{letter}", f"{p}.bn{j}")
            layers.append(pb_layer(f"res{block}", "Eltwise", []))
            i += 1
        s += 1
    layers.append(pb_layer("pool5", "Pooling", []))
    layers.append(pb_layer("fc1000", "InnerProduct", [sd["fc.weight"], sd["fc.bias"]]))
    layers.append(pb_layer("prob", "Softmax", []))
    write_caffemodel(path, layers, name="ResNet-50")


def test_msra_resnet_caffe_batchnorm_scale_and_stem_pooling(tmp_path):
    blocks, filters = (1, 3, 1, 1), (2, 4, 4, 8)
    sd = torch_resnet_state("bottleneck", blocks, filters, 5, conv1_bias=True)
    path = tmp_path / "ResNet-50-model.caffemodel"
    msra_caffemodel(path, sd)
    x = RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    want = torch_resnet_forward(sd, nhwc(x), v15=False, caffe_pool=True)
    padded = torch_resnet_forward(sd, nhwc(x), v15=False, caffe_pool=False)
    assert np.abs(want - padded).max() > 1e-3  # the stem's pooling matters
    kwargs = dict(stackwise_num_blocks=blocks, stackwise_num_filters=filters, num_classes=5,
                  input_shape=(64, 64, 3), classifier_activation=None)
    model = kcnn.build("resnet50", weights=str(path), stem_pool="caffe", **kwargs)
    close(model(x), want)
    # ResNet-101/152 number their blocks a, b1, b2, ...
    numbered = tmp_path / "ResNet-101-model.caffemodel"
    msra_caffemodel(numbered, sd, numbered=True)
    close(load_weights(model, numbered)(x), want)
    with pytest.raises(VariantError, match="stem_pool='caffe'.*Received: stem_pool='padded'"):
        load_weights(kcnn.build("resnet50", **kwargs), path)


def bvlc_googlenet_caffemodel(path, model):
    """A kcnn GoogLeNet's weights in BVLC's layout: ``/`` names, ``inception_3a/...``,
    ``loss1/...``, (out, in, h, w) kernels and (out, in) inner products over a channels-first
    flatten; V1 layers."""
    layers = []

    def put(name, layer, flat=None):
        kernel, bias = (np.asarray(v) for v in (layer.kernel, layer.bias))
        if kernel.ndim == 4:
            weight = kernel.transpose(3, 2, 0, 1)
            kind = V1["Convolution"]
        else:
            if flat is not None:  # rows (h, w, c) -> (c, h, w)
                h, w, c = flat
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
            weight = kernel.T
            kind = V1["InnerProduct"]
        layers.append(pb_layer(name, kind, [weight, bias], v1=True))

    for layer in model.layers:
        if layer.name.startswith(("conv1_7", "conv2_")) and layer.weights:
            put(layer.name.replace("_", "/", 1), layer)
        elif layer.name == "pool1_norm1":  # BVLC's lrn_param; k is Caffe's default, 1
            lrn = _field(18, 2, pb_varint(1, 5) + pb_float(2, 1e-4) + pb_float(3, 0.75))
            layers.append(pb_layer("pool1/norm1", V1["LRN"], [], v1=True, extra=lrn))
        elif layer.name.startswith("inception"):
            for sub in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"):
                branch = getattr(layer, f"branch_{sub}")
                put(f"inception_{layer.name[len('inception'):]}/{sub}", branch)
        elif layer.name in ("aux1_conv", "aux2_conv"):
            put(f"loss{layer.name[3]}/conv", layer)
        elif layer.name in ("aux1_fc", "aux2_fc"):
            flat = model.get_layer(f"{layer.name[:4]}_flatten").input.shape[1:]
            put(f"loss{layer.name[3]}/fc", layer, flat)
        elif layer.name in ("aux1_predictions", "aux2_predictions"):
            put(f"loss{layer.name[3]}/classifier", layer)
        elif layer.name == "predictions":
            put("loss3/classifier", layer)
    write_caffemodel(path, layers, name="GoogleNet", v1=True)


def test_bvlc_googlenet_names_and_auxiliary_heads(tmp_path):
    kwargs = dict(width_multiplier=0.125, input_shape=(65, 65, 3), num_classes=4,
                  classifier_activation=None)
    source = randomize(kcnn.build("googlenet", aux_logits=True, **kwargs))
    path = tmp_path / "bvlc_googlenet.caffemodel"
    bvlc_googlenet_caffemodel(path, source)
    x = RNG.uniform(-1, 1, (2, 65, 65, 3)).astype("float32")
    want = [np.asarray(t) for t in source(x)]
    with_aux = kcnn.build("googlenet", weights=str(path), aux_logits=True, **kwargs)
    for got, expected in zip(with_aux(x), want):
        close(got, expected)
    # the usual model has no auxiliary heads: they are skipped
    close(kcnn.build("googlenet", weights=str(path), **kwargs)(x), want[0])
    with pytest.raises(VariantError, match="lrn=True"):
        load_weights(kcnn.build("googlenet", lrn=False, **kwargs), path)
    # a Caffe file of another network
    other = tmp_path / "other.caffemodel"
    write_caffemodel(other, [pb_layer("conv1", "Convolution", [np.ones((2, 3, 3, 3)),
                                                               np.ones(2)])])
    with pytest.raises(WeightsMismatchError, match="needs 'conv1/7x7_s2'"):
        load_weights(with_aux, other)


def test_build_with_a_source_name_builds_its_variant(tmp_path, monkeypatch):
    from kcnn.weights import download

    sd = torch_resnet_state("bottleneck", (1, 2, 1, 1), (2, 4, 4, 8), 5)
    path = tmp_path / "resnet50-0676ba61.pth"
    write_torch_zip(path, sd)
    fetched = []
    monkeypatch.setattr(download, "fetch", lambda source, **kw: fetched.append(
        (source.name, kw)) or str(path))
    kwargs = dict(num_classes=5, input_shape=(32, 32, 3), classifier_activation=None,
                  **NARROW_BOTTLENECK)
    model = kcnn.build("resnet50", weights="torchvision_v1", **kwargs)
    assert fetched == [("torchvision_v1", {"include_top": True})]
    assert model.get_layer("conv3_block1").stride_in_3x3
    x = RNG.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    close(model(x), torch_resnet_forward(sd, nhwc(x), v15=True))
    with pytest.raises(ValueError, match="needs stride_in_3x3=True.*Received: "
                                         "stride_in_3x3=False"):
        kcnn.build("resnet50", weights="torchvision_v1", stride_in_3x3=False, **kwargs)
    with pytest.raises(ValueError, match="Did you mean 'torchvision_v1'"):
        kcnn.build("resnet50", weights="torchvison_v1", **kwargs)
    # "imagenet" is the paper-faithful source of the default variant (keras.applications'
    # HDF5): a torchvision file in its place is refused
    with pytest.raises(WeightsMismatchError, match="'torch_zip' checkpoint, but the "
                                                   "keras.applications checkpoint 'keras'"):
        kcnn.build("resnet50", weights="imagenet", include_top=False,
                   input_shape=(32, 32, 3), **NARROW_BOTTLENECK)
    assert fetched[-1] == ("keras", {"include_top": False})
    sources = kcnn.get_spec("resnet50").weights
    assert sources[0].default and sources[0].name == "keras"
    assert {s.name for s in sources} >= {"keras", "torchvision_v1", "torchvision_v2", "msra"}
    assert kcnn.get_spec("lenet5").weights == ()


@pytest.mark.slow
def test_keras_applications_vgg16_with_its_top(tmp_path):
    reference = randomize(keras.applications.VGG16(
        weights=None, input_shape=(32, 32, 3), classes=5, classifier_activation=None))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    write_keras_h5(path, keras_model_layers(reference))
    x = RNG.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    model = kcnn.build("vgg16", weights=str(path), num_classes=5, input_shape=(32, 32, 3),
                       classifier_activation=None)
    close(model(x), reference(x))


@pytest.mark.slow
def test_files_written_by_torch_when_installed(tmp_path):
    """torch and torchvision are not dependencies; when installed, their own files and
    forward passes are the reference."""
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    from kcnn.weights.torch_zip import read_torch_zip

    for name, kwargs in (("resnet18", {}), ("resnet50", {"stride_in_3x3": True})):
        torch.manual_seed(0)
        net = getattr(models, name)(num_classes=5)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.weight, 0.5, 1.5), (m.running_var, 0.5, 1.5),
                                  (m.bias, -0.2, 0.2), (m.running_mean, -0.2, 0.2)):
                    t.data.uniform_(lo, hi)
        net.eval()
        path = tmp_path / f"{name}.pth"
        torch.save(net.state_dict(), path)
        plain, with_torch = (read_torch_zip(path, use_torch=u) for u in (False, True))
        assert list(plain.tensors) == list(with_torch.tensors)
        for key, value in plain.tensors.items():
            np.testing.assert_array_equal(value, with_torch.tensors[key])
        x = RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
        with torch.no_grad():
            want = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        model = kcnn.build(name, weights=str(path), num_classes=5, input_shape=(64, 64, 3),
                           classifier_activation=None, **kwargs)
        close(model(x), want)
