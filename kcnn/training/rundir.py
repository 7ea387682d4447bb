"""One folder per run: configuration, checkpoints, logs, metrics, final model, plot.

Layout of ``runs/<recipe>/``::

    config.json        the resolved configuration, the command and the software versions
    checkpoints/       epoch_NNN.weights.h5 after each finished epoch (the last few kept)
    backup/            training state for resuming (Keras BackupAndRestore; removed at the end)
    history.csv/.json  per-epoch metrics, learning rate included
    schedule_state.json  learning-rate callbacks' counters (plateaus, reductions)
    logs/              TensorBoard event files
    model.keras        the final model
    metrics.json       test metrics (``test_accuracy`` in [0, 1]), time and images/s
    curves.png         loss and accuracy curves

A folder belongs to one configuration: running again with the same settings resumes (or,
when the run has finished, reports its result again); different settings are refused unless
``overwrite`` is given.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from kcnn.training.config import config_diff

ENTRIES = ("config.json", "checkpoints", "backup", "history.csv", "history.json", "logs",
           "model.keras", "metrics.json", "curves.png", "schedule_state.json")


class ConfigMismatchError(ValueError):
    """Raised when a run folder holds a run with a different configuration."""


class RunDirectory:
    """Paths and bookkeeping of one run folder.

    Args:
        path: the folder (created if needed).
        recipe: recipe name stored with the configuration.
        config: the resolved configuration as a dict (run options excluded).
        overwrite: delete an existing run with a different configuration instead of refusing.
        chief: whether this process writes. Other workers of a multi-worker run get a private
            temporary folder, so that every worker can execute the same save calls (which may
            contain collective operations) while only the chief's files persist.
    """

    def __init__(self, path, *, recipe, config, overwrite=False, chief=True):
        self.recipe = recipe
        self.config = dict(config)
        self.chief = chief
        self.root = self.shared_root = os.path.abspath(path)
        if not chief:
            self.root = tempfile.mkdtemp(prefix="kcnn_worker_")
        self.resumed = False
        self._prepare(overwrite)

    # === Paths ===
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def config_path(self):
        return self.path("config.json")

    @property
    def checkpoint_dir(self):
        return self.path("checkpoints")

    @property
    def backup_dir(self):
        return self.path("backup")

    @property
    def shared_backup_dir(self):
        """The chief's backup folder, which every worker restores from (multi-worker runs
        resume when ``--output`` is on a filesystem all workers see)."""
        return os.path.join(self.shared_root, "backup")

    @property
    def schedule_state_path(self):
        """JSON file where learning-rate callbacks keep their state between restarts."""
        return self.path("schedule_state.json")

    @property
    def log_dir(self):
        return self.path("logs")

    @property
    def model_path(self):
        return self.path("model.keras")

    @property
    def metrics_path(self):
        return self.path("metrics.json")

    @property
    def history_path(self):
        return self.path("history.json")

    @property
    def plot_path(self):
        return self.path("curves.png")

    def checkpoint_path(self, epoch):
        """Weights after ``epoch`` finished epochs."""
        return os.path.join(self.checkpoint_dir, f"epoch_{epoch:03d}.weights.h5")

    def checkpoints(self):
        """``[(epoch, path), ...]`` of the saved per-epoch checkpoints, oldest first."""
        if not os.path.isdir(self.checkpoint_dir):
            return []
        found = []
        for name in os.listdir(self.checkpoint_dir):
            if name.startswith("epoch_") and name.endswith(".weights.h5"):
                found.append((int(name[6:-11]), os.path.join(self.checkpoint_dir, name)))
        return sorted(found)

    def last_checkpoint(self):
        """``(epoch, path)`` of the newest checkpoint, or None."""
        found = self.checkpoints()
        return found[-1] if found else None

    # === State ===
    def _prepare(self, overwrite):
        # Every worker checks the chief's folder (read only), so that all of them resume,
        # refuse or report a finished run alike; only the chief clears or creates files.
        os.makedirs(self.root, exist_ok=True)
        shared_config = os.path.join(self.shared_root, "config.json")
        if os.path.exists(shared_config):
            with open(shared_config) as f:
                stored = json.load(f)
            same = (stored.get("recipe") == self.recipe
                    and not config_diff(stored.get("config", {}), self.config))
            if same:
                self.resumed = True
                return
            if not overwrite:
                lines = config_diff(stored.get("config", {}), self.config)
                if stored.get("recipe") != self.recipe:
                    lines.insert(0, f"  recipe: {stored.get('recipe')!r} -> {self.recipe!r}")
                raise ConfigMismatchError(
                    f"The run folder {self.shared_root} holds a run with a different "
                    "configuration:\n" + "\n".join(lines) + "\nUse the same settings to "
                    "resume it, --output DIR for a new folder, or --overwrite to delete that "
                    "run and start afresh.")
            self.clear()
        elif overwrite:
            self.clear()
        elif self.chief and any(name in ENTRIES for name in os.listdir(self.root)):
            raise ConfigMismatchError(
                f"The folder {self.root} holds run files but no config.json; use --overwrite "
                "to start afresh there or --output DIR for another folder.")

    def clear(self):
        """Deletes this run's files (only the entries a run writes; only on the chief)."""
        self.resumed = False
        if not self.chief:
            return
        for name in ENTRIES:
            target = self.path(name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)

    def write_config(self, *, resolved=None, versions=None, command=None):
        """Writes config.json (kept from the first invocation when resuming)."""
        if self.resumed and os.path.exists(self.config_path):
            return
        record = {"recipe": self.recipe, "config": self.config, "resolved": resolved or {},
                  "versions": versions or {}, "command": command or sys.argv,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.config_path, record)

    def finished_metrics(self):
        """The metrics of a finished run in this folder (the chief's), or None."""
        metrics_path = os.path.join(self.shared_root, "metrics.json")
        model_path = os.path.join(self.shared_root, "model.keras")
        if not (os.path.exists(metrics_path) and os.path.exists(model_path)):
            return None
        with open(metrics_path) as f:
            metrics = json.load(f)
        return metrics if metrics.get("completed") else None

    def read_history(self):
        if not os.path.exists(self.history_path):
            return []
        with open(self.history_path) as f:
            return json.load(f)

    def prune_checkpoints(self, keep):
        """Keeps the newest ``keep`` per-epoch checkpoints."""
        for _, path in self.checkpoints()[:-keep] if keep else []:
            os.remove(path)

    def cleanup(self):
        """Removes a non-chief worker's temporary folder."""
        if not self.chief:
            shutil.rmtree(self.root, ignore_errors=True)


def write_json(path, value):
    """Writes JSON atomically (a crash never leaves half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, default=_jsonable)
        f.write("\n")
    os.replace(tmp, path)


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)
