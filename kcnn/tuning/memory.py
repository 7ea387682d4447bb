"""Memory of a long sweep: what one process holds, and the traced graphs a trial leaves.

Every Keras train step traced under TensorFlow's default distribution strategy calls
``all_reduce``, whose graph-mode ``tf.custom_gradient`` registers a gradient function in
TensorFlow's global registry; that function keeps the whole traced graph alive after the
model is gone, about 6-8 MB per trial of a small convnet. :func:`release_traced_graphs` removes
the registrations made by finished trials before the next model is built, which keeps the
memory of a long sweep flat (``benchmarks/tuning_memory.py`` measures it). This works around
TensorFlow, not keras-tuner; it touches a private registry and does nothing when TensorFlow
lays it out differently.
"""

from __future__ import annotations

import gc

__all__ = ["current_rss_mb", "custom_gradient_names", "release_traced_graphs"]


def current_rss_mb():
    """Resident memory of this process in MiB (peak RSS where /proc is unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _gradient_registry():
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another TensorFlow layout: nothing to release
        return None


def custom_gradient_names():
    """Names in TensorFlow's gradient registry made by ``tf.custom_gradient``."""
    registry = _gradient_registry()
    if registry is None:
        return set()
    return {k for k in registry if k.startswith("CustomGradient-")}


def release_traced_graphs(keep):
    """Drops the custom-gradient registrations not in ``keep`` (see the module docstring).

    Call it only when the models traced since ``keep`` was taken are gone.

    Args:
        keep: names to keep, as returned by :func:`custom_gradient_names` earlier.
    """
    registry = _gradient_registry()
    if registry is None:
        return
    for name in custom_gradient_names() - set(keep):
        registry.pop(name, None)
    gc.collect()
