"""kcnn.visualize: attributions on a LeNet-5 trained on the digits, diagrams against the
papers' tables, every picture for every registered network, mixed precision, kcnn show."""

import json
import os
import re

import keras
import numpy as np
import pytest

import kcnn
from kcnn import visualize
from kcnn.preprocessing import preprocess_input
from kcnn.visualize import attribution

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits_lenet():
    """LeNet-5 (modern) trained 4 epochs on the digits (about 97% held out), with 24 test
    images in the paper's scaling and their ink masks."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = kcnn.data.load_digits(image_size=32)
    model = kcnn.build("lenet5_modern")
    model.compile(keras.optimizers.Adam(5e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(np.asarray(preprocess_input(x_train, "lenet")), y_train, epochs=4,
              batch_size=32, verbose=0)
    images = np.asarray(preprocess_input(x_test[:24], "lenet"))
    return model, images, y_test[:24], x_test[:24, ..., 0] > 0.5


def _png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC and os.path.getsize(path) > 2000


# === Attributions on the trained LeNet-5 ===

def test_grad_cam_default_layer_is_c3_and_cells_sit_where_the_geometry_puts_them(digits_lenet):
    model, images, labels, _ = digits_lenet
    # C5 is 1x1 at 32x32; the last map larger than that is C3's 10x10 (after its ReLU)
    assert visualize.default_cam_layer(model) == "c3_act"
    assert visualize.default_cam_layer(kcnn.build("lenet5")) == "c3"
    # valid 5x5 (centre +2), 2x2/2 pooling (x2, +0.5), valid 5x5 (+2 cells): 6.5 + 2i
    assert attribution.cell_centres(model, "c3_act") == ((6.5, 2.0), (6.5, 2.0))
    # ResNet's stem: pad 3 + 7x7/2 puts cell i on pixel 2i; pad 1 + 3x3/2 pooling on 4i
    resnet = kcnn.build("resnet18", input_shape=(64, 64, 3), num_classes=10)
    assert attribution.cell_centres(resnet, "pool1_pool") == ((0.0, 4.0), (0.0, 4.0))
    cam = visualize.grad_cam(model, images[:4], labels[:4])
    assert cam.shape == (4, 32, 32) and cam.dtype == np.float32
    assert cam.min() >= 0 and np.allclose(cam.reshape(4, -1).max(1), 1.0)


def test_grad_cam_is_the_papers_formula_on_the_logits(digits_lenet):
    """Selvaraju et al.'s eq. (1)-(2) computed here with a GradientTape of its own: weights
    alpha_k = mean over the map of d logit_c / d A^k, ReLU(sum_k alpha_k A^k) at C3's 10x10
    cells (centred on pixels 6.5 + 2i), interpolated linearly between the cell centres and
    divided by its maximum."""
    import tensorflow as tf

    model, images, labels, _ = digits_lenet
    x = tf.constant(images[:4])
    split = keras.Model(model.inputs, [model.get_layer("c3_act").output,
                                       model.get_layer("f6_act").output])
    head = model.get_layer("predictions")
    with tf.GradientTape() as tape:
        maps, features = split(x, training=False)
        logits = tf.matmul(features, head.kernel) + head.bias   # before the softmax
        picked = tf.reduce_sum(tf.gather(logits, labels[:4], axis=1, batch_dims=1))
    grads = tape.gradient(picked, maps).numpy()
    cells = np.maximum((grads.mean(axis=(1, 2), keepdims=True) * maps.numpy()).sum(-1), 0)
    centres, pixels = 6.5 + 2.0 * np.arange(10), np.arange(32)
    expected = np.empty((4, 32, 32))
    for i, cam in enumerate(cells):
        rows = np.stack([np.interp(pixels, centres, r) for r in cam])           # (10, 32)
        expected[i] = np.stack([np.interp(pixels, centres, c) for c in rows.T]).T
        expected[i] /= expected[i].max()
    np.testing.assert_allclose(visualize.grad_cam(model, images[:4], labels[:4]), expected,
                               atol=1e-5)


def test_grad_cam_of_the_true_class_lies_on_the_strokes(digits_lenet):
    model, images, labels, ink = digits_lenet
    cam = visualize.grad_cam(model, images, labels)
    on_ink, off_ink = cam[ink].mean(), cam[~ink].mean()
    assert on_ink > 1.2 * off_ink, (on_ink, off_ink)


def test_occluding_the_strokes_lowers_the_class_score_more_than_the_background(digits_lenet):
    model, images, labels, ink = digits_lenet
    probs = np.asarray(model(images, training=False))
    rows = np.arange(len(images))
    base = probs[rows, labels]
    background = images.min()
    # the strokes painted over with background, against as many background pixels
    # painted with ink
    no_strokes = np.where(ink[..., None], background, images)
    rng = np.random.default_rng(0)
    blotted = images.copy()
    for i, mask in enumerate(ink):
        spots = np.flatnonzero(~mask)
        chosen = rng.choice(spots, size=min(mask.sum(), len(spots)), replace=False)
        blotted[i].reshape(-1)[chosen] = images.max()
    drop_strokes = base - np.asarray(model(no_strokes, training=False))[rows, labels]
    drop_background = base - np.asarray(model(blotted, training=False))[rows, labels]
    assert drop_strokes.mean() > 0.5 and drop_strokes.mean() > drop_background.mean()
    # occlusion sensitivity: the patches that hurt lie on the strokes
    heat = visualize.occlusion(model, images[:8], labels[:8], patch=4, stride=2)
    assert heat.shape == (8, 32, 32)
    assert heat[ink[:8]].mean() > heat[~ink[:8]].mean()
    # one patch as large as the image: the drop is p(image) - p(image's mean) everywhere
    whole = visualize.occlusion(model, images[:2], labels[:2], patch=32)
    flat = np.broadcast_to(images[:2].mean(axis=(1, 2), keepdims=True), images[:2].shape)
    expected = base[:2] - np.asarray(model(flat, training=False))[[0, 1], labels[:2]]
    np.testing.assert_allclose(whole[:, 5, 7], expected, atol=1e-5)


def test_class_scores_are_the_logits_and_saliency_matches_finite_differences(digits_lenet):
    model, images, labels, _ = digits_lenet
    scores = visualize.class_scores(model, images[:6])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(scores)),
                               np.asarray(model(images[:6], training=False)), atol=1e-5)
    sal = visualize.saliency(model, images[:3], labels[:3])
    assert sal.shape == (3, 32, 32) and sal.dtype == np.float32
    assert sal.min() >= 0 and np.allclose(sal.reshape(3, -1).max(1), 1.0)
    # |d score / d pixel| by central differences, relative to the most salient pixel
    image, label, eps = images[0], labels[0], 1e-2
    top = np.unravel_index(np.argmax(sal[0]), sal[0].shape)
    pixels = [top] + [tuple(p) for p in np.random.default_rng(1).integers(4, 28, (5, 2))]

    def derivative(pixel):
        up, down = image.copy(), image.copy()
        up[pixel] += eps
        down[pixel] -= eps
        s = visualize.class_scores(model, np.stack([up, down]))[:, label]
        return abs(s[0] - s[1]) / (2 * eps)

    d = np.array([derivative(p) for p in pixels])
    np.testing.assert_allclose(d / d[0], [sal[0][p] for p in pixels], atol=0.03)
    # SmoothGrad without noise is the plain gradient; with noise, a smoother map in [0, 1]
    np.testing.assert_allclose(visualize.smooth_grad(model, images[:3], labels[:3], noise=0.0,
                                                     samples=2), sal, atol=1e-5)
    smooth = visualize.smooth_grad(model, images[:3], labels[:3], samples=8)
    assert smooth.shape == (3, 32, 32) and 0 <= smooth.min() and smooth.max() == 1.0


def test_pictures_of_the_trained_network(digits_lenet, tmp_path):
    model, images, labels, _ = digits_lenet
    c1 = visualize.kernel(model)
    np.testing.assert_array_equal(c1, model.get_layer("c1").kernel.numpy())
    paths = [visualize.filters(model, path=tmp_path / "filters.png"),
             visualize.filters(model, "c3", path=tmp_path / "c3.png"),
             visualize.activations(model, images[0], path=tmp_path / "maps.png"),
             visualize.attributions(model, images[:4], labels=labels[:4],
                                    methods=("grad_cam", "saliency", "occlusion"),
                                    path=tmp_path / "why.png")]
    assert all(_png(p) for p in paths)
    maps = visualize.feature_maps(model, images[:2])
    assert {k: v.shape for k, v in maps.items()} == {
        "c1_act": (2, 28, 28, 6), "c3_act": (2, 10, 10, 16), "c5_act": (2, 1, 1, 120)}
    # a model that is no registered network: the last layer of each spatial size
    renamed = kcnn.build("lenet5_modern", name="my_lenet")
    assert visualize.default_layers(renamed) == ("c1_act", "s2", "c3_act", "s4", "c5_act")


def test_bad_arguments_are_refused_before_anything_is_written(digits_lenet, tmp_path):
    model, images, labels, _ = digits_lenet
    with pytest.raises(ValueError, match="Did you mean 'c3'"):
        visualize.filters(model, "c33")
    with pytest.raises(ValueError, match=r"Received: path="):
        visualize.filters(model, path=tmp_path / "filters.txt")
    with pytest.raises(ValueError, match="Did you mean 'grad_cam'"):
        visualize.attributions(model, images[:2], methods=("gradcam",))
    with pytest.raises(ValueError, match=r"class_index"):
        visualize.grad_cam(model, images[:2], 10)
    with pytest.raises(ValueError, match="shape"):
        visualize.grad_cam(model, np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match=r"`stride` must be at most `patch`.*stride=5"):
        visualize.occlusion(model, images[:1], patch=2, stride=5)   # gaps would be 0/0
    assert os.listdir(tmp_path) == []


def test_mixed_bfloat16_gives_the_float32_pictures(digits_lenet, tmp_path):
    model, images, labels, _ = digits_lenet
    policy = "mixed_bfloat16"
    reference = visualize.grad_cam(model, images[:8], labels[:8])
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        copy = kcnn.build("lenet5_modern")
        copy.set_weights(model.get_weights())
        assert copy.get_layer("c3").compute_dtype == "bfloat16"
        cam = visualize.grad_cam(copy, images[:8], labels[:8])
        sal = visualize.saliency(copy, images[:8], labels[:8])
        visualize.attributions(copy, images[:4], labels=labels[:4],
                               path=tmp_path / "cam.png")
        visualize.activations(copy, images[0], path=tmp_path / "maps.png")
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    for heat in (cam, sal):
        assert heat.dtype == np.float32 and np.isfinite(heat).all()
        assert heat.min() >= 0 and heat.max() <= 1
    correlation = np.corrcoef(cam.ravel(), reference.ravel())[0, 1]
    assert correlation > 0.9, correlation
    assert _png(tmp_path / "cam.png") and _png(tmp_path / "maps.png")


# === Diagrams against the papers' tables ===

# Szegedy et al. 2014, Table 1: output size and the Inception columns
# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
GOOGLENET_TABLE_1 = [
    ("conv1_7x7_s2", (112, 112, 64), None),
    ("pool1_3x3_s2", (56, 56, 64), None),
    ("conv2_3x3", (56, 56, 192), None),
    ("pool2_3x3_s2", (28, 28, 192), None),
    ("inception3a", (28, 28, 256), (64, 96, 128, 16, 32, 32)),
    ("inception3b", (28, 28, 480), (128, 128, 192, 32, 96, 64)),
    ("pool3_3x3_s2", (14, 14, 480), None),
    ("inception4a", (14, 14, 512), (192, 96, 208, 16, 48, 64)),
    ("inception4b", (14, 14, 512), (160, 112, 224, 24, 64, 64)),
    ("inception4c", (14, 14, 512), (128, 128, 256, 24, 64, 64)),
    ("inception4d", (14, 14, 528), (112, 144, 288, 32, 64, 64)),
    ("inception4e", (14, 14, 832), (256, 160, 320, 32, 128, 128)),
    ("pool4_3x3_s2", (7, 7, 832), None),
    ("inception5a", (7, 7, 832), (256, 160, 320, 32, 128, 128)),
    ("inception5b", (7, 7, 1024), (384, 192, 384, 48, 128, 128)),
]


def test_googlenet_diagram_matches_table_1(tmp_path):
    model = kcnn.build("googlenet")
    boxes = {b.name: b for b in visualize.diagram_boxes(model)}
    for name, shape, columns in GOOGLENET_TABLE_1:
        assert boxes[name].output_shape == shape, name
        if columns:
            assert boxes[name].kind == "block"
            numbers = tuple(int(n) for n in re.findall(r"\d+", boxes[name].detail))
            assert numbers == (1, 1, columns[0], 3, 3, *columns[1:3], 5, 5, *columns[3:]), \
                boxes[name].detail
    # the LRN layers of Figure 3 are folded into the boxes they follow
    assert "LRN" in boxes["pool1_3x3_s2"].detail and "pool1_norm1" not in boxes
    # section 5: the auxiliary heads read inception4a and 4d through a 5x5/3 average pool
    # (4x4x512, 4x4x528), then a 1x1 convolution of 128 filters and 1024 units
    aux = {b.name: b for b in visualize.diagram_boxes("googlenet", aux_logits=True)}
    for head, source, width in (("aux1", "inception4a", 512), ("aux2", "inception4d", 528)):
        assert aux[f"{head}_ave_pool"].source == source
        assert aux[f"{head}_ave_pool"].output_shape == (4, 4, width)
        assert aux[f"{head}_conv"].output_shape == (4, 4, 128) and aux[f"{head}_conv"].source is None
        assert aux[f"{head}_fc"].output_shape == (1024,)
    svg, png = tmp_path / "googlenet.svg", tmp_path / "googlenet.png"
    visualize.diagram(model, [svg, png])
    text = svg.read_text()
    for name, shape, _ in GOOGLENET_TABLE_1:
        assert f">{name}<" in text and "x".join(map(str, shape)) in text, name
    assert _png(png)


def test_resnet50_diagram_has_the_papers_stages():
    # He et al. 2015, Table 1: conv2_x 56x56 ... conv5_x 7x7, 3-4-6-3 bottleneck blocks of
    # output width 256, 512, 1024, 2048; conv1 112x112x64, the 3x3/2 max pool 56x56
    boxes = visualize.diagram_boxes("resnet50")
    by_name = {b.name: b for b in boxes}
    assert by_name["conv1_conv"].output_shape == (112, 112, 64)
    assert "7x7/2" in by_name["conv1_conv"].detail and "BN" in by_name["conv1_conv"].detail
    assert by_name["pool1_pool"].output_shape == (56, 56, 64)
    stages = {2: (3, 56, 256), 3: (4, 28, 512), 4: (6, 14, 1024), 5: (3, 7, 2048)}
    blocks = [b for b in boxes if b.kind == "block"]
    assert len(blocks) == sum(n for n, _, _ in stages.values())
    for stage, (count, size, width) in stages.items():
        ours = [b for b in blocks if b.name.startswith(f"conv{stage}_block")]
        assert [b.name for b in ours] == [f"conv{stage}_block{i}" for i in range(1, count + 1)]
        assert {b.output_shape for b in ours} == {(size, size, width)}


# === Every registered network ===

def _smallest(name):
    """The network at the smallest input its builder accepts, with 10 classes where the
    builder takes ``num_classes`` (AlphaGo's networks on a 5x5 board)."""
    spec = kcnn.get_spec(name)
    if spec.family == "alphago":
        return kcnn.build(name, board_size=5)
    with pytest.raises(ValueError, match=r"minimum size is \d+x\d+") as error:
        kcnn.build(name, input_shape=(1, 1, spec.input_shape[-1]))
    size = int(re.search(r"minimum size is (\d+)x", str(error.value)).group(1))
    return kcnn.build(name, input_shape=(size, size, spec.input_shape[-1]), num_classes=10)


# the last convolutional map larger than 1x1 at those sizes
CAM_LAYERS = {"lenet5_modern": "c3_act", "resnet50": "conv4_block6", "resnet20": "conv3_block3",
              "googlenet": "inception4e", "vgg11_bn": "block5_conv2_relu", "alexnet": "conv5",
              "alphago_policy": "conv12"}
# one network of each builder, block type and head; the slow test draws the others
EACH_KIND = ("lenet5", "lenet5_modern", "alexnet", "vgg11_bn", "googlenet", "resnet20",
             "resnet50", "alphago_policy", "alphago_value", "convnet")


def test_every_picture_for_one_network_of_each_kind(tmp_path):
    assert set(CAM_LAYERS) <= set(EACH_KIND) <= set(kcnn.list_models())
    _draw_every_picture(EACH_KIND, tmp_path)


@pytest.mark.slow
def test_every_picture_for_every_other_registered_network(tmp_path):
    _draw_every_picture([n for n in kcnn.list_models() if n not in EACH_KIND], tmp_path)


def _draw_every_picture(names, tmp_path):
    for name in names:
        model = _smallest(name)
        images = np.random.default_rng(0).uniform(
            -1, 1, (2, *model.inputs[0].shape[1:])).astype("float32")
        layer = visualize.default_cam_layer(model)
        assert CAM_LAYERS.get(name, layer) == layer, name
        folder = tmp_path / name
        folder.mkdir()
        visualize.filters(model, path=folder / "filters.png")
        visualize.activations(model, images[0], path=folder / "activations.png")
        visualize.attributions(model, images, path=folder / "gradcam.png")
        visualize.diagram(model, folder / "diagram.svg")
        assert all(_png(folder / f) for f in ("filters.png", "activations.png", "gradcam.png"))
        text = (folder / "diagram.svg").read_text()
        assert all(f">{b.name}<" in text for b in visualize.diagram_boxes(model)), name
        keras.backend.clear_session(free_memory=False)


# === Run folders ===

def test_main_job_writes_the_pictures_and_kcnn_show_reports_the_run(tmp_path, capsys):
    from kcnn.cli import main
    from kcnn.training.cli import find_recipe, load_recipe_module
    from kcnn.visualize.run import PICTURES

    recipe = load_recipe_module(find_recipe("lenet5_digits")).RECIPE
    folder = tmp_path / "run"
    recipe.run(output=str(folder), verbose=0, smoke=True)
    assert all(_png(folder / p) for p in PICTURES), os.listdir(folder)
    for p in PICTURES:
        os.remove(folder / p)
    with open(folder / "history.json", "w") as f:
        json.dump([{"epoch": 1, "accuracy": 0.5, "loss": 1.0},
                   {"epoch": 2, "accuracy": 0.75, "loss": 0.5},
                   {"epoch": 3, "accuracy": 0.625, "loss": 0.7}], f)
    capsys.readouterr()
    assert main(["show", str(folder), "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "recipe          lenet5_digits" in out
    assert "best accuracy   0.7500 (epoch 2)" in out and "last accuracy   0.6250" in out
    assert re.search(r"test accuracy   \d\.\d{4} on \d+ images", out)
    assert all(_png(folder / p) for p in PICTURES)
    assert main(["show", str(tmp_path / "nothing")]) == 2
