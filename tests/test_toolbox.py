"""The toolbox's layers, loss and optimizer together: dtype policies, XLA, and .keras files
reloaded in a fresh process (one model and one process for all of them, to keep the suite
fast)."""

import json

import keras
import numpy as np
import tensorflow as tf

import kcnn
from kcnn import layers as kl
from kcnn.losses import SmoothL1
from kcnn.optimizers import AlexNetSGD
from tests.helpers import TOLERANCE, run_fresh

RNG = np.random.default_rng(5)
EIGENVALUES = [0.2, 0.02, 0.005]
EIGENVECTORS = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0].tolist()
NAMES = ["crop", "pca", "apl", "rrelu", "maxout", "l2_pool", "max_avg_pool", "csoftplus",
         "vrelu", "predictions"]


def _toolbox_model():
    inputs = keras.Input((10, 10, 3), name="image")
    x = kl.CropAndFlip(8, seed=1, name="crop")(inputs)
    x = kl.PCAColorAugmentation(EIGENVALUES, EIGENVECTORS, seed=2, name="pca")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(x)
    x = kl.APL(num_hinges=2, name="apl")(x)
    x = kl.RReLU(seed=3, name="rrelu")(x)
    x = kl.Maxout(2, name="maxout")(x)
    x = kcnn.layers.pooling.get("l2", pool_size=2, name="l2_pool")(x)
    x = kl.MaxAveragePooling2D(2, learn_alpha=True, name="max_avg_pool")(x)
    x = kcnn.activations.layer("centered_softplus", name="csoftplus")(x)
    x = kcnn.activations.layer("vrelu", name="vrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(2, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="toolbox")


def _with_intermediates(model):
    return keras.Model(model.input, [model.get_layer(n).output for n in NAMES])


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def test_every_layer_under_each_policy_with_xla(policy):
    x = RNG.uniform(size=(4, 10, 10, 3)).astype("float32")
    model = _with_intermediates(_toolbox_model())
    compute_dtype = keras.mixed_precision.dtype_policy().compute_dtype
    keras.mixed_precision.set_dtype_policy("float32")
    reference = _with_intermediates(_toolbox_model())
    reference.set_weights(model.get_weights())
    expected = [_np(t) for t in reference(x)]

    # one XLA compilation for both modes (compiling random number generators is slow)
    compiled = tf.function(lambda t: (model(t, training=False), model(t, training=True)),
                           jit_compile=True)
    outputs, trained = compiled(x)
    for name, y, e in zip(NAMES, outputs, expected):
        assert y.dtype == ("float32" if name in ("crop", "predictions") else compute_dtype), name
        scale = max(1.0, np.abs(e).max())
        np.testing.assert_allclose(_np(y), e, atol=4 * TOLERANCE[policy] * scale, err_msg=name)
    for name, y, e in zip(NAMES, trained, outputs):
        assert np.all(np.isfinite(_np(y))), name
        if name in ("crop", "pca", "rrelu"):
            assert not np.allclose(_np(y), _np(e)), name


def test_keras_file_reloads_in_a_fresh_process(tmp_path):
    x = RNG.uniform(size=(4, 10, 10, 3)).astype("float32")
    y = RNG.normal(size=(4, 2)).astype("float32")
    model = _toolbox_model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)
    model.compile(optimizer=AlexNetSGD(learning_rate=schedule, weight_decay=0.01),
                  loss=SmoothL1(beta=0.5))
    for _ in range(2):
        model.train_on_batch(x, y)
    path = tmp_path / "toolbox.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    out = run_fresh(f"""
        import json, numpy as np, keras, kcnn, kcnn.losses, kcnn.optimizers
        m = keras.saving.load_model({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        config = m.optimizer.get_config()
        print(json.dumps({{
            "inference": np.asarray(m(x, training=False)).tolist(),
            "optimizer": type(m.optimizer).__name__, "momentum": config["momentum"],
            "weight_decay": config["weight_decay"],
            "schedule": config["learning_rate"]["config"],
            "state": [np.asarray(v).tolist() for v in m.optimizer.variables],
            "loss": type(m.loss).__name__, "beta": m.loss.beta,
            "layers": {{l.name: [type(l).__name__, l.get_config()] for l in m.layers}}}}))
    """)
    np.testing.assert_allclose(out["inference"], _np(model(x, training=False)), atol=1e-5)
    assert (out["optimizer"], out["momentum"], out["weight_decay"]) == ("AlexNetSGD", 0.9, 0.01)
    assert out["schedule"] == schedule.get_config()
    assert (out["loss"], out["beta"]) == ("SmoothL1", 0.5)
    # the step count and the velocities of the update rule, so training resumes where it was
    assert len(out["state"]) == len(model.optimizer.variables) > 2
    for reloaded, original in zip(out["state"], model.optimizer.variables):
        np.testing.assert_allclose(reloaded, _np(original), atol=1e-6)
    assert out["state"][0] == 2
    for layer in model.layers:
        name, config = out["layers"][layer.name]
        assert name == type(layer).__name__
        assert config == json.loads(json.dumps(layer.get_config())), layer.name
