"""The results of a sweep: a ranked table (CSV and JSON) and a plot of score against the main
hyperparameters."""

from __future__ import annotations

import csv
import io
import json
import math
import os

from kcnn._io import atomic_write
from kcnn.tuning.hparams import TUNER_KEYS

__all__ = ["trial_rows", "write_table", "plot_scores"]


def _last(trial, name):
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None or math.isnan(value) else float(value)


def trial_rows(oracle, *, project_dir=None):
    """One dict per trial, ranked: finished trials best first, then the others.

    Keys: ``rank``, ``trial_id``, ``status`` (``COMPLETED``, ``FAILED``, ``oversized``,
    ...), ``score`` (best objective value), ``objective``, ``params`` (trainable),
    ``seconds``, ``epochs`` (epochs trained in this trial), ``stopped`` (``"median rule"``,
    ``"time budget"`` or None), ``rss_mb`` (process memory at the trial's end),
    ``continued_from`` (Hyperband), ``worker``, ``hyperparameters`` and ``error``. Points
    the random and Bayesian oracles skipped for their size, which never became trials,
    follow with ``status="oversized"`` and no ``trial_id``.
    """
    from kcnn.tuning.early_stopping import PREFIX
    from kcnn.tuning.keras_tuner_fixes import OVERSIZED
    from kcnn.tuning.tuners import TRIAL_RECORD

    objective = oracle.objective
    order = list(getattr(oracle, "start_order", [])) or sorted(oracle.trials)
    rows = []
    for trial_id in order:
        trial = oracle.trials.get(trial_id)
        if trial is None:
            continue
        record = {}
        if project_dir is not None:
            path = os.path.join(project_dir, f"trial_{trial_id}", TRIAL_RECORD)
            if os.path.exists(path):
                with open(path) as f:
                    record = json.load(f)
        values = trial.hyperparameters.values
        status = "oversized" if trial.metrics.exists(OVERSIZED) else trial.status
        epochs = 0
        if trial.metrics.exists(objective.name):
            epochs = sum(1 for o in trial.metrics.get_history(objective.name)
                         if not math.isnan(o.mean()))
        score = trial.score if trial.status == "COMPLETED" else None
        error = None
        if status == "oversized":
            error = "model larger than the size limit"
        elif trial.message:
            lines = [ln for ln in trial.message.strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else None
        rows.append({
            "trial_id": trial_id,
            "status": status,
            "score": None if score is None or math.isnan(score) else float(score),
            "objective": objective.name,
            "params": None if _last(trial, f"{PREFIX}params") is None
            else int(_last(trial, f"{PREFIX}params")),
            "seconds": _last(trial, f"{PREFIX}seconds"),
            "epochs": epochs,
            "stopped": record.get("stopped"),
            "rss_mb": _last(trial, f"{PREFIX}rss_mb"),
            "continued_from": values.get("tuner/trial_id"),
            "worker": record.get("worker"),
            "hyperparameters": {k: v for k, v in values.items() if k not in TUNER_KEYS},
            "error": error,
        })
    done = [r for r in rows if r["score"] is not None]
    done.sort(key=lambda r: r["score"], reverse=objective.direction == "max")
    rest = [r for r in rows if r["score"] is None]
    for skipped in getattr(oracle, "oversized", ()):
        rest.append({
            "trial_id": None, "status": "oversized", "score": None,
            "objective": objective.name, "params": int(skipped["params"]), "seconds": None,
            "epochs": 0, "stopped": None, "rss_mb": None, "continued_from": None,
            "worker": None,
            "hyperparameters": {k: v for k, v in skipped["values"].items()
                                if k not in TUNER_KEYS},
            "error": "model larger than the size limit (skipped before training)"})
    ranked = done + rest
    for i, r in enumerate(ranked, start=1):
        r["rank"] = i if r["score"] is not None else None
    return [{"rank": r.pop("rank"), **r} for r in ranked]


def write_table(rows, output, *, order=()):
    """Writes ``results.csv`` (one column per hyperparameter, in ``order`` first) and
    ``results.json``.

    Returns:
        ``(csv_path, json_path)``.
    """
    os.makedirs(output, exist_ok=True)
    json_path = os.path.join(output, "results.json")
    atomic_write(json_path, json.dumps(rows, indent=1))
    present = {k for r in rows for k in r["hyperparameters"]}
    hp_names = [k for k in order if k in present]
    for r in rows:
        for k in r["hyperparameters"]:
            if k not in hp_names:
                hp_names.append(k)
    fixed = [k for k in rows[0] if k != "hyperparameters"] if rows else []
    csv_path = os.path.join(output, "results.csv")
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(fixed + hp_names)
    for r in rows:
        writer.writerow([("" if r[k] is None else r[k]) for k in fixed]
                        + [r["hyperparameters"].get(k, "") for k in hp_names])
    atomic_write(csv_path, text.getvalue())
    return csv_path, json_path


def plot_scores(rows, main, path, *, title=None):
    """A PNG with one panel per main hyperparameter (and one for the parameter count):
    the score of every finished trial against that value.

    Returns:
        ``path``, or None when no trial has finished.
    """
    done = [r for r in rows if r["score"] is not None]
    if not done:
        return None
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    # Hyperparameters that took one value only (fixed ones) say nothing: left out.
    names = [n for n in main
             if len({repr(r["hyperparameters"].get(n)) for r in done
                     if n in r["hyperparameters"]}) > 1]
    panels = names + (["params"] if any(r["params"] for r in done) else [])
    cols = min(3, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.4 * rows_n),
                             squeeze=False)
    objective = done[0]["objective"]
    for ax, name in zip(axes.flat, panels):
        if name == "params":
            xs = [r["params"] for r in done if r["params"]]
            ys = [r["score"] for r in done if r["params"]]
            ax.scatter(xs, ys, alpha=0.8)
            ax.set_xscale("log")
            ax.set_xlabel("trainable parameters")
        else:
            pts = [(r["hyperparameters"][name], r["score"]) for r in done
                   if name in r["hyperparameters"]]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v, _ in pts)
            if numeric:
                ax.scatter([v for v, _ in pts], [s for _, s in pts], alpha=0.8)
                if all(isinstance(v, int) for v, _ in pts):
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                positive = all(v > 0 for v, _ in pts)
                if positive and max(v for v, _ in pts) / min(v for v, _ in pts) > 50:
                    ax.set_xscale("log")
            else:
                labels = sorted({str(v) for v, _ in pts})
                ax.scatter([labels.index(str(v)) for v, _ in pts], [s for _, s in pts],
                           alpha=0.8)
                ax.set_xticks(range(len(labels)), labels)
            ax.set_xlabel(name)
        ax.set_ylabel(objective)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    from kcnn._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
