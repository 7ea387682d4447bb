import numpy as np
import pytest

import kcnn
from kcnn.preprocessing import MODES, Preprocessing, for_model, preprocess_input


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
        Preprocessing("caffe")
    with pytest.raises(ValueError, match="3 channels"):
        preprocess_input(np.zeros((1, 2, 2, 1), "float32"), "imagenet_mean")
