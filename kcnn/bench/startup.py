"""Start-up costs: ``import kcnn`` on top of TensorFlow and Keras, and building a network
with ``kcnn.build`` against the keras.applications constructor.

Import times are measured in fresh interpreters (a module is imported once per process):
each one imports ``tensorflow`` and ``keras``, then ``kcnn``, timing the two steps
separately, so the extra cost of kcnn is measured against the same process's TensorFlow
import. Build times are measured in one process, interleaved, after a warm-up build of each
(the first build also pays one-off costs: imports, kernel registrations), each build after
``keras.backend.clear_session()``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

from kcnn.bench import timing
from kcnn.bench.device import device_kind

__all__ = ["import_times", "build_times"]

_IMPORT_PROBE = """
import json, time
w0, c0 = time.perf_counter(), time.process_time()
import tensorflow, keras
w1, c1 = time.perf_counter(), time.process_time()
import kcnn
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"tensorflow_keras": w1 - w0, "kcnn": w2 - w1,
                  "tensorflow_keras_cpu": c1 - c0, "kcnn_cpu": c2 - c1}))
"""


def import_times(*, repeats=5, python=None):
    """Seconds to import TensorFlow + Keras and then kcnn, in ``repeats`` fresh processes.

    Returns:
        Summaries (``kcnn.bench.timing.summarize``) of wall-clock seconds
        (``tensorflow_keras_seconds``, ``kcnn_extra_seconds``) and CPU seconds (``*_cpu_*``),
        and the raw values.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([python or sys.executable, "-c", _IMPORT_PROBE],
                              capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"import probe failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"tensorflow_keras_seconds": timing.summarize([r["tensorflow_keras"] for r in runs]),
            "kcnn_extra_seconds": timing.summarize([r["kcnn"] for r in runs]),
            "tensorflow_keras_cpu_seconds": timing.summarize(
                [r["tensorflow_keras_cpu"] for r in runs]),
            "kcnn_extra_cpu_seconds": timing.summarize([r["kcnn_cpu"] for r in runs]),
            "basis": timing.basis(device_kind()), "raw": runs, "target_extra_seconds": 0.5}


def _keras_constructor(name):
    import keras

    from kcnn.bench.throughput import PEERS

    return getattr(keras.applications, PEERS[name])


def build_times(name="resnet152", *, repeats=5, warmup=1):
    """Seconds to build ``name`` with ``kcnn.build`` and its keras.applications peer
    (``weights=None``), interleaved.

    Returns:
        ``{"model", "basis", "kcnn_seconds", "keras_seconds", "kcnn_cpu_seconds",
        "keras_cpu_seconds", "ratio"}``: summaries of seconds per build and, per clock, of
        the round-by-round ratio kcnn / keras (below 1: kcnn builds faster).
    """
    import keras

    import kcnn

    constructor = _keras_constructor(name)

    def cleanup(_):
        keras.backend.clear_session()
        gc.collect()

    rates = timing.interleaved(
        {"kcnn": lambda: kcnn.build(name) and None,
         "keras": lambda: constructor(weights=None) and None},
        repeats=repeats, warmup=warmup, before=cleanup)
    cleanup(None)
    seconds = {k: [1.0 / r for r in v] for k, v in rates["wall"].items()}
    cpu_seconds = {k: [1.0 / r for r in v] for k, v in rates["cpu"].items()}
    return {"model": name, "basis": timing.basis(device_kind()),
            "kcnn_seconds": timing.summarize(seconds["kcnn"]),
            "keras_seconds": timing.summarize(seconds["keras"]),
            "kcnn_cpu_seconds": timing.summarize(cpu_seconds["kcnn"]),
            "keras_cpu_seconds": timing.summarize(cpu_seconds["keras"]),
            # keras rate / kcnn rate = kcnn seconds / keras seconds, round by round.
            "ratio": {clock: timing.paired_ratio(r["keras"], r["kcnn"])
                      for clock, r in rates.items()}}
