"""kcnn.summary: the VGG-16 table of the lecture notes (memory in elements, parameters
without biases), GoogLeNet's multiply-adds ("ops"), block expansion, geometry notes,
dtype sizes, and the command line."""

import math
import re

import keras
import pytest

import kcnn
from kcnn.analysis import ModelSummary, summary

# The VGG-16 table of seeds 000/001: (layer, output shape, memory, params without biases).
VGG16_TABLE = [("image", (224, 224, 3), 224 * 224 * 3, 0)]
_cin = 3
for _block, (_convs, _width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)), 1):
    _size = 224 // 2 ** (_block - 1)
    for _i in range(1, _convs + 1):
        VGG16_TABLE.append((f"block{_block}_conv{_i}", (_size, _size, _width),
                            _size * _size * _width, 3 * 3 * _cin * _width))
        _cin = _width
    VGG16_TABLE.append((f"block{_block}_pool", (_size // 2, _size // 2, _width),
                        (_size // 2) ** 2 * _width, 0))
VGG16_TABLE += [("fc1", (4096,), 4096, 7 * 7 * 512 * 4096), ("fc2", (4096,), 4096, 4096 * 4096),
                ("predictions", (1000,), 1000, 4096 * 1000)]

# GoogLeNet Table 1, "ops" column (millions of multiply-adds). Two entries disagree with
# the table's own widths: conv1 (34M listed; 112*112*64*7*7*3 = 118M) and inception (5a)
# (54M listed, which is its erroneous 1072K params * 49; the widths give 51M).
GOOGLENET_OPS = {"inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88,
                 "inception4c": 100, "inception4d": 119, "inception4e": 170,
                 "inception5b": 71, "predictions": 1}


@pytest.fixture(scope="module")
def vgg16():
    return summary("vgg16")


@pytest.fixture(scope="module")
def googlenet():
    return summary("googlenet")


def test_vgg16_reproduces_the_lecture_table(vgg16):
    rows = [r for r in vgg16.rows if r.type.split()[0] not in ("Flatten", "Dropout")]
    got = [(r.name, r.output_shape, r.memory, r.params_without_bias) for r in rows]
    assert got == VGG16_TABLE
    assert vgg16.row("block1_conv1").memory == 3_211_264  # "224*224*64=3.2M"
    assert vgg16.row("fc1").params_without_bias == 102_760_448


def test_vgg16_against_the_seed_text(vgg16, shared_dir):
    """The table as printed in seed 000 (``memory: 224*224*64=3.2M params: ... = 1,728``)."""
    import glob

    text = open(glob.glob(f"{shared_dir}/seeds/000_*.txt")[0]).read()
    pattern = re.compile(r"^(\w[\w-]*): \[([\dx]+)\]\s+memory:\s+([\d*]+).*?params:\s+"
                         r"(?:.*= )?([\d,]+)\s*$", re.M)
    seed = [(shape, math.prod(int(v) for v in memory.split("*")), int(params.replace(",", "")))
            for _, shape, memory, params in pattern.findall(text)]
    assert len(seed) == 22
    rows = [r for r in vgg16.rows if r.type.split()[0] not in ("Flatten", "Dropout")]
    ours = [("x".join(map(str, r.output_shape)) if len(r.output_shape) == 3
             else f"1x1x{r.output_shape[0]}", r.memory, r.params_without_bias) for r in rows]
    assert ours == seed


def test_vgg16_totals(vgg16):
    t = vgg16.totals
    biases = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 4096 + 4096 + 1000
    assert t["params"] == t["trainable"] == 138_357_544 and t["non_trainable"] == 0
    assert t["params_without_bias"] == 138_357_544 - biases
    # every tensor once; Flatten and Dropout are views of their input
    assert t["memory"] == sum(m for _, _, m, _ in VGG16_TABLE)
    assert t["memory_bytes"] == 4 * t["memory"]
    # multiply-adds: output elements * 3*3*cin per conv, in*out per dense
    assert vgg16.row("block1_conv2").flops == 224 * 224 * 64 * 9 * 64
    assert t["flops"] == sum(p * (m // w[-1]) if len(w) == 3 else p
                             for _, w, m, p in VGG16_TABLE)


def test_googlenet_multiply_adds_are_the_ops_column(googlenet):
    for name, millions in GOOGLENET_OPS.items():
        assert abs(googlenet.row(name).flops / 1e6 - millions) < 1, name
    stem = googlenet.row("conv2_3x3_reduce").flops + googlenet.row("conv2_3x3").flops
    assert abs(stem / 1e6 - 360) < 1  # "convolution 3x3/1 ... 360M"
    assert googlenet.row("conv1_7x7_s2").flops == 112 * 112 * 64 * 7 * 7 * 3


def test_resnet18_multiply_adds_are_the_papers_flops():
    """He et al. 2015, Table 1: ResNet-18 "FLOPs" 1.8 x 10^9, counted as multiply-adds
    (the same convention gives 3.6, 3.8, 7.6 and 11.3 x 10^9 for ResNet-34 to -152)."""
    assert abs(summary("resnet18").totals["flops"] / 1e9 - 1.8) < 0.05


def test_blocks_expand_into_their_sublayers(googlenet):
    names = [r.name for r in googlenet.rows]
    i = names.index("inception3a")
    assert names[i + 1:i + 8] == [f"inception3a/{s}" for s in (
        "1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool", "pool_proj")]
    block = googlenet.rows[i]
    subs = googlenet.rows[i + 1:i + 8]
    assert all(r.depth == 1 for r in subs) and block.depth == 0
    assert block.params == sum(r.params for r in subs)
    assert block.flops == sum(r.flops for r in subs)
    assert googlenet.row("inception3a/5x5").output_shape == (28, 28, 32)
    assert googlenet.row("inception3a/pool").output_shape == (28, 28, 192)
    assert googlenet.totals["params"] == 6_998_552  # sublayers not counted twice
    expanded, compact = googlenet.to_string(), googlenet.to_string(expand=False)
    assert "5x5_reduce" in expanded and "5x5_reduce" not in compact
    assert "Total params: 6,998,552" in compact


def test_windows_that_do_not_fit_are_marked(googlenet):
    # 7x7/2 on 224 padded by 3: (230 - 7) / 2 + 1 = 112.5
    assert "112.5" in googlenet.row("conv1_7x7_s2").note
    assert googlenet.row("inception3a").note == ""
    text = googlenet.to_string()
    assert "conv1_7x7_s2 *" in text and "does not fit" in text
    vgg = summary("vgg11", input_shape=(32, 32, 3), filters=(2, 2, 2, 2, 2), fc_units=4)
    assert not any(r.note for r in vgg.rows)


def test_grouped_convolutions_and_mixed_precision_sizes():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    s = summary("alexnet", groups=2, filters=(8, 16, 16, 16, 8), fc_units=16,
                input_shape=(67, 67, 3))
    conv2 = s.row("conv2")
    assert conv2.type == "Conv2D 5x5/1 groups=2"
    assert conv2.flops == 7 * 7 * 16 * 5 * 5 * (8 // 2)
    assert conv2.params == 5 * 5 * 4 * 16 + 16 and conv2.itemsize == 2
    # the input and the float32 classifier take 4 bytes per element, the rest 2
    expected = sum(r.memory * (4 if r.name in ("image", "predictions") else 2)
                   for r in s.rows if r.counted)
    assert s.totals["memory_bytes"] == expected


def test_sequential_models_custom_counts_and_batch_norm():
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return 2 * x

        def multiply_adds(self, input_shape):
            return 7 * input_shape[-1]

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(4),
                              keras.layers.BatchNormalization(), Doubler(name="double")])
    s = summary(model)
    assert [r.name for r in s.rows][0] == "input" and s.rows[0].memory == 15
    assert s.row("dense").flops == 5 * 3 * 4  # Dense on each of the 5 positions
    assert s.row("double").flops == 28
    bn = s.row("batch_normalization")
    assert (bn.params, bn.trainable, bn.params_without_bias) == (16, 8, 16)
    assert s.totals["non_trainable"] == 8


def test_as_dict_and_printing(capsys):
    s = summary("vgg11", input_shape=(32, 32, 3), filters=(2, 2, 2, 2, 2), fc_units=4,
                num_classes=3)
    assert isinstance(s, ModelSummary)
    d = s.as_dict()
    assert d["name"] == "vgg11" and d["totals"] == s.totals
    assert d["rows"][1]["name"] == "block1_conv1" and d["rows"][1]["output_shape"] == (32, 32, 2)
    s.print()
    out = capsys.readouterr().out
    assert out.strip() == str(s) == repr(s)
    assert f"Total params: {s.totals['params']:,}" in out


def test_command_line_summary(capsys):
    from kcnn.cli import main

    code = main(["summary", "alexnet", "--input-shape", "67", "67", "3", "--set",
                 "filters=(8, 8, 8, 8, 8)", "--set", "fc_units=8", "--set", "groups=2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "conv2" in out and "groups=2" in out and "Total multiply-adds" in out
    assert main(["summary", "alexnett"]) == 2
    assert "Did you mean 'alexnet'" in capsys.readouterr().err


def test_bad_arguments():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="`model_or_name` must be a keras.Model"):
        summary(42)
    with pytest.raises(TypeError, match="Build arguments only apply to a registered name"):
        summary(model, num_classes=3)
    with pytest.raises(ValueError, match="Unknown model 'vgg17'"):
        summary("vgg17")
    with pytest.raises(TypeError, match="`expand` must be True or False"):
        summary(model, expand="yes")
    with pytest.raises(KeyError, match="No layer named 'fc9'"):
        summary(model).row("fc9")
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        summary(unbuilt)
