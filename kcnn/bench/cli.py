"""``kcnn bench``'s command line: options, checked settings, the printed table."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from kcnn.bench.runner import FULL, QUICK, SECTIONS, run

__all__ = ["build_parser", "cli_main"]


def _description():
    import kcnn.bench

    return kcnn.bench.__doc__.split("\n\n")[0]


def build_parser():
    p = argparse.ArgumentParser(
        prog="kcnn bench", description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small run: ResNet-50, float32, no XLA, 3 rounds")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--models", nargs="+", help="kcnn networks with a keras.applications peer")
    p.add_argument("--precisions", nargs="+",
                   choices=("float32", "mixed_float16", "mixed_bfloat16"))
    p.add_argument("--jit", nargs="+", choices=("off", "on"), help="jit_compile settings")
    p.add_argument("--modes", nargs="+", choices=("train", "infer"))
    p.add_argument("--batch-size", type=int)
    p.add_argument("--image-size", type=int, help="input side (224)")
    p.add_argument("--steps", type=int, help="steps per timed unit")
    p.add_argument("--repeats", type=int, help="timed rounds")
    p.add_argument("--warmup", type=int, help="untimed rounds first")
    p.add_argument("--build-model", help="network of the build section (resnet152)")
    p.add_argument("--build-repeats", type=int)
    p.add_argument("--import-repeats", type=int)
    p.add_argument("--pipeline-recipes", nargs="+")
    p.add_argument("--pipeline-batches", type=int, help="batches per generated epoch")
    p.add_argument("--pipeline-repeats", type=int)
    p.add_argument("--choices-models", nargs="+",
                   help="networks of the choices section (resnet50)")
    p.add_argument("--choices-jit", nargs="+", choices=("off", "on"),
                   help="jit_compile settings of the choices section")
    p.add_argument("--no-fold", action="store_true", help="skip the folded inference model")
    p.add_argument("--output", default="bench-results",
                   help="folder for results.json and results.md (bench-results)")
    p.add_argument("--in-process", action="store_true",
                   help="measure every network in this process instead of one fresh process "
                        "per network, precision and XLA setting")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --output with the same options")
    return p


def _settings(args):
    base = dict(QUICK if args.quick else FULL)
    for key in base:
        value = getattr(args, key, None)
        if value is not None:
            base[key] = value
    from kcnn._checks import check_int

    for key in ("batch_size", "image_size", "steps", "repeats", "build_repeats",
                "import_repeats", "pipeline_batches", "pipeline_repeats"):
        check_int(key, base[key], minimum=1)
    check_int("warmup", base["warmup"], minimum=0)
    from kcnn.bench.throughput import PEERS

    unknown = [m for m in base["models"] if m not in PEERS]
    if unknown:
        raise ValueError(f"`--models` must be networks with a keras.applications peer: "
                         f"{', '.join(PEERS)}. Received: models={unknown}")
    base["sections"] = list(args.sections)
    base["quick"] = bool(args.quick)
    base["fold"] = not args.no_fold
    base["isolate"] = not args.in_process
    return base


def cli_main(argv=None):
    """``kcnn bench [options]``; returns the exit code (2 for bad arguments)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except (ValueError, TypeError) as exc:
        print(f"kcnn bench: {exc}", file=sys.stderr)
        return 2
    command = " ".join(["kcnn bench", *map(shlex.quote, [a for a in argv if a != "--resume"])])
    previous = None
    path = os.path.join(args.output, "results.json")
    if args.resume and os.path.isfile(path):
        with open(path) as f:
            previous = json.load(f)
    try:
        results = run(settings, output=args.output, command=command, previous=previous,
                      log=lambda msg: print(msg, flush=True))
    except ValueError as exc:
        print(f"kcnn bench: {exc}", file=sys.stderr)
        return 2
    from kcnn.bench import report

    print()
    print(report.to_markdown(results))
    print(f"results: {os.path.join(args.output, 'results.json')}")
    return 0
