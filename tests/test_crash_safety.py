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
    code = textwrap.dedent(f"""
        import sys, time
        from kcnn._io import FolderLock
        FolderLock({folder!r}).acquire()
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
