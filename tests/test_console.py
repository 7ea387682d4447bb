"""Console output: no TensorFlow C++ start-up notices and no carriage returns when kcnn's
commands write to a pipe; real errors and a user's own log level are kept."""

import io
import os
import re
import subprocess
import sys

import pytest

from kcnn import _console

# What TensorFlow 2.21 printed at every kcnn command before (copied from a real run)
NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796398384.764074    8039 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors "
    "from different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796398384.764416    8039 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796398384.817720    8039 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796398391.145425    8039 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
REAL = [
    "E0000 00:00:1796398391.145425    8039 op_kernel.cc:1857] OP_REQUIRES failed at "
    "conv_ops.cc:112 : INVALID_ARGUMENT: input depth must be evenly divisible",
    "E1204 16:02:11.145425    8039 cuda_platform.cc:88] out of memory allocating 4 GiB",
    # on a GPU machine: why training runs on the CPU
    "W0000 00:00:1796398391.145425    8039 gpu_device.cc:2344] Cannot dlopen some GPU "
    "libraries. Please make sure the missing libraries mentioned above are installed properly "
    "if you would like to use GPU.",
    "I0000 00:00:1796398391.145425    8039 gpu_device.cc:2011] Ignoring visible gpu device "
    "(device: 0, name: Quadro K600) with Cuda compute capability 3.0. The minimum required "
    "Cuda capability is 3.5.",
    "Traceback (most recent call last):",
    "ValueError: `format` must be one of ('saved_model', 'tflite', 'onnx').",
]
# absl's C++ log prefix, or its pre-initialization notice
TF_CPP_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]|absl::InitializeLog")


def test_known_notices_are_noise_and_real_errors_are_not():
    assert all(_console.is_tensorflow_noise(line) for line in NOTICES)
    assert _console.is_tensorflow_noise(
        "I0000 00:00:1796398391.145425    8039 gpu_device.cc:2021] Created device "
        "/job:localhost/replica:0/task:0/device:GPU:0 with 14791 MB memory")
    assert not any(_console.is_tensorflow_noise(line) for line in REAL)
    info = ("I0000 00:00:1796400828.830404    5843 reader.cc:83] Reading SavedModel from: "
            "/tmp/x")
    assert _console.is_tensorflow_info(info) and not _console.is_tensorflow_noise(info)
    assert not any(_console.is_tensorflow_info(line) for line in REAL)


def test_quiet_stderr_drops_notices_and_writes_back_the_rest_in_order(capfd, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    lines = [NOTICES[0], REAL[0], NOTICES[1], "python warning", REAL[1], NOTICES[5]]
    with _console.quiet_stderr():
        for line in lines:
            os.write(2, (line + "\n").encode())   # as C++ writes: straight to fd 2
    err = capfd.readouterr().err
    assert err.splitlines() == [REAL[0], "python warning", REAL[1]]


def test_lines_are_written_back_when_the_block_fails(capfd):
    with pytest.raises(ImportError):
        with _console.quiet_stderr():
            os.write(2, (NOTICES[2] + "\n" + REAL[0] + "\n").encode())
            raise ImportError("boom")
    assert capfd.readouterr().err.splitlines() == [REAL[0]]


def test_what_was_written_before_a_crash_in_the_block_is_kept():
    """A fatal line then abort() inside the filter (TensorFlow on a CPU without the
    instructions it was built for): the line reaches stderr, the notices do not."""
    fatal = ("F0000 00:00:1796398384.764416    8039 cpu_feature_guard.cc:213] The TensorFlow "
             "library was compiled to use AVX instructions, but these aren't available on "
             "your machine.")
    code = ("import importlib.util, os, sys\n"     # _console alone: no TensorFlow to load
            "spec = importlib.util.spec_from_file_location('console', sys.argv[1])\n"
            "console = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(console)\n"
            "with console.quiet_stderr():\n"
            "    os.write(2, sys.argv[2].encode())\n"
            "    os.abort()\n")
    proc = subprocess.run([sys.executable, "-c", code, _console.__file__,
                           f"{NOTICES[2]}\n{fatal}\n{NOTICES[0]}\n"],
                          capture_output=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.decode().splitlines() == [fatal]


def test_a_user_asking_for_every_log_gets_it(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with _console.quiet_tensorflow_info():
        os.write(2, (NOTICES[1] + "\n").encode())
    assert capfd.readouterr().err.splitlines() == [NOTICES[1]]


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_progress_bars_only_on_a_terminal():
    assert _console.fit_verbose(1, stream=_Stream(True)) == 1
    assert _console.fit_verbose(1, stream=_Stream(False)) == 2
    assert _console.fit_verbose(0, stream=_Stream(True)) == 0
    assert _console.fit_verbose(2, stream=_Stream(True)) == 2
    assert _console.fit_verbose(1, stream=object()) == 2   # no isatty: not a terminal


def test_commands_through_a_pipe_print_no_tensorflow_lines_and_no_carriage_returns(tmp_path):
    """`kcnn list` and `kcnn train lenet5_digits --smoke` in one fresh process, as the
    console script runs them (kcnn.cli imports kcnn first), with no TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "tensorflow"
    code = ("import sys\nfrom kcnn.cli import main\n"
            "assert main(['list', 'lenet*']) == 0\n"
            f"sys.exit(main(['train', 'lenet5_digits', '--smoke', '--output', "
            f"{str(tmp_path / 'run')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env,
                          timeout=600, cwd=tmp_path)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "lenet5_modern" in out and "test accuracy" in out
    assert "\r" not in out and "\r" not in err
    assert "\x1b[" not in out            # no progress-bar colours in a log either
    tf_lines = [line for line in (out + err).splitlines() if TF_CPP_LINE.search(line)]
    assert not tf_lines, tf_lines
    # one line per epoch instead of a progress bar
    assert re.search(r"^\d+/\d+ - .*loss: ", out, re.MULTILINE)
