"""Distributed training: MirroredStrategy on two logical CPUs and MultiWorkerMirroredStrategy
with two local worker processes each change the weights identically on every replica, and
the same way as one device training on the same global batches."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _replicas(model):
    """Each weight's per-replica copies (one copy without a strategy)."""
    found = []
    for w in model.weights:
        v = w.value
        parts = getattr(v, "values", None) or (v,)
        found.append([np.asarray(p.numpy(), "float64").tolist() for p in parts])
    return found


def train_and_record(out, strategy, tag):
    """Runs the toy recipe (a small dense network, SGD with momentum, unshuffled data) for
    three steps under ``strategy`` and writes ``<out>/<tag>.json`` with every weight (every
    replica's copy) before and after training. Returns the run's metrics."""
    import keras

    from kcnn import training
    from kcnn.training.toy import toy_recipe

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.initial = _replicas(self.model)

    snapshot = Snapshot()

    def evaluate(cfg, model, data):
        with open(os.path.join(out, f"{tag}.json"), "w") as f:
            json.dump({"initial": snapshot.initial, "final": _replicas(model),
                       "replicas": model.distribute_strategy.num_replicas_in_sync}, f)
        return training.evaluate(model, data.test)

    recipe = toy_recipe(callbacks=lambda cfg, data, run: [snapshot], evaluate=evaluate)
    return recipe.run(output=os.path.join(out, f"run_{strategy}"), strategy=strategy,
                      epochs=1, steps_per_epoch=3, validate=True, verbose=0)


# Executed in a fresh interpreter: argv = out, logical CPU count, then (strategy, tag) pairs.
SCRIPT = """
import sys
out, cpus, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
import tensorflow as tf
if cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
sys.path.insert(0, {here!r})
from test_distributed import train_and_record
for strategy, tag in zip(pairs[::2], pairs[1::2]):
    metrics = train_and_record(out, strategy, tag)
    if metrics["chief"]:
        print("test accuracy: %.4f" % metrics["test_accuracy"])
"""


def _start(tmp_path, pairs, *, cpus=1, env=None):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(here=HERE), str(tmp_path), str(cpus),
         *[x for pair in pairs for x in pair]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def _finish(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"worker timed out:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-4000:]
    return out


def _load(path):
    with open(path) as f:
        return json.load(f)


def _assert_same_training(record, reference, replicas):
    """Every replica holds the same weights, they moved from the (common, seeded) start,
    and they equal one device's weights after the same three steps."""
    assert record["replicas"] == replicas
    for initial, ref_initial in zip(record["initial"], reference["initial"]):
        np.testing.assert_array_equal(initial[0], ref_initial[0])
    for final, initial, ref_final in zip(record["final"], record["initial"],
                                         reference["final"]):
        for copy in final[1:]:
            np.testing.assert_array_equal(copy, final[0])
        assert not np.allclose(final[0], initial[0])
        np.testing.assert_allclose(final[0], ref_final[0], rtol=1e-5, atol=1e-6)


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    out = _finish(_start(tmp_path, [("default", "single"), ("mirrored", "mirrored")], cpus=2))
    assert out.strip().splitlines()[-1].startswith("test accuracy: ")
    record = _load(tmp_path / "mirrored.json")
    assert all(len(w) == 2 for w in record["final"])  # a copy per logical CPU
    _assert_same_training(record, _load(tmp_path / "single.json"), replicas=2)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_training_with_two_local_processes(tmp_path):
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(_start(tmp_path, [("multi_worker", f"worker{index}")],
                            env={"TF_CONFIG": json.dumps(tf_config)}))
    train_and_record(str(tmp_path), "default", "single")  # the one-device reference
    outputs = [_finish(p) for p in procs]
    # Only the chief (worker 0) prints the result and writes the run folder.
    assert outputs[0].strip().splitlines()[-1].startswith("test accuracy: ")
    assert "test accuracy" not in outputs[1]
    run = tmp_path / "run_multi_worker"
    assert {"config.json", "model.keras", "metrics.json", "history.json", "curves.png",
            "checkpoints"} <= set(os.listdir(run))
    assert json.loads((run / "metrics.json").read_text())["replicas"] == 2
    chief, other = _load(tmp_path / "worker0.json"), _load(tmp_path / "worker1.json")
    for a, b in zip(chief["final"], other["final"]):
        np.testing.assert_array_equal(a[0], b[0])  # both workers hold the same weights
    _assert_same_training(chief, _load(tmp_path / "single.json"), replicas=2)
