"""Stopping trials early: the median rule across trials and a wall-clock budget.

With the random, grid and Bayesian tuners a trial stops when its best score after an epoch is
worse than the median of the finished trials' best scores at the same epoch, once
``min_trials`` trials have finished that epoch: the median stopping rule of Golovin et al.,
"Google Vizier: a service for black-box optimization", KDD 2017, section 3.2.1. Hyperband's
brackets already stop bad trials, so the rule is off there. Each trial can also have a
wall-clock budget, checked after every batch.

:class:`TrialReporter` is the callback every trial runs: it reports each epoch's metrics to
the oracle (with the model size, the elapsed time, the process memory and the optimizer's
iteration count, under names starting with ``kcnn_``) and applies both rules.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from kcnn.tuning.memory import current_rss_mb

__all__ = ["median_stop", "TrialReporter", "PREFIX"]

PREFIX = "kcnn_"  # metrics kcnn adds to every epoch report


def median_stop(best_so_far, others, step, *, direction, min_trials=3):
    """The median stopping rule: whether a trial whose best score so far is ``best_so_far``
    stops after epoch ``step``.

    Args:
        best_so_far: the running trial's best objective value up to ``step``.
        others: for each finished trial, ``{step: value}`` of its objective.
        step: the epoch just finished (0-based).
        direction: "max" or "min" (the objective's).
        min_trials: finished trials that must have reached ``step`` for the rule to act.

    Returns:
        True when ``best_so_far`` is worse than the median of the other trials' best values
        up to ``step``.
    """
    bests = []
    for curve in others:
        seen = [v for s, v in curve.items() if s <= step and not math.isnan(v)]
        if seen and max(curve) >= step:
            bests.append(max(seen) if direction == "max" else min(seen))
    if len(bests) < min_trials:
        return False
    median = float(np.median(bests))
    return best_so_far < median if direction == "max" else best_so_far > median


class TrialReporter(keras.callbacks.Callback):
    """Reports every epoch of a trial to the oracle and stops it by the median rule or budget.

    Args:
        tuner: the tuner running the trial (its ``oracle`` receives the reports).
        trial: the keras-tuner trial.
        start: ``time.monotonic()`` when the trial started.
        params: trainable parameters of the trial's model.
        seconds: wall-clock budget of the trial, or None.
        median: ``(min_trials, grace_epochs)`` of the median rule, or None for no rule.
    """

    def __init__(self, tuner, trial, *, start, params, seconds=None, median=None):
        super().__init__()
        self.tuner = tuner
        self.trial = trial
        self.start = start
        self.n_params = params
        self.seconds = seconds
        self.median = median
        self.stopped = None
        self.epochs_run = 0
        self.best = None

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is not None and time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True
            self.stopped = "time budget"

    def on_epoch_end(self, epoch, logs=None):
        objective = self.tuner.oracle.objective
        logs = dict(logs or {})
        metrics = {k: float(v) for k, v in logs.items()
                   if isinstance(v, (int, float, np.floating, np.integer))
                   or (hasattr(v, "shape") and not getattr(v, "shape", (1,)))}
        if objective.name not in metrics:
            return
        self.epochs_run += 1
        value = metrics[objective.name]
        better = (lambda a, b: a > b) if objective.direction == "max" else (lambda a, b: a < b)
        if self.best is None or math.isnan(self.best) or (
                not math.isnan(value) and better(value, self.best)):
            self.best = value
        metrics.update({
            f"{PREFIX}params": float(self.n_params),
            f"{PREFIX}seconds": time.monotonic() - self.start,
            f"{PREFIX}rss_mb": current_rss_mb(),
            f"{PREFIX}iterations": float(keras.ops.convert_to_numpy(
                self.model.optimizer.iterations)),
        })
        self.tuner.oracle.update_trial(self.trial.trial_id, metrics, step=int(epoch))
        if self.median is not None and self.stopped is None:
            if epoch + 1 >= self.median[1] and self._median_says_stop(epoch, objective):
                self.model.stop_training = True
                self.stopped = "median rule"

    def _median_says_stop(self, epoch, objective):
        curves = []
        for t in self.tuner.oracle.get_best_trials(10 ** 6):
            if t.trial_id == self.trial.trial_id or t.status != "COMPLETED":
                continue
            if not t.metrics.exists(objective.name):
                continue
            curves.append({int(o.step): float(o.mean())
                           for o in t.metrics.get_history(objective.name)})
        return median_stop(self.best, curves, int(epoch), direction=objective.direction,
                           min_trials=self.median[0])
