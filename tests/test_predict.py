"""ImageNet classes, ``kcnn predict``, ``kcnn evaluate`` and ``kcnn weights convert``, offline
with a tiny network whose classifier is set by hand."""

import json
import os

import numpy as np
import pytest

import kcnn
from kcnn.imagenet import classes, class_names, decode_predictions, index_of, wnids
from kcnn.imagenet import cli
from kcnn.imagenet.pretrained import build_pretrained, converted_info

TINY = ["--set", "input_shape=(32, 32, 3)", "--set", "fc_units=8"]
TINY_KWARGS = dict(input_shape=(32, 32, 3), fc_units=8)
TABBY, TENCH = 281, 0


def test_the_1000_classes_in_sorted_wordnet_order():
    assert len(classes()) == 1000 and len(set(wnids())) == 1000
    assert list(wnids()) == sorted(wnids())
    assert all(len(w) == 9 and w.startswith("n") for w in wnids())
    known = {0: ("n01440764", "tench"), 1: ("n01443537", "goldfish"),
             281: ("n02123045", "tabby"), 385: ("n02504013", "Indian elephant"),
             386: ("n02504458", "African elephant"), 999: ("n15075141", "toilet tissue")}
    for i, pair in known.items():
        assert classes()[i] == pair
    assert index_of("n02123045") == 281 and class_names()[1] == "goldfish"
    with pytest.raises(ValueError, match="n99999999"):
        index_of("n99999999")


def test_decode_predictions_agrees_with_keras_applications(monkeypatch):
    from keras.src.applications import imagenet_utils

    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX",
                        {str(i): [w, n] for i, (w, n) in enumerate(classes())})
    preds = np.random.default_rng(0).random((3, 1000)).astype("float32")
    ours = decode_predictions(preds, top=5)
    theirs = imagenet_utils.decode_predictions(preds, top=5)
    assert [[(w, n, pytest.approx(s)) for w, n, s in row] for row in theirs] == ours
    assert ours[0][0][2] == pytest.approx(preds[0].max())
    with pytest.raises(ValueError, match=r"Received: preds.shape=\(2, 10\)"):
        decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="top"):
        decode_predictions(preds, top=0)


def _tiny_checkpoint(path, best=TABBY, second=TENCH):
    """A vgg11 whose logits ignore the image: ``best`` first, ``second`` next."""
    model = kcnn.build("vgg11", classifier_activation=None, **TINY_KWARGS)
    head = model.get_layer("predictions")
    bias = np.zeros(1000, "float32")
    bias[best], bias[second] = 10.0, 5.0
    head.set_weights([np.zeros_like(head.get_weights()[0]), bias])
    model.save_weights(path)
    return model


def _write_image(path, seed, size=(40, 52)):
    import tensorflow as tf

    image = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    data = tf.io.encode_png(image) if path.endswith(".png") else tf.io.encode_jpeg(image)
    tf.io.write_file(path, data)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    weights = str(root / "tiny.weights.h5")
    _tiny_checkpoint(weights)
    val = root / "val"
    for wnid, n in (("n01440764", 2), ("n02123045", 3)):
        (val / wnid).mkdir(parents=True)
        for i in range(n):
            _write_image(str(val / wnid / f"{i}.png"), seed=i)
    (val / "n01440764" / "broken.jpg").write_bytes(b"not an image")
    return {"root": root, "weights": weights, "val": str(val)}


def test_predict_prints_top5_per_image_and_skips_bad_ones(files, capsys):
    image = os.path.join(files["val"], "n02123045", "0.png")
    broken = os.path.join(files["val"], "n01440764", "broken.jpg")
    code = cli.predict_main([image, broken, "--model", "vgg11", "--weights", files["weights"],
                             "--set", "classifier_activation=None", *TINY])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("# vgg11") and "preprocessing torch" in lines[0]
    assert lines[1] == image
    assert lines[2].split()[:3] == ["1.", "n02123045", "tabby"]
    assert lines[3].split()[:3] == ["2.", "n01440764", "tench"]
    assert len(lines) == 7  # header, one image, five classes
    assert "broken.jpg" in err and "1 of 2 images skipped" in err
    assert cli.predict_main([broken, "--model", "vgg11", "--weights", files["weights"],
                             *TINY]) == 1


def test_predict_refuses_unknown_source_and_non_imagenet_head(files, capsys):
    image = os.path.join(files["val"], "n02123045", "0.png")
    assert cli.predict_main([image, "--model", "resnet50", "--weights", "torchvison"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_evaluate_measures_top1_top5_on_wordnet_folders(files, capsys, tmp_path):
    out = str(tmp_path / "eval.json")
    code = cli.evaluate_main([files["val"], "--model", "vgg11", "--weights", files["weights"],
                              *TINY, "--output", out])
    printed, err = capsys.readouterr()
    assert code == 0, err
    result = json.load(open(out))
    # every image is called "tabby" first and "tench" second: 3 of 5 right at top-1
    assert (result["images"], result["skipped"], result["classes"]) == (5, 1, 2)
    assert result["top1"] == pytest.approx(3 / 5) and result["top5"] == pytest.approx(1.0)
    assert "top-1 60.00%" in printed and "broken.jpg" in err


def test_evaluate_flat_folder_with_labels_file(files, capsys, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        _write_image(str(flat / f"ILSVRC2012_val_{i:08d}.JPEG"), seed=10 + i)
    (tmp_path / "labels.txt").write_text("n02123045\n281\nn01443537\n")
    code = cli.evaluate_main([str(flat), "--labels", str(tmp_path / "labels.txt"),
                              "--model", "vgg11", "--weights", files["weights"], *TINY])
    assert code == 0
    assert "top-1 66.67%" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cats").mkdir()
    assert cli.evaluate_main([str(tmp_path / "bad"), "--model", "vgg11", "--weights",
                              files["weights"], *TINY]) == 2
    assert "'cats' is not an ILSVRC-2012 class" in capsys.readouterr().err


def test_convert_writes_kcnn_weights_with_the_variant_recorded(files, tmp_path, capsys):
    out = str(tmp_path / "vgg11_tiny.weights.h5")
    assert cli.weights_main(["convert", files["weights"], "--model", "vgg11", *TINY,
                             "--output", out]) == 0
    assert converted_info(out) == ("vgg11", {"fc_units": 8, "input_shape": [32, 32, 3]}, None)
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    # the converted file rebuilds the same variant by itself and gives the same outputs
    model, source = build_pretrained("vgg11", out)
    reference = kcnn.build("vgg11", weights=files["weights"], **TINY_KWARGS)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)), rtol=1e-6)
    assert source is None
    with pytest.raises(ValueError, match="fc_units=8"):
        build_pretrained("vgg11", out, fc_units=16)
    with pytest.raises(ValueError, match="converted for 'vgg11', not 'vgg13'"):
        build_pretrained("vgg13", out)
    # refused before anything is written
    capsys.readouterr()
    assert cli.weights_main(["convert", files["weights"], "--model", "vgg11", *TINY,
                             "--output", out]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.weights_main(["convert", files["weights"], "--model", "vgg11", *TINY,
                             "--output", str(tmp_path / "x.h5")]) == 2
    assert ".weights.h5" in capsys.readouterr().err
    assert cli.weights_main(["convert", str(tmp_path / "missing.pth"), "--model", "vgg11",
                             "--output", str(tmp_path / "y.weights.h5")]) == 2
    assert sorted(os.listdir(tmp_path)) == ["vgg11_tiny.weights.h5"]


def test_a_publishers_file_without_source_gets_its_publishers_preprocessing(files, tmp_path):
    from kcnn.imagenet.pretrained import source_of
    from tests.test_weights_formats import write_keras_h5, write_torch_zip

    pth = str(tmp_path / "vgg16.pth")
    write_torch_zip(pth, {"features.0.weight": np.zeros((2, 3, 3, 3), "float32")})
    assert source_of("vgg16", pth).preprocessing == "torch"  # not keras.applications' caffe
    assert source_of("resnet50", pth).origin == "torchvision"
    h5 = str(tmp_path / "vgg16.h5")
    write_keras_h5(h5, [("fc1", [("kernel", np.zeros((2, 2), "float32"))])])
    assert source_of("vgg16", h5).name == "keras"
    assert source_of("vgg11", h5) is None  # no keras.applications VGG-11
    assert source_of("vgg11", files["weights"]) is None  # kcnn's own file
    assert source_of("vgg16", pth, "vgg_caffe").name == "vgg_caffe"  # the user's word wins


def test_source_variant_contradiction_is_refused(files):
    with pytest.raises(ValueError, match="stride_in_3x3=True"):
        build_pretrained("resnet50", files["weights"], source="torchvision_v1",
                         stride_in_3x3=False)


def test_weights_list_and_fetch_offline(capsys, monkeypatch, tmp_path):
    assert cli.weights_main(["list", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "torchvision_v2" in out and "80.858" in out and "publishers' figures" in out
    assert "imagenet, keras, torchvision_v1, torchvision_v2, msra" in out
    assert "checksum sha256 11ad3fa6" in out and "checksum md5 2cb95161" in out
    assert "no download URL: ResNet-50-model.caffemodel" in out
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert cli.weights_main(["fetch", "resnet50", "--weights", "msra"]) == 2
    assert os.path.join(str(tmp_path), "kcnn", "ResNet-50-model.caffemodel") in \
        capsys.readouterr().err


def test_commands_are_registered_in_the_kcnn_cli():
    from kcnn import cli as main_cli

    for command in ("predict", "evaluate", "weights"):
        module, function, _ = main_cli.DELEGATED[command]
        assert getattr(cli, function).__module__ == module


def test_convert_and_predict_a_torchvision_checkpoint(tmp_path, capsys):
    """A .pth in torchvision's layout and key names (random BN statistics), converted once
    and used by kcnn predict with torchvision's preprocessing."""
    from kcnn.imagenet.images import load_image, transform_for
    from tests.test_weights_formats import write_torch_zip
    from tests.test_weights_models import nhwc, torch_resnet_forward, torch_resnet_state

    narrow = ["--set", "stackwise_num_blocks=(1, 1, 1, 1)",
              "--set", "stackwise_num_filters=(2, 4, 4, 8)", "--set", "input_shape=(32, 32, 3)",
              "--set", "classifier_activation=None"]
    sd = torch_resnet_state("bottleneck", (1, 1, 1, 1), (2, 4, 4, 8), 1000)
    pth = str(tmp_path / "resnet50-0676ba61.pth")
    write_torch_zip(pth, sd)
    out = str(tmp_path / "resnet50_tv.weights.h5")
    # without the source's variant (v1.5), the checkpoint is refused and nothing written
    assert cli.weights_main(["convert", pth, "--model", "resnet50", *narrow,
                             "--output", out]) == 2
    assert "stride_in_3x3=True" in capsys.readouterr().err and not os.path.exists(out)
    assert cli.weights_main(["convert", pth, "--model", "resnet50", "--source",
                             "torchvision_v1", *narrow, "--output", out]) == 0
    model, kwargs, source = converted_info(out)
    assert (model, source, kwargs["stride_in_3x3"]) == ("resnet50", "torchvision_v1", True)

    image = str(tmp_path / "x.png")
    _write_image(image, seed=3, size=(48, 40))
    capsys.readouterr()
    assert cli.predict_main([image, "--model", "resnet50", "--weights", out]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "torchvision torchvision_v1" in lines[0] and "preprocessing torch" in lines[0]
    # reference: numpy forward pass of the torch layout on torchvision's normalisation
    x = load_image(image, transform_for("resnet50", "torchvision_v1", crop_size=32))
    x = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    logits = torch_resnet_forward(sd, nhwc(x[None].astype("float32")), v15=True)[0]
    want = decode_predictions(logits[None], top=5)[0]
    assert [line.split()[1] for line in lines[2:7]] == [w for w, _, _ in want]
