"""kcnn on Keras's JAX and PyTorch backends, checked in one fresh process per backend.

The fresh process (this file run as a script with ``KERAS_BACKEND`` set) checks that
``import kcnn`` does not load TensorFlow, builds every registered network at full size with
its variables left uninitialized (shapes only: fast on any backend), loads a ``.keras`` file
saved here on TensorFlow and runs it, summarizes and folds it for inference, and trains a
small network with kcnn's schedules, both driven by callbacks and inside the optimizer. The
test compares what it reports with the TensorFlow model and with independent references:
the parameter counts of ``tests/test_zoo.py`` and the schedules' formulas.

JAX runs in CI (``jax`` is in the ``dev`` extra); PyTorch runs when ``torch`` is installed
(``pytest -m torch``).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

# the schedule the fit checks follow: linear warmup over 2 steps to 0.1, halved every 3 steps
BASE_RATE, WARMUP, STEP, FACTOR = 0.1, 2, 3, 0.5
BATCHES, EPOCHS = 2, 2
PLATEAU_RATE = 1e-9


def expected_warmup_step_rate(step):
    """``Warmup(StepDecay(0.1, 3, 0.5), 2)`` from its definition (linear from 0)."""
    if step < WARMUP:
        return BASE_RATE * step / WARMUP
    return BASE_RATE * FACTOR ** (step // STEP)


# === The fresh process ===

def _schedules():
    """Schedules of every kind a callback evaluates in blocks, by name."""
    import keras

    from kcnn import schedules as S

    return {
        "multistep": S.MultiStepDecay(0.1, [3, 7], factor=0.5),
        "onecycle": S.OneCycle(0.2, total_steps=12, three_phase=True),
        "cosine_warmup": keras.optimizers.schedules.CosineDecay(
            0.0, 10, warmup_target=0.1, warmup_steps=3),
        "piecewise": keras.optimizers.schedules.PiecewiseConstantDecay([4, 8], [0.3, 0.2, 0.1]),
        "exponential_warmup": S.Warmup(S.StepDecay(0.1, 2), 4, start_learning_rate=1e-3,
                                       kind="exponential"),
    }


def _callback_rates():
    """Rates ScheduleCallback computes per batch (3 epochs of 4), per step and per epoch."""
    from kcnn import schedules as S

    rates = {}
    for name, schedule in _schedules().items():
        for unit in ("step", "epoch"):
            cb = S.ScheduleCallback(schedule, unit=unit, update="batch", steps_per_epoch=4)
            rates[f"{name}/{unit}"] = [cb.learning_rate_at(e, b)
                                       for e in range(3) for b in range(4)]
    return rates


def _fit_checks(keras, kcnn):
    """Rates a ScheduleCallback sets per batch, the rate inside a compiled step (a schedule
    as the optimizer's rate), and ReduceOnPlateau's reduction."""
    from kcnn import schedules as S

    schedule = S.Warmup(S.StepDecay(BASE_RATE, step_size=STEP, factor=FACTOR),
                        warmup_steps=WARMUP)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCHES * 4, 6)).astype("float32")
    y = rng.integers(0, 3, BATCHES * 4)

    def tiny():
        inputs = keras.Input((6,))
        return keras.Model(inputs, keras.layers.Dense(3)(inputs))

    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = tiny()
    model.compile(keras.optimizers.SGD(0.0), loss)
    history = model.fit(x, y, batch_size=4, epochs=EPOCHS, verbose=0,
                        callbacks=[S.ScheduleCallback(schedule), Record()])

    driven = tiny()
    driven.compile(keras.optimizers.SGD(schedule), loss)
    driven.fit(x, y, batch_size=4, epochs=EPOCHS, verbose=0)
    opt = driven.optimizer
    inside = float(keras.ops.convert_to_numpy(opt.learning_rate))

    plateau = tiny()
    plateau.compile(keras.optimizers.SGD(0.0), loss)
    rates = []
    plateau.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[
        S.ReduceOnPlateau(PLATEAU_RATE, monitor="loss", patience=1, factor=0.1),
        keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: rates.append(
            float(keras.ops.convert_to_numpy(plateau.optimizer.learning_rate))))])
    return {"callback_rates": seen, "logged": history.history["learning_rate"],
            "iterations": int(keras.ops.convert_to_numpy(opt.iterations)),
            "optimizer_rate": inside, "plateau_rates": rates}


def _zoo(keras, kcnn):
    """Every registered network at full size, variables left uninitialized (shapes only)."""
    from keras.src.backend.common import global_state

    zoo = {}
    for name in kcnn.list_models():
        spec = kcnn.get_spec(name)
        with keras.StatelessScope(initialize_variables=False):
            model = kcnn.build(name, **spec.reference_kwargs)
        global_state.set_global_attribute("uninitialized_variables", [])
        zoo[name] = {
            "trainable": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
            "weights": [[w.path, list(w.shape)] for w in model.weights],
            "output_shape": [list(o.shape) for o in model.outputs],
        }
    return zoo


def _checks(folder):
    import keras

    import kcnn

    report = {"backend": keras.backend.backend(),
              "tensorflow_after_import": "tensorflow" in sys.modules}
    report["zoo"] = _zoo(keras, kcnn)
    report["tensorflow_after_zoo"] = "tensorflow" in sys.modules
    model = keras.saving.load_model(os.path.join(folder, "every_layer.keras"))
    x = np.load(os.path.join(folder, "x.npy"))
    report["outputs"] = np.asarray(model.predict(x, verbose=0), "float64").tolist()
    report["called"] = np.asarray(keras.ops.convert_to_numpy(model(x)), "float64").tolist()
    report["summary"] = kcnn.summary(model).totals
    model.save(os.path.join(folder, "saved_on_other_backend.keras"))
    folded = kcnn.inference.optimize_for_inference(model)
    report["folded"] = np.asarray(folded.predict(x, verbose=0), "float64").tolist()
    report["fit"] = _fit_checks(keras, kcnn)
    report["callback_rates"] = _callback_rates()
    from kcnn import cli

    # the recipes need TensorFlow's backend: refused with a message, before any work
    report["train_exit_code"] = cli.main(["train", "lenet5_digits", "--smoke", "--output",
                                          os.path.join(folder, "run")])
    report["train_wrote"] = os.path.exists(os.path.join(folder, "run"))
    return report


# === The tests ===

def _run(backend, tmp_path):
    import keras

    from tests import every_layer

    model = every_layer.build()
    x = every_layer.sample()
    model.save(tmp_path / "every_layer.keras")
    np.save(tmp_path / "x.npy", x)
    # XLA's compile time dominates these tiny graphs: JAX compiles them unoptimized
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_DISABLE_MOST_OPTIMIZATIONS="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(__file__)),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    expected = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    return model, expected, report, tmp_path, x


def _check_report(model, expected, report, folder, x):
    import keras
    from keras.src.backend.common import global_state

    import kcnn
    from tests.test_zoo import REFERENCE_PARAMS

    # TensorFlow stays unloaded on the other backend through import kcnn and building
    # every network (Keras itself loads it, when installed, to serialize a configuration)
    assert not report["tensorflow_after_import"]
    assert not report["tensorflow_after_zoo"]

    # the zoo: every registered network, parameter counts from the papers, and the same
    # weights (paths and shapes) and outputs as on TensorFlow
    assert sorted(report["zoo"]) == sorted(kcnn.list_models())
    for name, entry in report["zoo"].items():
        assert entry["trainable"] == REFERENCE_PARAMS[name], name
    for name in ("googlenet", "resnet50", "alphago_policy", "lenet5"):
        spec = kcnn.get_spec(name)
        with keras.StatelessScope(initialize_variables=False):
            tf_model = kcnn.build(name, **spec.reference_kwargs)
        global_state.set_global_attribute("uninitialized_variables", [])
        assert report["zoo"][name]["weights"] == [[w.path, list(w.shape)]
                                                  for w in tf_model.weights], name
        assert report["zoo"][name]["output_shape"] == [list(o.shape)
                                                       for o in tf_model.outputs], name

    # a .keras file saved on TensorFlow gives the same outputs (float rounding)
    scale = np.abs(expected).max()
    for key in ("outputs", "called", "folded"):
        np.testing.assert_allclose(report[key], expected, rtol=0, atol=2e-6 * scale,
                                   err_msg=key)
    assert report["summary"] == kcnn.summary(model).totals
    # and back: the file saved on the other backend loads here with the same outputs
    back = keras.saving.load_model(folder / "saved_on_other_backend.keras")
    np.testing.assert_allclose(np.asarray(back(x, training=False)), expected, rtol=0,
                               atol=2e-6 * scale)

    assert report["train_exit_code"] == 2 and not report["train_wrote"]

    # schedules evaluated in blocks (vmap under jit on JAX, map_fn on TensorFlow) agree
    expected_rates = _callback_rates()
    assert sorted(report["callback_rates"]) == sorted(expected_rates)
    for key, rates in expected_rates.items():
        np.testing.assert_allclose(report["callback_rates"][key], rates, rtol=1e-5,
                                   atol=1e-9, err_msg=key)

    fit = report["fit"]
    steps = range(EPOCHS * BATCHES)
    np.testing.assert_allclose(fit["callback_rates"],
                               [expected_warmup_step_rate(s) for s in steps], rtol=1e-6)
    np.testing.assert_allclose(fit["logged"], [expected_warmup_step_rate(
        (e + 1) * BATCHES - 1) for e in range(EPOCHS)], rtol=1e-6)
    assert fit["iterations"] == EPOCHS * BATCHES
    np.testing.assert_allclose(fit["optimizer_rate"],
                               expected_warmup_step_rate(EPOCHS * BATCHES), rtol=1e-6)
    # the loss cannot improve by min_delta at a rate of 1e-9: reduced after epoch 1
    np.testing.assert_allclose(fit["plateau_rates"],
                               [PLATEAU_RATE, PLATEAU_RATE, PLATEAU_RATE * 0.1], rtol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_backend(tmp_path):
    _check_report(*_run("jax", tmp_path))


@pytest.mark.torch
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_backend(tmp_path):
    _check_report(*_run("torch", tmp_path))


def test_import_kcnn_leaves_tensorflow_unloaded_off_tensorflow():
    """Without a subprocess: the modules ``import kcnn`` loads do not import TensorFlow
    at module level (a source check of the eagerly imported packages)."""
    import ast
    import pathlib

    import kcnn

    root = pathlib.Path(kcnn.__file__).parent
    eager = [root / "__init__.py", root / "_console.py", root / "registry.py",
             root / "geometry.py", root / "losses.py", root / "optimizers.py",
             root / "preprocessing.py", root / "activations.py", root / "initializers.py",
             *(root / "layers").glob("*.py"), *(root / "models").glob("*.py"),
             *(root / "schedules").glob("*.py")]
    offenders = []
    for path in eager:
        if not path.exists():
            continue
        for node in ast.parse(path.read_text()).body:   # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "tensorflow" or n.startswith("tensorflow.") for n in names):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders


if __name__ == "__main__":
    print(json.dumps(_checks(sys.argv[1])))
