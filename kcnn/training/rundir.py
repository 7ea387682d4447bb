"""One folder per run: configuration, checkpoints, logs, metrics, final model, plot.

Layout of ``runs/<recipe>/``::

    config.json        the resolved configuration, the command and the software versions
    checkpoints/       epoch_NNN.weights.h5 after each finished epoch (the last few kept)
    backup/            training state for resuming (the last finished epoch; removed at the end)
    history.csv/.json  per-epoch metrics, learning rate included
    schedule_state.json  learning-rate callbacks' counters (plateaus, reductions)
    logs/              TensorBoard event files
    model.keras        the final model
    metrics.json       test metrics (``test_accuracy`` in [0, 1]), time and images/s
    curves.png         loss and accuracy curves

A folder belongs to one configuration: running again with the same settings resumes (or,
when the run has finished, reports its result again); different settings are refused unless
``overwrite`` is given, which starts afresh: the old run is deleted only when training
starts (``write_config``), so a command that fails while building its data or model keeps
it. One process at a time writes a folder (``kcnn._io.FolderLock`` on ``.lock``); a second
is refused at once.

Every file is written atomically (``kcnn._io``), and the end of an epoch commits in one order:
history, learning-rate state, checkpoint, then the backup. Resuming loads the newest readable
of the backup and the checkpoints; when a newer file is unreadable (a torn write from an older
kcnn, a full disk, a damaged copy) it warns, names the file and rolls the history and the
learning-rate state back to the epoch it resumes from, so an interruption costs at most the
epoch it hits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings

from kcnn._io import FolderLock, atomic_json, atomic_path, atomic_write
from kcnn.training.config import config_diff

__all__ = ["ConfigMismatchError", "RunDirectory", "active_run", "readable_weights",
           "write_json"]

ENTRIES = ("config.json", "checkpoints", "backup", "history.csv", "history.json", "logs",
           "model.keras", "metrics.json", "curves.png", "schedule_state.json", "filters.png",
           "activations.png", "gradcam.png")


BACKUP_METADATA = "training_metadata.json"
_ACTIVE = []


class ConfigMismatchError(ValueError):
    """Raised when a run folder holds a run with a different configuration."""


def active_run():
    """The ``RunDirectory`` this process opened last (for the Ctrl-C message), or None."""
    return _ACTIVE[-1] if _ACTIVE else None


class RunDirectory:
    """Paths and bookkeeping of one run folder.

    Args:
        path: the folder (created if needed).
        recipe: recipe name stored with the configuration.
        config: the resolved configuration as a dict (run options excluded).
        overwrite: start afresh: delete the run the folder holds (whatever its settings)
            when training starts (see ``write_config``) instead of resuming or refusing it.
        chief: whether this process writes. Other workers of a multi-worker run get a private
            temporary folder, so that every worker can execute the same save calls (which may
            contain collective operations) while only the chief's files persist.

    The chief holds the folder's lock (``kcnn._io.FolderLock`` on ``.lock``) from here until
    ``cleanup()``, and removes the temporary files of writes a killed run left unfinished.

    Raises:
        FolderBusyError: another live process trains in this folder.
        ConfigMismatchError: the folder holds a run with other settings (and not
            ``overwrite``).
    """

    def __init__(self, path, *, recipe, config, overwrite=False, chief=True):
        self.recipe = recipe
        self.config = dict(config)
        self.chief = chief
        self.overwrite = bool(overwrite)
        self.root = self.shared_root = os.path.abspath(path)
        if not chief:
            self.root = tempfile.mkdtemp(prefix="kcnn_worker_")
        self.resumed = False
        self.resumed_from = None
        self.started = False       # set by write_config: the settings were accepted
        self._clear_on_start = False
        self._created = not os.path.isdir(self.shared_root)
        self._lock = FolderLock(self.shared_root, what="run") if chief else None
        if self._lock is not None:
            self._lock.acquire()  # FolderBusyError when another process trains here
        try:
            if self._lock is not None:
                self._remove_stale_temporaries()
            self._prepare()
        except BaseException:
            self.cleanup()
            raise
        _ACTIVE[:] = [self]

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
    def shared_schedule_state_path(self):
        """The chief's ``schedule_state.json``, which every worker's preset callbacks read
        (only the chief's write it), so that all workers resume with the same rate."""
        return os.path.join(self.shared_root, "schedule_state.json")

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
    def _prepare(self):
        # Every worker checks the chief's folder (read only), so that all of them resume,
        # refuse or report a finished run alike; only the chief clears or creates files.
        os.makedirs(self.root, exist_ok=True)
        if self.overwrite:
            self._clear_on_start = True  # whatever run is there, deleted when training starts
            return
        shared_config = os.path.join(self.shared_root, "config.json")
        if os.path.exists(shared_config):
            with open(shared_config) as f:
                stored = json.load(f)
            same = (stored.get("recipe") == self.recipe
                    and not config_diff(stored.get("config", {}), self.config))
            if same:
                self.resumed = True
                return
            lines = config_diff(stored.get("config", {}), self.config)
            if stored.get("recipe") != self.recipe:
                lines.insert(0, f"  recipe: {stored.get('recipe')!r} -> {self.recipe!r}")
            raise ConfigMismatchError(
                f"The run folder {self.shared_root} holds a run with a different "
                "configuration:\n" + "\n".join(lines) + "\nUse the same settings to "
                "resume it, --output DIR for a new folder, or --overwrite to delete that "
                "run and start afresh.")
        if self.chief and any(name in ENTRIES for name in os.listdir(self.root)):
            raise ConfigMismatchError(
                f"The folder {self.root} holds run files but no config.json; use --overwrite "
                "to start afresh there or --output DIR for another folder.")

    def _remove_stale_temporaries(self):
        """Removes the temporary files of writes a killed process left unfinished (safe:
        this process holds the folder's lock, so nobody else is writing)."""
        for folder in (self.shared_root, os.path.join(self.shared_root, "checkpoints"),
                       os.path.join(self.shared_root, "backup")):
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                if name.startswith(".") and ".tmp-" in name:
                    try:
                        os.remove(os.path.join(folder, name))
                    except OSError:
                        pass

    # === Backups and resuming ===
    def write_backup(self, model, epoch):
        """Saves the training state after ``epoch`` finished epochs into ``backup/``.

        The weights go to ``backup/epoch_NNN.weights.h5`` (atomically), then
        ``training_metadata.json`` naming them replaces the old one (the commit), then older
        backup weights are removed: a kill at any instant leaves a complete backup.
        """
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch_{epoch:03d}.weights.h5"
        with atomic_path(os.path.join(self.backup_dir, name)) as tmp:
            model.save_weights(tmp)
        atomic_json(os.path.join(self.backup_dir, BACKUP_METADATA),
                    {"epoch": int(epoch), "weights": name})
        for other in os.listdir(self.backup_dir):
            if other.endswith(".weights.h5") and other != name and not other.startswith("."):
                os.remove(os.path.join(self.backup_dir, other))

    def _saved_states(self):
        """``[(epoch, path, kind), ...]`` of every saved state, newest first (a backup
        before a checkpoint of the same epoch), and messages about unusable metadata."""
        found, problems = [], []
        backup = os.path.join(self.shared_root, "backup")
        for meta_name, default in ((BACKUP_METADATA, "latest.weights.h5"),
                                   ("state.json", "latest.weights.h5")):
            meta = os.path.join(backup, meta_name)
            if not os.path.exists(meta):
                continue
            try:
                with open(meta) as f:
                    record = json.load(f)
                epoch = int(record["epoch"])
                weights = os.path.join(backup, os.path.basename(record.get("weights", default)))
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"{meta} is unreadable ({type(error).__name__}: {error})")
                continue
            found.append((epoch, weights, "backup"))
            break
        checkpoints = os.path.join(self.shared_root, "checkpoints")
        if os.path.isdir(checkpoints):
            for name in os.listdir(checkpoints):
                if name.startswith("epoch_") and name.endswith(".weights.h5"):
                    try:
                        epoch = int(name[6:-11])
                    except ValueError:
                        continue
                    found.append((epoch, os.path.join(checkpoints, name), "checkpoint"))
        found.sort(key=lambda item: (-item[0], item[2] != "backup"))
        return found, problems

    def last_saved_epoch(self):
        """The newest epoch with a saved state (backup or checkpoint; unchecked), or 0
        (also while an old run waits to be deleted by ``overwrite``)."""
        if self._clear_on_start:
            return 0
        found, _ = self._saved_states()
        return found[0][0] if found else 0

    def restore(self, model):
        """Loads the newest readable saved state into ``model``; returns its epoch.

        Tries the backup and the per-epoch checkpoints from the newest; an unreadable file
        (truncated, empty, not HDF5) is skipped with a warning naming it. The history and
        the learning-rate state are rolled back to the epoch resumed from (on the chief).
        Returns 0, after the same roll-back, when nothing readable was saved.

        Raises:
            RuntimeError: a file passed the check but failed to load, after the model's
                weights may have been partly overwritten.
        """
        self._start()
        # After --overwrite nothing saved is ours (a worker may still see the chief's old
        # files before the chief deletes them).
        found, problems = ([], []) if self.overwrite else self._saved_states()
        epoch = 0
        for candidate, path, kind in found:
            error = readable_weights(path)
            if error is None:
                if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                try:
                    model.load_weights(path)
                except Exception as load_error:  # noqa: BLE001 - named in the message
                    raise RuntimeError(
                        f"Resuming the run in {self.shared_root} failed while loading {path} "
                        f"({type(load_error).__name__}: {load_error}); the model may be half "
                        "loaded. Rerun the command to try again, or pass --overwrite to "
                        "start afresh.") from load_error
                epoch = candidate
                break
            problems.append(f"the {kind} {path} (epoch {candidate}) is unreadable: {error}")
        if problems:
            where = (f"resuming from the last good state, after epoch {epoch}" if epoch
                     else "no readable saved state is left, so training starts again from "
                          "epoch 1")
            warnings.warn(f"Run folder {self.shared_root}: " + "; ".join(problems)
                          + f". Skipped it: {where}.", RuntimeWarning, stacklevel=2)
        self.resumed_from = epoch
        if self.chief:
            self.roll_back(epoch)
        return epoch

    def roll_back(self, epoch):
        """Drops history rows and learning-rate state recorded after ``epoch`` epochs."""
        rows = self.read_history()
        if any(r.get("epoch", 0) > epoch for r in rows):
            self.write_history([r for r in rows if r.get("epoch", 0) <= epoch])
        path = self.schedule_state_path
        if os.path.exists(path):
            try:
                with open(path) as f:
                    state = json.load(f)
                epochs = state.get("epochs", {})
                kept = {k: v for k, v in epochs.items() if int(k) < epoch}
            except (OSError, ValueError, AttributeError, TypeError):
                os.remove(path)  # unreadable: the callbacks start from their initial state
                return
            if len(kept) != len(epochs):
                atomic_json(path, {**state, "epochs": kept}, indent=1)

    def write_history(self, rows):
        """Writes ``history.json`` and ``history.csv`` (atomically)."""
        import csv
        import io

        write_json(self.history_path, rows)
        keys = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path("history.csv"), text.getvalue())

    def save_model(self, model):
        """Saves the final model to ``model.keras`` atomically."""
        with atomic_path(self.model_path) as tmp:
            model.save(tmp)

    def _start(self):
        """Training starts: the old run goes now if ``overwrite`` asked for it."""
        self.started = True
        if self._clear_on_start:
            self._clear_on_start = False
            self.clear()

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
        """Marks the start of training: deletes the old run when ``overwrite`` asked for it,
        then writes config.json (kept from the first invocation when resuming)."""
        self._start()
        if self.resumed and os.path.exists(self.config_path):
            return
        record = {"recipe": self.recipe, "config": self.config, "resolved": resolved or {},
                  "versions": versions or {}, "command": command or sys.argv,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.config_path, record)

    def finished_metrics(self):
        """The metrics of a finished run in this folder (the chief's), or None (also when
        ``overwrite`` is to delete it)."""
        if self._clear_on_start:
            return None
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
        try:
            with open(self.history_path) as f:
                rows = json.load(f)
        except (OSError, ValueError):
            return []
        return rows if isinstance(rows, list) else []

    def prune_checkpoints(self, keep):
        """Keeps the newest ``keep`` per-epoch checkpoints."""
        for _, path in self.checkpoints()[:-keep] if keep else []:
            os.remove(path)

    def cleanup(self):
        """Releases the folder's lock (removing the folder when this run created it and
        wrote nothing into it) and removes a non-chief worker's temporary folder."""
        if not self.chief:
            shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None and self._lock.held:
            if self._created and os.listdir(self.shared_root) == [".lock"]:
                os.remove(self._lock.path)
                os.rmdir(self.shared_root)
            self._lock.release()


def write_json(path, value):
    """Writes JSON atomically (a crash never leaves half a file)."""
    atomic_json(path, value, indent=2, default=_jsonable)


def readable_weights(path):
    """None when ``path`` is a complete HDF5 weights file, else why it is not.

    Opens it with h5py and reads every dataset, which finds truncated, empty and foreign
    files before any of it is loaded into a model.
    """
    import h5py

    if not os.path.exists(path):
        return "missing"
    if os.path.getsize(path) == 0:
        return "empty (0 bytes)"
    problems = []

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as f:
            f.visititems(read)
    except Exception as error:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError
        problems.append(f"{type(error).__name__}: {error}")
    return problems[0] if problems else None


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
