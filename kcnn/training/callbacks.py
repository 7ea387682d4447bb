"""Callbacks every run uses: NaN guard, per-epoch checkpoints, the resumable backup, history
and TensorBoard writers, and a throughput meter.

They work both under ``model.fit`` and under kcnn's own distributed loop
(``kcnn.training.loop``), which drives them through a ``keras.callbacks.CallbackList``.
"""

from __future__ import annotations

import math
import os
import time

import keras

from kcnn._io import atomic_path

__all__ = ["EpochBackup", "EpochCheckpoint", "HistoryWriter", "NaNGuard", "SummaryWriter",
           "Throughput", "TrainingDivergedError", "current_learning_rate"]


class TrainingDivergedError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


def current_learning_rate(optimizer):
    """The optimizer's current learning rate as a float (schedules evaluated at the
    optimizer's step)."""
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


class NaNGuard(keras.callbacks.Callback):
    """Stops training when the loss is NaN or infinite, naming the last good checkpoint.

    Unlike ``keras.callbacks.TerminateOnNaN``, it raises at once, so no end-of-epoch
    callback writes the diverged weights over the last good checkpoint or backup.

    Args:
        run: the ``RunDirectory`` whose checkpoints the message names.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(keras.ops.convert_to_numpy(loss))
        if math.isfinite(loss):
            return
        last = self.run.last_checkpoint()
        if last is None:
            where = ("No checkpoint was saved yet (the loss diverged in the first epoch); "
                     "rerunning starts from the beginning.")
        else:
            where = (f"The last good checkpoint is {last[1]} (after epoch {last[0]}); "
                     f"rerunning the same command resumes from it.")
        raise TrainingDivergedError(
            f"The training loss became {loss} at epoch {self._epoch + 1}, batch {batch + 1}; "
            f"training stopped. {where} A lower learning rate (for example --lr) or a "
            "different seed may help; changed settings need --overwrite or a new --output.")


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights (with the optimizer state) after every epoch as
    ``checkpoints/epoch_NNN.weights.h5`` and keeps the newest ``keep``."""

    def __init__(self, run, *, keep=2):
        super().__init__()
        self.run = run
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.run.checkpoint_dir, exist_ok=True)
        with atomic_path(self.run.checkpoint_path(epoch + 1)) as tmp:
            self.model.save_weights(tmp)
        self.run.prune_checkpoints(self.keep)


class EpochBackup(keras.callbacks.Callback):
    """Commits the training state after every epoch into ``backup/`` (see
    ``RunDirectory.write_backup``); it goes last in the callback list, so the backup of an
    epoch exists only once its history, learning-rate state and checkpoint were written.

    Unlike ``keras.callbacks.BackupAndRestore``, which saves ``latest.weights.h5`` in place
    (a kill mid-write leaves a file no rerun can load; its ``double_checkpoint`` copies the
    old file in place too and only falls back on ``OSError``), every file is written to a
    temporary name and renamed. Restoring is ``RunDirectory.restore``.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        self.run.write_backup(self.model, epoch + 1)


class HistoryWriter(keras.callbacks.Callback):
    """Writes per-epoch metrics to ``history.json`` and ``history.csv``, learning rate and
    epoch time included. Epochs repeated after a resume replace the earlier rows."""

    def __init__(self, run):
        super().__init__()
        self.run = run
        self.rows = run.read_history()
        self._start = None

    def on_train_begin(self, logs=None):
        self.rows = self.run.read_history()  # as rolled back by a resume

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            try:
                row[key] = float(keras.ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
        if "learning_rate" not in row and "lr" not in row and self.model.optimizer is not None:
            row["learning_rate"] = current_learning_rate(self.model.optimizer)
        row["epoch_time"] = time.perf_counter() - (self._start or time.perf_counter())
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        self.write()

    def write(self):
        self.run.write_history(self.rows)


class SummaryWriter(keras.callbacks.Callback):
    """Writes every epoch metric to TensorBoard like ``keras.callbacks.TensorBoard`` does
    (``logs/train`` and ``logs/validation``, scalars named ``epoch_<metric>``, the learning
    rate included), without needing ``model.fit``."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        logs = dict(logs or {})
        if self.model.optimizer is not None and "learning_rate" not in logs:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        for key, value in logs.items():
            split = "validation" if key.startswith("val_") else "train"
            name = key[4:] if split == "validation" else key
            try:
                value = float(keras.ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
            with self._writer(split).as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class Throughput(keras.callbacks.Callback):
    """Measures training time and images per second over the epochs of this invocation."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.seconds = 0.0
        self.images = 0
        self.epochs = 0
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.images += self.batch_size

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1

    @property
    def images_per_second(self):
        return self.images / self.seconds if self.seconds else 0.0
