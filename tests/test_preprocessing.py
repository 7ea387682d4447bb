import numpy as np
import pytest

import kcnn
from kcnn.preprocessing import (MODES, Preprocessing, eval_sizes, for_model, mode_for,
                                preprocess_input)


def test_imagenet_mean_subtraction():
    x = np.full((1, 2, 2, 3), 200.0, "float32")
    y = np.asarray(preprocess_input(x, "imagenet_mean"))
    np.testing.assert_allclose(y[0, 0, 0], [200 - 123.68, 200 - 116.779, 200 - 103.939],
                               rtol=1e-6)


def test_lenet_background_and_ink_levels_of_the_paper():
    y = np.asarray(preprocess_input(np.array([[0.0, 1.0]], "float32")[..., None], "lenet"))
    np.testing.assert_allclose(y.ravel(), [-0.1, 1.175], rtol=1e-6)


def test_torch_convention_normalises_mean_and_std():
    rgb = np.array([0.485, 0.456, 0.406], "float32") * 255
    y = np.asarray(preprocess_input(rgb.reshape(1, 1, 1, 3), "torch"))
    np.testing.assert_allclose(y.ravel(), 0.0, atol=1e-5)


def test_every_image_model_names_a_known_mode():
    for name in kcnn.list_models():
        spec = kcnn.get_spec(name)
        if spec.family == "alphago":
            assert spec.preprocessing is None
            with pytest.raises(ValueError, match="no image preprocessing"):
                for_model(name)
        else:
            assert spec.preprocessing in MODES, name
            assert for_model(name).mode == spec.preprocessing


def test_layer_round_trip_and_errors():
    layer = Preprocessing("cifar_mean")
    again = Preprocessing.from_config(layer.get_config())
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(layer(x)))
    with pytest.raises(ValueError, match="mode"):
        Preprocessing("bogus")
    with pytest.raises(ValueError, match="3 channels"):
        preprocess_input(np.zeros((1, 2, 2, 1), "float32"), "imagenet_mean")


def _rgb(seed=0, shape=(2, 5, 6, 3)):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


@pytest.mark.parametrize("model,weights", [("resnet50", "imagenet"), ("resnet152", "keras"),
                                           ("vgg16", "keras"), ("vgg19", "vgg_caffe"),
                                           ("resnet101", "msra")])
def test_caffe_checkpoints_match_keras_applications_caffe_mode(model, weights):
    from keras.applications import imagenet_utils

    x = _rgb()
    want = imagenet_utils.preprocess_input(x.copy(), mode="caffe")
    got = np.asarray(for_model(model, weights=weights)(x))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("model,weights", [("resnet50", "torchvision_v2"),
                                           ("vgg11_bn", "imagenet"), ("resnet18", "imagenet")])
def test_torchvision_checkpoints_match_torch_mode(model, weights):
    from keras.applications import imagenet_utils

    x = _rgb(1)
    want = imagenet_utils.preprocess_input(x.copy(), mode="torch")
    np.testing.assert_allclose(np.asarray(for_model(model, weights=weights)(x)), want,
                               rtol=1e-5, atol=1e-5)
    # numpy formula: ((x / 255) - mean) / std per RGB channel
    formula = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(want, formula, rtol=1e-5, atol=1e-5)


def test_bvlc_means_are_bgr_per_channel():
    x = _rgb(2)
    bgr = x[..., ::-1]
    googlenet = np.asarray(for_model("googlenet", weights="imagenet")(x))
    np.testing.assert_allclose(googlenet, bgr - np.array([104.0, 117.0, 123.0]), atol=1e-4)
    alexnet = np.asarray(for_model("alexnet", weights="bvlc")(x))
    np.testing.assert_allclose(
        alexnet, bgr - np.array([104.00698793, 116.66876762, 122.67891434]), atol=1e-4)


def test_mean_image_subtracts_its_centre_window(tmp_path):
    rng = np.random.default_rng(3)
    mean_chw = rng.uniform(90, 130, (3, 8, 10)).astype("float32")  # Caffe's (C, H, W), BGR
    path = tmp_path / "mean.npy"
    np.save(path, mean_chw)
    x = _rgb(4, (1, 4, 6, 3))
    layer = for_model("alexnet", weights="bvlc", mean_image=str(path))
    window = np.transpose(mean_chw, (1, 2, 0))[2:6, 2:8]
    np.testing.assert_allclose(np.asarray(layer(x)), x[..., ::-1] - window, atol=1e-4)
    again = Preprocessing.from_config(layer.get_config())
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(layer(x)))
    with pytest.raises(ValueError, match="mean image is 8x10"):
        layer(_rgb(5, (1, 9, 9, 3)))
    with pytest.raises(ValueError, match="Caffe modes"):
        Preprocessing("torch", mean_image=str(path))


def test_paper_default_unchanged_and_checkpoint_errors():
    assert for_model("resnet50").mode == "imagenet_mean"
    assert mode_for("resnet50", "torchvision_v1") == "torch"
    assert eval_sizes("resnet50", "torchvision_v2") == (232, 224)
    assert eval_sizes("resnet50", "torchvision_v1") == (256, 224)
    assert eval_sizes("alexnet") == (256, 227)
    with pytest.raises(ValueError, match="torchvision_v2"):
        for_model("resnet50", weights="torchvision_v3")
    with pytest.raises(ValueError, match="does not say how"):
        for_model("resnet50", weights="/some/file.pth")
