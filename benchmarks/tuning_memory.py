"""Memory over a long sweep: resident memory after every trial of a random search.

Runs ``kcnn.tuning.search`` over the convnet space on the embedded digits (depth, kernel
sizes and widths vary, so every trial builds and traces a new graph) and reads each trial's
resident memory from the ranked table (``rss_mb``, measured at the trial's last epoch).
Reports the growth between the first and the last ten trials and the least-squares slope in
MiB per trial; a flat sweep has a slope near zero once the first trials have warmed up
TensorFlow's caches. TensorFlow's oneDNN kernels keep per-shape caches that grow while new
layer shapes keep appearing; ``TF_ENABLE_ONEDNN_OPTS=0`` separates that growth from the rest.

    python benchmarks/tuning_memory.py --trials 30 --output benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--image-size", type=int, default=8)
    p.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results"))
    args = p.parse_args(argv)

    from kcnn.tuning import Range, search

    overrides = {"num_stages": Range(1, 3), "kernel_size_1": [1, 3, 5],
                 "kernel_size_2": [1, 3], "kernel_size_3": [1, 3],
                 "convs_per_stage": Range(1, 2), "filters": [4, 8, 16, 32],
                 "dense_layers": Range(0, 1), "dense_units_1": [32, 64],
                 "batch_size": [32, 64], "stage_pooling": ["max", "avg"]}
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = search("convnet", "digits", tuner="random", max_trials=args.trials,
                        epochs=args.epochs, image_size=args.image_size,
                        output=os.path.join(tmp, "sweep"), overrides=overrides,
                        early_stopping=None, retrain="none", seed=0)
        order = list(result.tuner.oracle.start_order)
    seconds = time.monotonic() - start
    by_id = {r["trial_id"]: r for r in result.rows}
    rss = [by_id[t]["rss_mb"] for t in order if by_id[t]["rss_mb"] is not None]
    n = min(10, len(rss) // 3)
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0]) if len(rss) > 1 else 0.0
    tail_slope = (float(np.polyfit(np.arange(len(rss) - n), rss[n:], 1)[0])
                  if len(rss) - n > 1 else 0.0)
    report = {
        "benchmark": "tuning_memory", "trials": len(rss), "epochs": args.epochs,
        "image_size": args.image_size, "seconds": round(seconds, 1),
        "rss_mb": [round(v, 1) for v in rss],
        "first_mean_mb": round(float(np.mean(rss[:n])), 1),
        "last_mean_mb": round(float(np.mean(rss[-n:])), 1),
        "growth_mb": round(float(np.mean(rss[-n:]) - np.mean(rss[:n])), 1),
        "slope_mb_per_trial": round(slope, 3),
        "slope_after_warmup_mb_per_trial": round(tail_slope, 3),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "tuning_memory.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"{'trials':>24} {report['trials']}")
    for key in ("first_mean_mb", "last_mean_mb", "growth_mb", "slope_mb_per_trial",
                "slope_after_warmup_mb_per_trial", "seconds"):
        print(f"{key:>24} {report[key]}")
    print(f"written to {path}")
    return report


if __name__ == "__main__":
    main()
