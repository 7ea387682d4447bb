"""``kcnn tune`` end to end in subprocesses: a sweep killed and resumed, and a distributed
sweep (a chief and two workers on localhost)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest

# A small space on the 8x8 digits in which depth, kernel size and width vary.
SPACE = ["--set", "num_stages=1:2", "--set", "kernel_size_1=1,3,5", "--set",
         "kernel_size_2=1,3", "--set", "convs_per_stage=1:2", "--set", "filters=2,16",
         "--set", "filter_growth=1", "--set", "stage_pooling=max", "--set", "activation=relu",
         "--set", "batch_norm=false", "--set", "dense_layers=0", "--set", "optimizer=adam",
         "--set", "learning_rate=0.003", "--set", "weight_decay=0", "--set",
         "schedule=constant", "--set", "batch_size=64"]
TIMEOUT = 420


def _command(output, *extra):
    return [sys.executable, "-m", "kcnn", "tune", "convnet", "--data", "digits",
            "--image-size", "8", "--output", str(output), *SPACE, *extra]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


def _trial(output, trial_id):
    path = output / "trials" / f"trial_{trial_id}" / "trial.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _check_built_layers(output, row):
    """The layers recorded from the trial's built model follow its hyperparameters."""
    hp = row["hyperparameters"]
    record = json.loads((output / "trials" / f"trial_{row['trial_id']}"
                         / "kcnn_trial.json").read_text())
    conv = record["structure"]["conv"]
    expected = [[f"block{b}_conv{c}", [hp[f"kernel_size_{b}"]] * 2, hp["filters"]]
                for b in range(1, hp["num_stages"] + 1)
                for c in range(1, hp["convs_per_stage"] + 1)]
    assert conv == expected
    return len(conv), conv[0][1][0], conv[0][2]


def test_sweep_resumes_after_kill_and_builds_what_it_samples(tmp_path):
    from kcnn.tuning import cli_main

    output = tmp_path / "sweep"
    command = _command(output, "--tuner", "random", "--max-trials", "4", "--epochs", "2",
                       "--early-stopping", "none", "--seed", "1")
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(command, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            first = _trial(output, 0)
            if first and first["status"] == "COMPLETED" and _trial(output, 1):
                break
            time.sleep(0.1)
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    done_before = [i for i in range(4) if (_trial(output, i) or {}).get("status")
                   == "COMPLETED"]
    assert 1 <= len(done_before) < 4  # killed in the middle of the sweep
    kept = {i: (output / "trials" / f"trial_{i}" / "trial.json").read_bytes()
            for i in done_before}

    # The same command again (here in this process) resumes the sweep.
    assert cli_main(command[command.index("tune") + 1:]) == 0
    for i, content in kept.items():  # finished trials were not run again
        assert (output / "trials" / f"trial_{i}" / "trial.json").read_bytes() == content
    rows = json.loads((output / "results.json").read_text())
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    for r in rows:  # one observation per epoch: the interrupted trial started afresh
        history = _trial(output, r["trial_id"])["metrics"]["metrics"]["val_accuracy"]
        assert [len(o["value"]) for o in history["observations"]] == [1, 1]

    shapes = [_check_built_layers(output, r) for r in rows]
    assert len({depth for depth, _, _ in shapes}) > 1
    assert len({kernel for _, kernel, _ in shapes}) > 1
    assert len({filters for _, _, filters in shapes}) > 1
    assert rows[0]["score"] > rows[-1]["score"]

    for name in ("results.csv", "scores.png", "best.json", "best_model.keras", "sweep.json"):
        assert (output / name).exists(), name
    best = keras.saving.load_model(output / "best_model.keras")
    convs = [layer for layer in best.layers if isinstance(layer, keras.layers.Conv2D)]
    hp = rows[0]["hyperparameters"]
    assert len(convs) == hp["num_stages"] * hp["convs_per_stage"]
    assert convs[0].kernel_size == (hp["kernel_size_1"],) * 2
    assert convs[0].filters == hp["filters"]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # three processes importing TensorFlow: about 25 s of CPU
def test_chief_and_two_workers_finish_a_sweep_together(tmp_path):
    output = tmp_path / "distributed"
    address = f"127.0.0.1:{_free_port()}"
    command = _command(output, "--tuner", "random", "--max-trials", "4", "--epochs", "1",
                       "--oracle-address", address, "--retrain", "none")
    procs, logs = {}, {}
    try:
        # Workers first: they wait for the chief, then all start asking for trials together.
        for role in ("w1", "w2", "chief"):
            logs[role] = open(tmp_path / f"{role}.log", "w")
            extra = ["--chief"] if role == "chief" else ["--worker", role]
            procs[role] = subprocess.Popen(command + extra, env=_env(), stdout=logs[role],
                                           stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        for role, proc in procs.items():
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()
    for role, proc in procs.items():
        assert proc.returncode == 0, (tmp_path / f"{role}.log").read_text()[-3000:]
    rows = json.loads((output / "results.json").read_text())
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["worker"] for r in rows} == {"w1", "w2"}


@pytest.mark.slow  # two processes importing TensorFlow
def test_same_seed_repeats_a_sweep_across_processes(tmp_path):
    # What a user does: the same command twice, in two processes.
    scores = []
    for run in ("a", "b"):
        output = tmp_path / run
        proc = subprocess.run(_command(output, "--tuner", "random", "--max-trials", "2",
                                       "--epochs", "1", "--seed", "7", "--retrain", "none"),
                              env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads((output / "results.json").read_text())
        scores.append(sorted((r["trial_id"], r["score"]) for r in rows))
    assert scores[0] == scores[1]
