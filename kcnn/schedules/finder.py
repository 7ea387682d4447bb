"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates", arXiv:1506.01186).

Train for a few hundred steps while the rate grows exponentially (or linearly) from tiny to
huge, record the loss of every batch, and pick a rate where the loss falls fastest. The
model's weights and the optimizer's state are restored afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np

from kcnn._checks import check_choice, check_float, check_int

__all__ = ["find_lr", "LRFinderResult"]


@dataclasses.dataclass
class LRFinderResult:
    """The curve of a range test.

    Attributes:
        learning_rates: rate of every step taken.
        losses: training loss of every step's batch.
        smoothed_losses: exponential moving average of ``losses`` (bias-corrected).
        suggestion: rate where the smoothed loss decreases fastest against
            ``log(rate)`` before its minimum (the "steepest" rule); Smith's other rule, one
            tenth of the rate of lowest loss, when the curve is too short to tell.
        min_loss_learning_rate: rate at the smoothed loss's minimum.
        plot_path: where the PNG was written, or None.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestion: float
    min_loss_learning_rate: float
    plot_path: str | None = None

    def plot(self, path):
        """Writes the smoothed and raw loss against the rate (log axis) as a PNG."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(self.learning_rates, self.losses, color="0.75", linewidth=1, label="loss")
        ax.plot(self.learning_rates, self.smoothed_losses, color="C0", label="smoothed")
        ax.axvline(self.suggestion, color="C3", linestyle="--",
                   label=f"suggestion {self.suggestion:.3g}")
        ax.set_xscale("log")
        finite = self.smoothed_losses[np.isfinite(self.smoothed_losses)]
        if finite.size:
            # Show the smoothed curve up to its minimum in full; the divergence is cut off.
            low = float(finite.min())
            high = float(finite[:int(np.argmin(finite)) + 1].max())
            margin = 0.1 * (high - low) + 1e-12
            ax.set_ylim(low - margin, high + margin)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.set_title("Learning-rate range test")
        ax.legend(loc="best")
        fig.tight_layout()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        from kcnn._io import atomic_path

        with atomic_path(path) as tmp:  # temporary file, fsync, rename
            fig.savefig(tmp, format=os.path.splitext(os.fspath(path))[1][1:] or "png")
        self.plot_path = os.fspath(path)
        return self.plot_path


def _batches(data, batch_size):
    """A repeating tf.data iterator over ``data``: a Dataset of batches, or (x, y[, w])."""
    import tensorflow as tf   # tf.data on every backend; not imported by `import kcnn`

    if isinstance(data, tf.data.Dataset):
        return iter(data.repeat())
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise TypeError("`data` must be a tf.data.Dataset of (x, y) batches or a tuple "
                        f"(x, y) or (x, y, sample_weight). Received: data={type(data)!r}")
    n = len(data[0])
    ds = tf.data.Dataset.from_tensor_slices(tuple(data))
    ds = ds.shuffle(min(n, 10_000), seed=0, reshuffle_each_iteration=True)
    return iter(ds.repeat().batch(batch_size, drop_remainder=n >= batch_size)
                .prefetch(tf.data.AUTOTUNE))


def _suggest(rates, smoothed, skip_start):
    finite = np.isfinite(smoothed)
    if not finite.any():
        raise ValueError("The loss was never finite during the range test: lower `start_lr`.")
    best = int(np.nanargmin(np.where(finite, smoothed, np.nan)))
    min_rate = float(rates[best])
    lo = min(skip_start, max(best - 1, 0))
    if best - lo < 2:
        return min_rate / 10.0, min_rate
    segment = smoothed[lo:best + 1]
    slope = np.gradient(segment, np.log(rates[lo:best + 1]))
    return float(rates[lo + int(np.argmin(slope))]), min_rate


def find_lr(model, data, *, start_lr=1e-7, end_lr=10.0, num_steps=100, batch_size=32,
            mode="exponential", smoothing=0.98, divergence_threshold=4.0, skip_start=5,
            plot_path=None, restore=True, verbose=0):
    """Runs a learning-rate range test on a compiled ``model`` and returns the curve.

    The rate of step ``i`` (of ``n = num_steps``) is ``start_lr * (end_lr / start_lr) **
    (i / (n - 1))`` (``mode="exponential"``) or linear between the two. Each step trains
    on one batch (``train_on_batch``) and records that batch's loss; the test stops early
    when the smoothed loss exceeds ``divergence_threshold`` times its minimum or becomes
    NaN. Weights (and BatchNorm statistics) and the optimizer's variables, including its
    rate and iteration count, are restored afterwards unless ``restore=False``.

        >>> model.compile(keras.optimizers.SGD(momentum=0.9), "sparse_categorical_crossentropy")
        >>> result = kcnn.schedules.find_lr(model, (x, y), plot_path="lr_finder.png")
        >>> result.suggestion

    Args:
        model: a compiled model whose optimizer has a float (settable) learning rate.
        data: ``tf.data.Dataset`` of batches ``(x, y)`` / ``(x, y, sample_weight)``, or a
            tuple of arrays batched with ``batch_size`` (shuffled, repeated).
        start_lr: first rate.
        end_lr: last rate.
        num_steps: number of steps (batches), at least 2.
        batch_size: batch size for array ``data``.
        mode: ``"exponential"`` or ``"linear"`` growth.
        smoothing: ``beta`` of the moving average of the loss, in [0, 1).
        divergence_threshold: stop when the smoothed loss exceeds this multiple of its
            minimum; None never stops early.
        skip_start: steps ignored at the start when looking for the steepest descent.
        plot_path: write the curve as a PNG there (matplotlib's Agg canvas, no pyplot).
        restore: restore the weights and optimizer state afterwards.
        verbose: 1 prints one line per step.

    Returns:
        :class:`LRFinderResult`.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("`model` must be compiled before the range test. "
                         f"Received: model={model.name!r} without optimizer")
    start_lr = check_float("start_lr", start_lr, minimum=0.0, min_inclusive=False)
    end_lr = check_float("end_lr", end_lr, minimum=0.0, min_inclusive=False)
    if end_lr <= start_lr:
        raise ValueError(f"`end_lr` must be greater than `start_lr`. Received: "
                         f"end_lr={end_lr!r}, start_lr={start_lr!r}")
    num_steps = check_int("num_steps", num_steps, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_choice("mode", mode, ("exponential", "linear"))
    smoothing = check_float("smoothing", smoothing, minimum=0.0, maximum=1.0,
                            max_inclusive=False)
    if divergence_threshold is not None:
        divergence_threshold = check_float("divergence_threshold", divergence_threshold,
                                           minimum=1.0, min_inclusive=False)
    skip_start = check_int("skip_start", skip_start, minimum=0)

    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    weights = model.get_weights()
    optimizer_state = [v.numpy() for v in optimizer.variables]
    try:
        current = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        optimizer.learning_rate = current
    except TypeError as e:
        raise TypeError("find_lr sets the learning rate step by step: compile the model with "
                        "an optimizer whose `learning_rate` is a float, not a "
                        "LearningRateSchedule.") from e

    fractions = np.linspace(0.0, 1.0, num_steps)
    if mode == "exponential":
        schedule = start_lr * (end_lr / start_lr) ** fractions
    else:
        schedule = start_lr + (end_lr - start_lr) * fractions

    rates, losses, smoothed = [], [], []
    average, best = 0.0, math.inf
    iterator = _batches(data, batch_size)
    try:
        for i, rate in enumerate(schedule):
            optimizer.learning_rate = float(rate)
            batch = next(iterator)
            x, y, w = keras.utils.unpack_x_y_sample_weight(batch)
            out = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
            loss = float(out["loss"])
            average = smoothing * average + (1 - smoothing) * loss
            value = average / (1 - smoothing ** (i + 1))
            rates.append(float(rate))
            losses.append(loss)
            smoothed.append(value)
            if verbose:
                print(f"step {i + 1}/{num_steps}: lr {rate:.3g} loss {loss:.4f} "
                      f"smoothed {value:.4f}")
            if not math.isfinite(value):
                break
            best = min(best, value)
            if divergence_threshold is not None and value > divergence_threshold * best:
                break
    finally:
        if restore:
            model.set_weights(weights)
            for variable, value in zip(optimizer.variables, optimizer_state):
                variable.assign(value)

    rates, losses, smoothed = (np.asarray(a, dtype="float64") for a in (rates, losses, smoothed))
    suggestion, min_rate = _suggest(rates, smoothed, skip_start)
    result = LRFinderResult(learning_rates=rates, losses=losses, smoothed_losses=smoothed,
                            suggestion=suggestion, min_loss_learning_rate=min_rate)
    if plot_path is not None:
        result.plot(plot_path)
    return result
