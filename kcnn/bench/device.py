"""The machine a benchmark runs on, and its dense matrix-multiplication rate.

The rate is the denominator of model FLOPs utilisation (MFU): ``n x n`` matrix products in
the compute dtype of the precision under test, on the device TensorFlow places them on (the
first GPU when there is one, else the CPU), chained so that nothing can be skipped or
folded away. ``2 n^3`` floating-point operations per product.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess

__all__ = ["machine", "device_kind", "compute_dtype", "MatmulRate"]

COMPUTE_DTYPES = {"float32": "float32", "mixed_float16": "float16",
                  "mixed_bfloat16": "bfloat16"}


def device_kind():
    """``"gpu"`` when TensorFlow sees a GPU, else ``"cpu"``."""
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def compute_dtype(precision):
    """The dtype the layers compute in under a dtype policy name."""
    return COMPUTE_DTYPES[precision]


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags():
    from kcnn.training.environment import cpu_flags

    return sorted(f for f in cpu_flags() if re.match(r"avx512(f|_bf16|_fp16)$|amx", f))


def machine():
    """What the results depend on: CPU model and cores, GPUs, software versions, and the
    precision ``--precision auto`` picks here."""
    import keras
    import tensorflow as tf

    import kcnn
    from kcnn.training.environment import resolve_precision

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append({"name": details.get("device_name", gpu.name),
                     "compute_capability": details.get("compute_capability")})
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": _cpu_flags(),
        "gpus": gpus,
        "device": "gpu" if gpus else "cpu",
        "precision_auto": resolve_precision("auto"),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "kcnn": kcnn.__version__,
        "platform": platform.platform(),
    }


class MatmulRate:
    """A timing contestant: chained ``n x n`` products in ``dtype``; calling it returns the
    floating-point operations done (so ``interleaved`` reports FLOP/s).

    Args:
        dtype: "float32", "float16" or "bfloat16".
        n: matrix side (2048 on CPUs, 8192 on GPUs by default).
        chain: products per call (adjusted by ``calibrate``).
    """

    def __init__(self, dtype="float32", *, n=None, chain=4):
        import tensorflow as tf

        self.dtype = dtype
        self.n = n or (8192 if device_kind() == "gpu" else 2048)
        self.chain = chain
        rng = tf.random.Generator.from_seed(0)
        # Entries N(0, 1/n) keep the chained products' magnitude near one.
        self.a = tf.cast(rng.normal((self.n, self.n)), dtype)
        self.b = tf.cast(rng.normal((self.n, self.n), stddev=self.n ** -0.5), dtype)
        self._fn = None

    def _function(self):
        import tensorflow as tf

        chain = self.chain

        @tf.function
        def run(a, b):
            c = a
            for _ in range(chain):
                c = tf.matmul(c, b)
            return tf.reduce_sum(tf.cast(c[:1, :8], tf.float32))

        return run

    def calibrate(self, seconds=0.5):
        """Sets ``chain`` so that one call takes about ``seconds``."""
        import time

        self.chain = 1
        self._fn = self._function()
        self()  # trace
        start = time.perf_counter()
        self()
        elapsed = time.perf_counter() - start
        self.chain = max(1, min(64, int(round(seconds / max(elapsed, 1e-6)))))
        self._fn = self._function()
        self()
        return self

    @property
    def flops_per_call(self):
        return 2 * self.n ** 3 * self.chain

    def __call__(self):
        if self._fn is None:
            self._fn = self._function()
        float(self._fn(self.a, self.b))  # waits for the device
        return self.flops_per_call
