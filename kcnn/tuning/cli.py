"""``kcnn tune``: hyperparameter sweeps from the command line.

    kcnn tune SPACE --data NAME_OR_PATH --tuner random|grid|bayesian|hyperband
              --max-trials N --epochs E --output DIR [--set NAME=VALUE ...]
    kcnn tune --list
    kcnn tune SPACE --data ... --show-space

Distributed (keras-tuner's chief/worker mode over gRPC): start the chief on one machine and
any number of workers anywhere that can reach it, all with the same sweep arguments::

    kcnn tune convnet --data digits --output runs/s1 --chief --oracle-address 0.0.0.0:8000
    kcnn tune convnet --data digits --output runs/s1 --worker w1 --oracle-address HOST:8000
    kcnn tune convnet --data digits --output runs/s1 --worker w2 --oracle-address HOST:8000

The chief only serves the oracle and, when every worker is done, writes the table, the plot
and the retrained best model. ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` set directly work too.
"""

from __future__ import annotations

import argparse
import re
import sys

__all__ = ["cli_main", "build_parser"]


def _count(text):
    """``2500000``, ``2.5M``, ``300k`` -> a positive int."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a count like 300000, 300k or 2.5M, "
                                         f"got {text!r}")
    scale = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9}[m.group(2).lower()]
    count = int(float(m.group(1)) * scale)
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return count


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _number_between(low, high=None):
    """A float parser accepting ``low < x`` (and ``x < high`` when given)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > low and (high is None or value < high)):
            bounds = f"above {low:g}" if high is None else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bounds} (exclusive), "
                                             f"got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


_positive = _int_at_least(1)


def build_parser():
    p = argparse.ArgumentParser(
        prog="kcnn tune", description="Hyperparameter sweep over a kcnn search space.",
        epilog="Hyperband budgets by iterations: --epochs is its max_epochs and --max-trials "
               "N runs N // T iterations, T being the trainings of one iteration (printed "
               "when N is too small); or give --hyperband-iterations. Grid search needs "
               "discrete or stepped ranges: --set lr=0.001,0.01 or --set lr=1e-4:1e-2:10:log.")
    p.add_argument("space", nargs="?", help="search space (kcnn tune --list)")
    p.add_argument("--list", action="store_true", help="list the search spaces and exit")
    p.add_argument("--show-space", action="store_true",
                   help="print the space's hyperparameters (after --set) and exit")
    d = p.add_argument_group("data")
    d.add_argument("--data", default="digits",
                   help="digits (embedded), mnist, fashion_mnist, cifar10, cifar100, an "
                        "image folder or an .npz file (default: digits)")
    d.add_argument("--image-size", type=_positive, default=None, help="image side in pixels")
    d.add_argument("--validation-fraction", type=_number_between(0, 1), default=0.2)
    d.add_argument("--limit", type=_positive, default=None,
                   help="use at most N training examples")
    s = p.add_argument_group("sweep")
    s.add_argument("--tuner", default="random",
                   choices=("random", "grid", "bayesian", "hyperband"))
    s.add_argument("--max-trials", type=_positive, default=None,
                   help="trials to run (default 10; Hyperband: see below)")
    s.add_argument("--epochs", type=_positive, default=3,
                   help="epochs per trial; Hyperband's max_epochs (default 3)")
    s.add_argument("--output", default="kcnn_tune", help="output folder (default kcnn_tune)")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="fix (NAME=5), list (NAME=16,32) or narrow (NAME=1:3, "
                        "NAME=1e-4:1e-2:log, NAME=0:0.5:0.1) a hyperparameter; repeatable")
    s.add_argument("--variant", default=None, help="resnet: named network of the defaults")
    s.add_argument("--objective", default="val_accuracy",
                   help="val_accuracy (default, maximized), val_loss, accuracy or loss")
    s.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="the same seed repeats a sweep (sampling, weights, shuffling)")
    s.add_argument("--overwrite", action="store_true",
                   help="discard a previous sweep in --output instead of resuming it")
    s.add_argument("--verbose", type=int, default=0)
    b = p.add_argument_group("budgets and early stopping")
    b.add_argument("--trial-seconds", type=_number_between(0), default=None,
                   help="wall-clock budget of one trial")
    b.add_argument("--max-params", type=_count, default=None,
                   help="skip models with more trainable parameters (e.g. 2M)")
    b.add_argument("--early-stopping", default="median", choices=("median", "none"),
                   help="median stopping rule across trials (random, grid, bayesian)")
    b.add_argument("--median-min-trials", type=_positive, default=3)
    b.add_argument("--median-grace-epochs", type=_positive, default=1)
    b.add_argument("--factor", type=_int_at_least(2), default=3,
                   help="Hyperband reduction factor")
    b.add_argument("--hyperband-iterations", type=_positive, default=None)
    b.add_argument("--num-initial-points", type=_positive, default=None,
                   help="Bayesian: random trials before the Gaussian process")
    r = p.add_argument_group("best model")
    r.add_argument("--retrain", default="train", choices=("train", "train+val", "none"),
                   help="retrain the best configuration on train, train+val, or not at all")
    r.add_argument("--retrain-epochs", type=_positive, default=None)
    x = p.add_argument_group("distributed (keras-tuner chief/worker)")
    role = x.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle")
    role.add_argument("--worker", metavar="ID", default=None, help="run trials as worker ID")
    x.add_argument("--oracle-address", default=None, metavar="HOST:PORT",
                   help="where the chief listens / workers connect")
    return p


def _list():
    from kcnn.tuning.spaces import list_spaces

    rows = list_spaces()
    width = max(len(n) for n, _, _ in rows)
    for name, description, paper in rows:
        print(f"{name.ljust(width)}  {description}  [{paper}]")


def cli_main(argv=None) -> int:
    """Entry point of ``kcnn tune``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        _list()
        return 0
    if not args.space:
        parser.print_usage(sys.stderr)
        print("kcnn tune: give a search space (kcnn tune --list)", file=sys.stderr)
        return 2
    from kcnn.tuning.hparams import describe_space, parse_overrides

    try:
        overrides = parse_overrides(args.set)
        max_trials = args.max_trials
        if max_trials is None and args.tuner != "hyperband":
            max_trials = 10
        if args.show_space:
            from kcnn.data.catalog import load_data
            from kcnn.tuning.spaces import get_space

            data = load_data(args.data, image_size=args.image_size, limit=args.limit)
            kw = {"variant": args.variant} if args.variant else {}
            space = get_space(args.space, input_shape=data.input_shape,
                              num_classes=data.num_classes, overrides=overrides, **kw)
            print(describe_space(space.search_space()))
            return 0
        from kcnn.tuning.sweep import search

        result = search(
            args.space, args.data, tuner=args.tuner, max_trials=max_trials,
            epochs=args.epochs, output=args.output, overrides=overrides,
            objective=args.objective, seed=args.seed, variant=args.variant,
            image_size=args.image_size, validation_fraction=args.validation_fraction,
            limit=args.limit, max_params=args.max_params, trial_seconds=args.trial_seconds,
            early_stopping=args.early_stopping, median_min_trials=args.median_min_trials,
            median_grace_epochs=args.median_grace_epochs, factor=args.factor,
            hyperband_iterations=args.hyperband_iterations,
            num_initial_points=args.num_initial_points, retrain=args.retrain,
            retrain_epochs=args.retrain_epochs, overwrite=args.overwrite,
            role="chief" if args.chief else "worker" if args.worker else None,
            oracle_address=args.oracle_address, worker_id=args.worker,
            verbose=args.verbose)
    except (ValueError, TypeError, ImportError) as e:
        print(f"kcnn tune: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a second writer (FolderBusyError), failures in a row
        print(f"kcnn tune: {e}", file=sys.stderr)
        return 1
    if args.worker:
        print(f"worker {args.worker}: done")
        return 0
    _print_summary(result)
    if not any(r["score"] is not None for r in result.rows):
        print("kcnn tune: no trial finished; the errors are in results.csv", file=sys.stderr)
        return 1
    return 0


def _print_summary(result, top=10):
    rows = [r for r in result.rows if r.get("trial_id", "") is not None]
    done = [r for r in rows if r["score"] is not None]
    print(f"{len(done)} of {len(rows)} trials finished; results in {result.output}")
    skipped = len(result.oversized) + sum(1 for r in rows if r.get("status") == "oversized")
    why = {"max_trials": "the sweep ran --max-trials trials",
           "exhausted": "the space is exhausted: every point was sampled",
           "oversized": "only models over --max-params were left to sample (the last "
                        "samples all exceeded it)"}.get(result.stop_reason)
    models = f"{skipped} sampled model{'s' if skipped != 1 else ''}"
    what = f"{models} exceeded --max-params and {'was' if skipped == 1 else 'were'} skipped"
    if why:
        print(f"stopped: {why}" + (f"; {what}" if skipped else ""))
    elif skipped:
        print(what)
    for r in done[:top]:
        hps = ", ".join(f"{k}={v}" for k, v in r["hyperparameters"].items())
        params = f"{r['params']:,}" if r["params"] else "-"
        print(f"#{r['rank']:<3} {r['objective']}={r['score']:.4f}  params={params}  "
              f"{r['seconds'] or 0:.1f}s  {hps}")
    if result.best_model_path:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in result.best_metrics.items())
        rank = f"#{result.best['rank']}'s" if result.best else "the best"
        print(f"best model: {result.best_model_path}  ({rank} configuration trained again "
              f"from scratch: {scores})")
