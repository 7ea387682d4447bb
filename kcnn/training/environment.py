"""Where a run executes: dtype policy, distribution strategy, seeds and versions.

``--precision auto`` picks ``mixed_float16`` on GPUs with tensor cores (compute capability
7.0 or newer), ``mixed_bfloat16`` on TPUs, and ``float32`` elsewhere. On CPUs 16-bit
arithmetic helps only where the processor has bfloat16 instructions, and not always then:
``kcnn bench --sections choices`` measured ResNet-50 training in mixed_bfloat16 at 1.24x
float32 on an AVX512_BF16 EPYC but at 0.11x on an EPYC without them, and mixed_float16 at
0.16-0.30x on both. Pass ``--precision mixed_bfloat16`` on a CPU where that measurement
favours it; a run with ``--precision auto`` on a CPU with bfloat16 instructions says so in
its log (``precision_hint``). ``--strategy`` chooses between the default single-device strategy,
``tf.distribute.MirroredStrategy`` (all local GPUs; all logical CPUs when there is no GPU)
and ``tf.distribute.MultiWorkerMirroredStrategy`` (workers described by ``TF_CONFIG``).
"""

from __future__ import annotations

import json
import os
import platform

from kcnn._checks import check_choice

__all__ = ["PRECISIONS", "STRATEGIES", "resolve_precision", "cpu_flags", "BFLOAT16_FLAGS",
           "precision_hint", "set_precision", "set_seed", "task_info", "is_chief",
           "make_strategy", "versions"]

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")


def resolve_precision(precision):
    """Returns the dtype policy name that ``precision`` means on this machine."""
    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16"
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability", (0, 0)) >= (7, 0):
            return "mixed_float16"
    return "float32"


def cpu_flags():
    """The instruction-set flags of the CPU (``/proc/cpuinfo``); empty where it is absent."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def precision_hint(precision, policy):
    """A line for the run log when ``--precision auto`` chose float32 on a CPU that has
    bfloat16 instructions (where mixed_bfloat16 was measured faster; see the module
    docstring), else None."""
    if precision != "auto" or policy != "float32":
        return None
    found = [flag for flag in BFLOAT16_FLAGS if flag in cpu_flags()]
    if not found:
        return None
    return (f"This CPU has bfloat16 instructions ({', '.join(found)}): --precision "
            "mixed_bfloat16 may train faster than float32 here; `kcnn bench --sections "
            "choices` measures it.")


def set_precision(precision):
    """Sets Keras's global dtype policy from a ``--precision`` value; returns the policy name."""
    import keras

    policy = resolve_precision(precision)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def set_seed(seed, *, deterministic=False):
    """Seeds Python, NumPy, TensorFlow and Keras; with ``deterministic`` also makes
    TensorFlow's ops deterministic (slower, and some GPU ops then raise instead of running)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def task_info():
    """``(task_type, task_index, num_workers)`` from ``TF_CONFIG`` (``("worker", 0, 1)``
    when it is unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return "worker", 0, 1
    tf_config = json.loads(raw)
    task = tf_config.get("task", {})
    cluster = tf_config.get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return task.get("type", "worker"), int(task.get("index", 0)), max(workers, 1)


def is_chief():
    """True on the process that writes checkpoints, logs and the final model: the ``chief``
    task if the cluster names one, else worker 0 (TensorFlow's convention)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    tf_config = json.loads(raw)
    task_type, index, _ = task_info()
    if "chief" in tf_config.get("cluster", {}):
        return task_type == "chief"
    return task_type == "worker" and index == 0


def make_strategy(name):
    """Creates the ``tf.distribute`` strategy for a ``--strategy`` value.

    ``"mirrored"`` uses every local GPU, or every logical CPU device when there is no GPU
    (tests split the CPU in two with ``tf.config.set_logical_device_configuration``).
    ``"multi_worker"`` needs ``TF_CONFIG`` and must be created before any other TensorFlow
    operation runs in the process.
    """
    check_choice("strategy", name, STRATEGIES)
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        cross = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross)
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("`strategy='multi_worker'` needs the TF_CONFIG environment variable "
                         "describing the cluster and this worker's task, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}. Received: TF_CONFIG unset')
    return tf.distribute.MultiWorkerMirroredStrategy()


def versions():
    """Versions of the software a run depends on (stored with its configuration)."""
    import keras
    import tensorflow as tf

    import kcnn

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "kcnn": kcnn.__version__,
            "platform": platform.platform()}
