"""Console output: TensorFlow's start-up noise filtered, progress bars only on a terminal.

TensorFlow 2.21 writes about eight lines to the C++ standard error while it loads and
initializes its devices, some of them twice (two copies of absl, one in each of its shared
libraries): "All log messages before absl::InitializeLog() ...", oneDNN's "custom operations
are on", "Could not find cuda drivers", the CPU-instruction notice and, on a machine without a
GPU, an ``E`` line "failed call to cuInit". ``TF_CPP_MIN_LOG_LEVEL`` does not reach the lines
written before absl is initialized, and only a value set *before* TensorFlow loads counts.

:func:`quiet_tensorflow_start` therefore redirects file descriptor 2 while TensorFlow (or
Keras on its TensorFlow backend) loads and lists its devices, and writes through every line
that is not one of those known notices: warnings and errors of any other kind stay visible, in
order. The lines pass through a small filtering process reading a pipe, so that what was
written before a crash inside the block (a fatal ``F`` line, then ``abort()``, as on a CPU
without the instructions TensorFlow was built for) still reaches the terminal. Nothing is
filtered when the user set ``TF_CPP_MIN_LOG_LEVEL=0`` (asking for all of TensorFlow's
messages), and the variable itself is never changed. oneDNN stays on
(``TF_ENABLE_ONEDNN_OPTS=0`` would change the numerics).

:func:`fit_verbose` is the Keras verbosity for training progress: ``1`` (a progress bar
redrawn with carriage returns) on a terminal, ``2`` (one line per epoch) when the output is
redirected to a file or a pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile

__all__ = ["TENSORFLOW_NOISE", "is_tensorflow_noise", "is_tensorflow_info", "quiet_stderr",
           "quiet_tensorflow_info", "quiet_tensorflow_start",
           "import_tensorflow", "fit_verbose", "on_terminal"]

# The start-up notices of TensorFlow 2.20-2.21 on a CPU machine, by the C++ file that logs them
# (the absl prefix is "<L><mmdd> <hh:mm:ss.us> <thread> <file>:<line>] "). gpu_device.cc's
# INFO lines ("Created device ...") are noise, its warnings (GPU libraries that could not be
# loaded: training falls back to the CPU) are not.
_NOISY_SOURCES = ("port.cc", "cudart_stub.cc", "cpu_feature_guard.cc", "cuda_platform.cc",
                  "cuda_executor.cc", "cuda_diagnostics.cc", "cuda_dnn.cc", "cuda_fft.cc",
                  "cuda_blas.cc", "computation_placer.cc", "tpu_api_dlsym_initializer.cc")
_NOISY_INFO_SOURCES = ("gpu_device.cc",)
_ABSL_PREFIX = r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ "


def _sources(names):
    return r"(?:" + "|".join(re.escape(s) for s in names) + r"):\d+\] "


TENSORFLOW_NOISE = (
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are "
               r"written to STDERR"),
    re.compile(_ABSL_PREFIX + _sources(_NOISY_SOURCES)),
    re.compile(_ABSL_PREFIX.replace("[IWE]", "I", 1) + _sources(_NOISY_INFO_SOURCES)),
    # the second line of cpu_feature_guard's notice
    re.compile(r"To enable the following instructions: .*rebuild TensorFlow with the "
               r"appropriate compiler flags\."),
)
# Lines of those sources that are real problems are kept, whatever the source file.
_KEEP = re.compile(r"out of memory|\bOOM\b|Check failed|Segmentation|Aborted|Fatal|"
                   r"Ignoring visible gpu device", re.IGNORECASE)


def is_tensorflow_noise(line):
    """Whether ``line`` is one of TensorFlow's known start-up notices (see the module
    docstring); real errors never are."""
    line = line.rstrip("\r\n")
    if _KEEP.search(line):
        return False
    return any(p.match(line) for p in TENSORFLOW_NOISE)


_INFO = re.compile(_ABSL_PREFIX.replace("[IWE]", "I", 1)
                   + r"|INFO: Created TensorFlow Lite XNNPACK delegate"
                   + r"|fully_quantize: \d+, inference_type: \d+"
                   + r"|" + _ABSL_PREFIX.replace("[IWE]", "W", 1)
                   + r"(?:tf_tfl_flatbuffer_helpers\.cc:\d+\] Ignored "
                   r"(?:drop_control_dependency|output_format)|flatbuffer_export\.cc:\d+\] "
                   r"Skipping runtime version metadata)")


def is_tensorflow_info(line):
    """Whether ``line`` is an INFO line of TensorFlow's C++ logging (converters, graph
    optimizers, the TFLite interpreter) or a start-up notice; real problems never are."""
    if _KEEP.search(line):
        return False
    return is_tensorflow_noise(line) or bool(_INFO.match(line))


@contextlib.contextmanager
def quiet_tensorflow_info():
    """Filters TensorFlow's C++ INFO lines from fd 2 inside the block (for conversions that
    log every step, such as the TFLite and ONNX converters); warnings and errors stay. Does
    nothing when the user set ``TF_CPP_MIN_LOG_LEVEL=0``."""
    if _user_wants_all_logs():
        yield
        return
    with quiet_stderr(drop=is_tensorflow_info):
        yield


def _user_wants_all_logs():
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


def _flush_stderr():
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass


# The filtering process: this file loaded on its own (``import kcnn`` would load TensorFlow),
# copying its standard input to its fd 2 without the lines the named function drops.
_FILTER_PROCESS = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('kcnn_console_filter', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "module._filter_lines(getattr(module, sys.argv[2]))\n")


def _filter_lines(drop):
    """The filtering process's loop: standard input to fd 2, line by line, without the lines
    ``drop`` accepts."""
    for raw in sys.stdin.buffer:
        if not drop(raw.decode("utf-8", errors="replace")):
            os.write(2, raw)


def _start_filter(drop):
    """The filtering process for ``drop`` (a function of this module), or None when it cannot
    be started."""
    if not sys.executable or getattr(sys, "frozen", False) or not os.path.isfile(__file__) \
            or globals().get(getattr(drop, "__name__", None)) is not drop:
        return None  # no Python or no file of this module to run, or not a filter it can name
    try:
        # its own session: a Ctrl-C meant for the program does not end the filter first
        return subprocess.Popen([sys.executable, "-S", "-I", "-c", _FILTER_PROCESS, __file__,
                                 drop.__name__], stdin=subprocess.PIPE,
                                start_new_session=True)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def quiet_stderr(drop=is_tensorflow_noise):
    """Filter what is written to file descriptor 2 (C++ and Python alike) inside the block:
    the lines ``drop`` accepts are removed, the others written through, in order.

    With ``drop`` one of this module's functions (``is_tensorflow_noise``,
    ``is_tensorflow_info``), fd 2 is a pipe to a filtering process, which writes the lines
    through as they come and still does after a crash of this process. Otherwise (or when
    that process cannot start) the block writes to a temporary file whose lines are written
    back when it ends, also when it raises. Does nothing when fd 2 cannot be duplicated.
    """
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    process = _start_filter(drop)
    sink = process.stdin if process is not None else tempfile.TemporaryFile(mode="w+b")
    try:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            if process is not None:
                sink.close()  # the filter reads to the end, writes the rest and exits
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass  # a process started in the block holds the pipe: the filter serves it
            else:
                sink.seek(0)
                text = sink.read().decode("utf-8", errors="replace")
                kept = "".join(line for line in text.splitlines(keepends=True)
                               if not drop(line))
                if kept:
                    os.write(2, kept.encode("utf-8"))
    finally:
        os.close(saved)
        sink.close()


def _keras_backend_is_tensorflow():
    """The backend Keras will choose (``KERAS_BACKEND``, else ``~/.keras/keras.json``), read
    without importing Keras."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend is None:
        import json

        keras_home = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~") if os.access(os.path.expanduser("~"), os.W_OK)
            else "/tmp", ".keras")
        try:
            with open(os.path.join(keras_home, "keras.json")) as f:
                backend = json.load(f).get("backend")
        except (OSError, ValueError, AttributeError):
            backend = None
    return (backend or "tensorflow") == "tensorflow"


def _start_tensorflow():
    import tensorflow as tf

    # cuInit runs when devices are first listed; listing physical devices leaves them
    # configurable (tf.config.set_visible_devices, memory growth) afterwards.
    tf.config.list_physical_devices()
    return tf


def quiet_tensorflow_start(*, keras=True):
    """Import Keras (when ``keras``) and, if it runs on TensorFlow, load TensorFlow and list
    its devices with the start-up notices filtered from fd 2.

    Loads TensorFlow only on the TensorFlow backend: on JAX or PyTorch, ``import kcnn`` leaves
    it alone until a TensorFlow-only part (tf.data pipelines, ``tf.distribute``) asks for it
    through :func:`import_tensorflow`. A no-op once TensorFlow is loaded.
    """
    tensorflow = _keras_backend_is_tensorflow()
    if "tensorflow" not in sys.modules and (tensorflow or "keras" not in sys.modules):
        context = contextlib.nullcontext() if _user_wants_all_logs() else quiet_stderr()
        with context:
            if keras:
                import keras as _keras  # noqa: F401
            if tensorflow:
                _start_tensorflow()
    elif keras:
        import keras as _keras  # noqa: F401
    if keras and not tensorflow:
        _quiet_keras_lazy_tensorflow()


def _quiet_keras_lazy_tensorflow():
    """On JAX or PyTorch, Keras imports TensorFlow lazily when it is installed (to serialize a
    configuration, in ``keras.utils.set_random_seed``); filter its notices there too."""
    try:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        original = lazy.initialize
    except (ImportError, AttributeError):   # another Keras layout: leave it alone
        return
    if getattr(original, "_kcnn_quiet", False):
        return

    def initialize():
        if "tensorflow" in sys.modules or _user_wants_all_logs():
            return original()
        with quiet_stderr():
            return original()

    initialize._kcnn_quiet = True
    lazy.initialize = initialize


def import_tensorflow():
    """``tensorflow``, loaded with its start-up notices filtered if not loaded yet (for the
    parts of kcnn that need TensorFlow on any Keras backend: tf.data, tf.distribute)."""
    if "tensorflow" not in sys.modules and not _user_wants_all_logs():
        with quiet_stderr():
            return _start_tensorflow()
    import tensorflow as tf

    return tf


def on_terminal(stream=None):
    """Whether ``stream`` (default ``sys.stdout``) is an interactive terminal or a notebook
    (which redraws Keras's progress bars itself)."""
    stream = sys.stdout if stream is None else stream
    if stream is sys.stdout and "ipykernel" in sys.modules:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def fit_verbose(verbose=1, *, stream=None):
    """Keras's ``verbose`` for training progress.

    ``verbose=1`` (progress wanted) becomes 1, a progress bar, on a terminal and 2, one line
    per epoch without carriage returns, when the output goes to a file or a pipe; 0 and 2
    are kept."""
    if verbose == 1 and not on_terminal(stream):
        return 2
    return verbose
