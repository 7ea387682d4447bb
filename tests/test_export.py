"""kcnn.export: a network with every kcnn layer type, exported to each format and run by the
format's own runtime (tf.saved_model.load, the TFLite interpreter, onnxruntime), agrees with
Keras; int8 TFLite keeps the predictions; bad arguments are refused before anything is
written."""

import importlib.util
import os

import numpy as np
import pytest

from tests import every_layer

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "tf2onnx"))


@pytest.fixture(scope="module")
def network():
    model = every_layer.build()
    x = every_layer.sample(6, seed=3)
    return model, x, np.asarray(model(x, training=False))


def _check_export(network, tmp_path, format):
    import kcnn.export as kx

    model, x, expected = network
    # the export runs in its own runtime on a batch size it was never traced with
    result = kx.export(model, tmp_path / f"every_layer_{format}", format=format,
                       sample=x[:3], verbose=False)
    assert os.path.exists(result.path) and result.size_bytes > 0
    assert result.format == {"litert": "tflite"}.get(format, format) and not result.int8
    got = kx.run_export(result.path, x, format=format)
    assert len(got) == 1 and got[0].shape == expected.shape
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got[0], expected, rtol=0, atol=2e-6 * scale)
    # the difference reported at export time is the real one, on float rounding's scale
    direct = np.abs(kx.run_export(result.path, x[:3], format=format)[0]
                    - np.asarray(model(x[:3], training=False))).max()
    assert result.max_abs_diff == pytest.approx(float(direct), rel=1e-6, abs=1e-12)
    assert result.max_abs_diff <= 2e-6 * scale
    assert result.max_abs_output == pytest.approx(float(np.abs(expected[:3]).max()), rel=1e-6)
    return result


def test_every_layer_type_is_in_the_network(network):
    import kcnn.layers

    model = network[0]
    used = {type(layer).__name__
            for layer in model._flatten_layers(include_self=False, recursive=True)}
    classes = {name for name in kcnn.layers.__all__
               if isinstance(getattr(kcnn.layers, name), type)}
    assert classes == set(every_layer.LAYER_TYPES)
    assert classes <= used


def test_saved_model(network, tmp_path):
    import tensorflow as tf

    result = _check_export(network, tmp_path, "saved_model")
    loaded = tf.saved_model.load(result.path)
    assert "serve" in loaded.signatures


def test_tflite_litert_alias(network, tmp_path):
    result = _check_export(network, tmp_path, "litert")
    assert result.path.endswith(".tflite") and result.format == "tflite"


@pytest.mark.skipif(not HAS_ONNX, reason="onnx, onnxruntime or tf2onnx is not installed")
def test_onnx_of_a_model_never_called(tmp_path):
    """Keras 3.15 refuses to export a model never called to ONNX without a signature."""
    import onnxruntime

    import kcnn.export as kx

    model, x = every_layer.build(seed=2), every_layer.sample(5, seed=4)
    result = kx.export(model, tmp_path / "every_layer", format="onnx", sample=x[:2],
                       verbose=False)
    assert result.path.endswith("every_layer.onnx")
    session = onnxruntime.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[1:] == list(every_layer.INPUT_SHAPE)
    assert not isinstance(inp.shape[0], int)      # a free batch size
    expected = np.asarray(model(x, training=False))
    (got,) = session.run(None, {inp.name: x})
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * scale)
    assert result.max_abs_diff <= 2e-6 * scale


@pytest.mark.slow
def test_tflite_int8_keeps_the_predictions(tmp_path, capsys):
    """Post-training int8: weights in int8 (a smaller file), calibrated activations, float
    input and output; the predictions of a trained digits classifier barely change."""
    import keras

    import kcnn
    from kcnn.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=16)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    h = kcnn.layers.LocalResponseNormalization(size=3, name="lrn")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    float_result = kcnn.export.export(model, tmp_path / "f32", format="tflite", verbose=False)
    result = kcnn.export.export(model, tmp_path / "int8", format="tflite", int8=True,
                                calibration=x_train[:64], evaluation=(x_test, y_test))
    printed = capsys.readouterr().out
    assert "top-1 accuracy on 360 images" in printed and "max |export - keras|" in printed
    assert result.int8 and result.size_bytes < float_result.size_bytes
    interpreter = kcnn.export._tflite_interpreter(result.path)
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in dtypes
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    acc = result.accuracy
    assert acc["images"] == len(y_test)
    keras_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert acc["keras"] == pytest.approx(keras_acc)
    assert acc["keras"] > 0.85
    assert abs(acc["export"] - acc["keras"]) <= 0.02
    # int8 outputs differ from float ones, but on the scale of a quantization step
    assert 0 < result.max_abs_diff < 0.1 * result.max_abs_output


def test_bad_arguments_are_refused_before_writing(network, tmp_path):
    import kcnn.export as kx

    model = network[0]
    with pytest.raises(ValueError, match=r"Did you mean 'onnx'.*format='onx'"):
        kx.export(model, tmp_path / "a", format="onx")
    with pytest.raises(ValueError, match="int8.*TFLite.*format='onnx'"):
        kx.export(model, tmp_path / "a", format="onnx", int8=True, calibration="digits")
    with pytest.raises(ValueError, match="calibration=None"):
        kx.export(model, tmp_path / "a", format="tflite", int8=True)
    with pytest.raises(ValueError, match="input shape"):
        kx.export(model, tmp_path / "a", format="tflite", int8=True,
                  calibration=np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="Close registered names: lenet5"):
        kx.export("lenet6", tmp_path / "a")
    (tmp_path / "taken.tflite").write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="overwrite"):
        kx.export(model, tmp_path / "taken.tflite", format="tflite")
    assert (tmp_path / "taken.tflite").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.tflite"]


def test_command_line_errors_name_the_problem(tmp_path, capsys):
    import kcnn.export as kx

    assert kx.main(["lenet6", "--output", str(tmp_path / "x")]) == 2
    assert "Close registered names: lenet5" in capsys.readouterr().err
    assert kx.main(["lenet5", "--format", "onx", "--output", str(tmp_path / "x")]) == 2
    assert "Did you mean 'onnx'" in capsys.readouterr().err
    assert kx.main(["lenet5", "--format", "onnx", "--int8", "--calibration", "digits",
                    "--output", str(tmp_path / "x")]) == 2
    assert "int8 quantization applies to the TFLite export" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # default names: next to the run's model, or under exports/
    run = tmp_path / "run"
    run.mkdir()
    assert kx._default_output(str(run), "tflite", True) == str(run / "model_int8.tflite")
    assert kx._default_output("lenet5", "saved_model", False) == os.path.join(
        "exports", "lenet5_saved_model")


def test_digits_for_calibration_and_accuracy_are_scaled_as_the_recipes_feed_them():
    """The digits recipes train on LeCun's scaling (background -0.1, ink 1.175); calibrating
    or scoring on [0, 1] images would measure another input distribution."""
    import kcnn.export as kx

    x, y = kx.digits_as_trained(16, "test")
    assert x.shape == (360, 16, 16, 1) and y.shape == (360,)
    np.testing.assert_allclose([x.min(), x.max()], [-0.1, 1.175], atol=1e-6)
    calibration = kx.load_calibration("digits", (16, 16, 1), limit=64)
    assert calibration.shape == (64, 16, 16, 1)
    np.testing.assert_allclose(calibration.min(), -0.1, atol=1e-6)
