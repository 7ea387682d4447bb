"""Helpers for tests: running code in a fresh Python process, tolerances per policy."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

# Absolute tolerance of a result computed under a dtype policy, for values of order one.
TOLERANCE = {"float32": 1e-5, "mixed_float16": 2e-2, "mixed_bfloat16": 1e-1}


def run_fresh(code, *, timeout=600):
    """Runs ``code`` in a new Python interpreter and returns what it printed last as JSON.

    The code must ``print(json.dumps(...))`` as its final output line.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"fresh process failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save_and_reload_in_fresh_process(model, path, inputs):
    """Saves ``model`` to ``path`` (.keras), reloads it in a new process, and returns the
    reloaded model's outputs on ``inputs`` (a numpy array) next to the original outputs."""
    model.save(path)
    np.save(str(path) + ".inputs.npy", inputs)
    out = run_fresh(f"""
        import json, numpy as np, keras, kcnn
        m = keras.saving.load_model({str(path)!r})
        x = np.load({str(path) + '.inputs.npy'!r})
        y = m(x, training=False)
        y = y if isinstance(y, (list, tuple)) else [y]
        print(json.dumps([np.asarray(keras.ops.convert_to_numpy(t), dtype='float64').tolist() for t in y]))
    """)
    expected = model(inputs, training=False)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    return [np.asarray(keras.ops.convert_to_numpy(t), dtype="float64") for t in expected], \
        [np.asarray(t) for t in out]


import keras  # noqa: E402
