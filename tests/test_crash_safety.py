"""Crash safety: atomic writes, folder locks, resuming after a torn backup, Ctrl-C."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kcnn._io import FolderBusyError, FolderLock, atomic_json, atomic_path, atomic_write


# === atomic writes ===

def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write(path, "old")
    atomic_write(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"
    atomic_json(tmp_path / "config.json", {"a": 1}, indent=2)
    assert json.loads((tmp_path / "config.json").read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["config.json", "metrics.json"]
    with pytest.raises(TypeError, match="Received: data of type int"):
        atomic_write(path, 3)


def test_atomic_path_keeps_the_full_suffix_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "epoch_3.weights.h5"
    with atomic_path(target) as tmp:
        name = os.path.basename(tmp)
        assert name.startswith(".epoch_3.tmp-") and name.endswith(".weights.h5")
        assert os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "wb") as f:
            f.write(b"complete")
    assert target.read_bytes() == b"complete"

    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"complete"  # the old file survives a failed write
    assert os.listdir(tmp_path) == ["epoch_3.weights.h5"]


def test_folder_lock_refuses_a_second_holder_and_is_released(tmp_path):
    with FolderLock(tmp_path / "run", what="run") as lock:
        assert lock.held
        with pytest.raises(FolderBusyError, match=r"in use by another process \(PID %d\)"
                           % os.getpid()) as info:
            FolderLock(tmp_path / "run").acquire()
        assert "--output" in str(info.value) and str(tmp_path / "run") in str(info.value)
        assert isinstance(info.value, RuntimeError)
    with FolderLock(tmp_path / "run"):  # free again after release
        pass


def test_folder_lock_across_processes_and_freed_when_the_holder_dies(tmp_path):
    folder = str(tmp_path / "run")
    io_path = os.path.join(os.path.dirname(__file__), "..", "kcnn", "_io.py")
    code = textwrap.dedent(f"""
        import importlib.util, time
        spec = importlib.util.spec_from_file_location("kcnn_io", {io_path!r})
        io = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(io)  # without importing TensorFlow
        io.FolderLock({folder!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusyError, match=f"PID {proc.pid}"):
            FolderLock(folder).acquire()
    finally:
        proc.kill()
        proc.wait()
    with FolderLock(folder):  # the OS released the dead holder's lock
        pass


# === resuming after a torn backup ===

class _CtrlC:
    """A callback pressing Ctrl-C when ``epoch`` (0-based) begins."""

    def __new__(cls, epoch):
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_begin(self, e, logs=None):
                if e == epoch:
                    raise KeyboardInterrupt

        return Interrupt()


def _digits_recipe(**fields):
    import dataclasses

    from kcnn.training.cli import find_recipe, load_recipe_module

    recipe = load_recipe_module(find_recipe("lenet5_digits")).RECIPE
    return dataclasses.replace(recipe, **fields)


def test_torn_backup_and_checkpoint_resume_from_the_last_good_epoch(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "run"
    argv = ["--smoke", "--epochs", "4", "--output", str(out), "--verbose", "0"]
    stopped = _digits_recipe(callbacks=lambda cfg, data, run: [_CtrlC(3)])
    assert stopped.main(argv) == 130
    err = capsys.readouterr().err
    assert f"epoch 3 is the last finished one, saved in {out}" in err
    assert "Resume with: " in err and "Traceback" not in err
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2, 3]
    meta = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 3
    assert not [n for n in os.listdir(out / "backup") if ".tmp-" in n]

    # A kill mid-write from an older kcnn: the backup and the newest checkpoint are torn.
    backup = out / "backup" / meta["weights"]
    backup.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    (out / "checkpoints" / "epoch_003.weights.h5").write_bytes(b"")
    with pytest.warns(RuntimeWarning) as caught:
        assert _digits_recipe().main(argv) == 0
    message = " ".join(str(w.message) for w in caught)
    assert str(backup) in message and "epoch_003.weights.h5" in message
    assert "resuming from the last good state, after epoch 2" in message
    rows = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]          # no duplicate, none missing
    assert (out / "history.csv").read_text().count("\n") == 5
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_done"] == 4 and metrics["resumed"] is True
    assert metrics["load_with"].startswith("keras.saving.load_model")  # plain Keras layers
    assert metrics["skipped_files"] == []
    assert sorted(os.listdir(out / "checkpoints")) == ["epoch_003.weights.h5",
                                                       "epoch_004.weights.h5"]
    assert not (out / "backup").exists()
    assert np.isfinite(metrics["test_accuracy"])


def test_roll_back_drops_later_history_and_learning_rate_state(tmp_path):
    from kcnn.training.rundir import RunDirectory

    run = RunDirectory(tmp_path / "run", recipe="toy", config={})
    try:
        run.write_history([{"epoch": e, "loss": 1.0 / e} for e in (1, 2, 3)])
        state = {"format": 1, "fingerprint": {"class": "ScheduleCallback"},
                 "epochs": {"0": {"steps": 4}, "1": {"steps": 8}, "2": {"steps": 12}}}
        (tmp_path / "run" / "schedule_state.json").write_text(json.dumps(state))
        run.roll_back(2)
        assert [r["epoch"] for r in run.read_history()] == [1, 2]
        kept = json.loads((tmp_path / "run" / "schedule_state.json").read_text())
        assert kept["epochs"] == {"0": {"steps": 4}, "1": {"steps": 8}}
        assert kept["fingerprint"] == state["fingerprint"]
        # a second writer is refused while this run holds the folder
        with pytest.raises(FolderBusyError, match="choose another --output"):
            RunDirectory(tmp_path / "run", recipe="toy", config={})
    finally:
        run.cleanup()
    with FolderLock(tmp_path / "run"):  # released by cleanup
        pass


# === a second writer, Ctrl-C (a real process) ===

def test_second_writer_is_refused_and_ctrl_c_says_how_to_resume(tmp_path, capsys):
    import signal
    import time

    root = os.path.join(os.path.dirname(__file__), "..")
    out = tmp_path / "run"
    argv = ["--smoke", "--epochs", "100000", "--output", str(out), "--verbose", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "recipes/lenet5_digits.py", *argv], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        meta = out / "backup" / "training_metadata.json"
        deadline = time.monotonic() + 120
        while not meta.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert meta.exists(), proc.communicate(timeout=30)
        # a second `kcnn train` into the same folder is refused at once, nothing touched
        before = sorted(os.listdir(out))
        assert _digits_recipe().main(argv) == 2
        err = capsys.readouterr().err
        assert f"The run folder {out} is in use by another process (PID {proc.pid})" in err
        assert "--output" in err and sorted(os.listdir(out)) == before
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    epoch = json.loads(meta.read_text())["epoch"]
    assert last == (f"Interrupted: epoch {epoch} is the last finished one, saved in {out}. "
                    f"Resume with: python recipes/lenet5_digits.py {' '.join(argv)}"), last


@pytest.mark.slow
def test_kill_9_at_any_moment_costs_at_most_the_epoch_it_hits(tmp_path):
    """SIGKILL inside weight writes and between epochs, then a rerun to the end."""
    import glob
    import signal
    import time

    from kcnn.training.rundir import readable_weights

    root = os.path.join(os.path.dirname(__file__), "..")
    out = tmp_path / "run"
    command = [sys.executable, "recipes/lenet5_digits.py", "--smoke", "--epochs", "12",
               "--output", str(out), "--verbose", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    meta = out / "backup" / "training_metadata.json"

    def epoch():
        try:
            return json.loads(meta.read_text())["epoch"]
        except (OSError, ValueError):
            return 0

    def writing():
        return glob.glob(f"{out}/*/.*.tmp-*.weights.h5")

    for inside_a_write in (True, False, True):
        start = epoch()
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while epoch() <= start and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        while inside_a_write and not writing() and proc.poll() is None:
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert "Traceback" not in err, err[-3000:]
        assert 0 < epoch() < 12
    code = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert code.returncode == 0, code.stderr[-3000:]
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == \
        list(range(1, 13))
    assert not glob.glob(f"{out}/**/.*.tmp-*", recursive=True)
    assert all(readable_weights(p) is None for p in glob.glob(f"{out}/checkpoints/*.h5"))


def test_restore_skips_garbage_metadata_and_unreadable_files_by_name(tmp_path):
    import keras
    import numpy as np

    from kcnn.training.rundir import RunDirectory

    def model():
        inputs = keras.Input((3,))
        m = keras.Model(inputs, keras.layers.Dense(2, name="fc")(inputs))
        m.compile(optimizer="sgd", loss="mse")
        return m

    run = RunDirectory(tmp_path / "run", recipe="toy", config={})
    try:
        saved = model()
        saved.get_layer("fc").kernel.assign(np.full((3, 2), 7.0, "float32"))
        os.makedirs(run.checkpoint_dir)
        saved.save_weights(run.checkpoint_path(1))
        (tmp_path / "run" / "checkpoints" / "epoch_002.weights.h5").write_bytes(b"")
        os.makedirs(run.backup_dir)
        (tmp_path / "run" / "backup" / "training_metadata.json").write_text("{not json")
        run.write_history([{"epoch": e} for e in (1, 2, 3)])
        fresh = model()
        with pytest.warns(RuntimeWarning) as caught:
            assert run.restore(fresh) == 1
        message = str(caught[0].message)
        assert "training_metadata.json is unreadable" in message
        assert "epoch_002.weights.h5 (epoch 2) is unreadable: empty (0 bytes)" in message
        assert "after epoch 1" in message
        np.testing.assert_array_equal(np.asarray(fresh.get_layer("fc").kernel), 7.0)
        assert [r["epoch"] for r in run.read_history()] == [1]

        (tmp_path / "run" / "checkpoints" / "epoch_001.weights.h5").write_bytes(b"HDF5 junk")
        with pytest.warns(RuntimeWarning, match="training starts again from epoch 1"):
            assert run.restore(model()) == 0
        assert run.read_history() == []
    finally:
        run.cleanup()
