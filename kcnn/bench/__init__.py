"""``kcnn bench``: kcnn against keras.applications, measured side by side in one run.

    kcnn bench --quick                       # ResNet-50 float32, a few rounds (minutes)
    kcnn bench                               # everything below (hours on a 2-core CPU)
    kcnn bench --sections throughput --models resnet50 --precisions float32 mixed_bfloat16

Sections (``--sections``):

- ``throughput``: training and inference images/s of kcnn's ``resnet50``, ``resnet152``,
  ``vgg16`` and keras.applications' ``ResNet50``, ``ResNet152``, ``VGG16`` (``weights=None``)
  in each precision, with and without ``jit_compile``; kcnn's folded inference model
  (``kcnn.inference.optimize_for_inference``); MFU of training
  (``kcnn.bench.throughput``);
- ``choices``: kcnn's ResNet-50 in every precision and XLA setting side by side, the
  measurements behind ``--precision auto`` and the ``jit_compile`` default;
- ``import``: ``import kcnn`` after TensorFlow and Keras, in fresh processes;
- ``build``: ``kcnn.build("resnet152")`` against ``keras.applications.ResNet152``;
- ``pipeline``: the recipes' ``tf.data`` pipelines against their training steps
  (``kcnn.bench.pipeline``);
- ``go``: Go feature extraction positions/s (``benchmarks/bench_go.py``).

Every comparison is a ratio of rates measured in interleaved rounds in the same process
(``kcnn.bench.timing``), reported as the median with its min and max. The device is
whatever TensorFlow uses (the first GPU when present), so the same command measures a GPU
machine. Results go to ``OUTPUT/results.json`` (rewritten after every measurement) and
``OUTPUT/results.md``; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time

from kcnn.bench import timing  # noqa: F401  (public submodule)

__all__ = ["cli_main", "run", "SECTIONS", "QUICK", "FULL"]

SECTIONS = ("import", "build", "throughput", "choices", "pipeline", "go")

FULL = {"models": ["resnet50", "resnet152", "vgg16"],
        "precisions": ["float32", "mixed_float16", "mixed_bfloat16"],
        "jit": ["off", "on"], "modes": ["train", "infer"], "batch_size": 8,
        "image_size": 224, "steps": 1, "repeats": 5, "warmup": 1,
        "build_model": "resnet152", "build_repeats": 10, "import_repeats": 7,
        "pipeline_recipes": ["lenet5_digits", "alexnet_imagenet", "resnet_imagenet"],
        "pipeline_batches": 4, "pipeline_repeats": 3,
        "choices_models": ["resnet50"], "choices_jit": ["off", "on"]}
QUICK = {**FULL, "models": ["resnet50"], "precisions": ["float32"], "jit": ["off"],
         "repeats": 3, "build_repeats": 3, "import_repeats": 3,
         "pipeline_recipes": ["lenet5_digits", "resnet_imagenet"], "pipeline_batches": 2,
         "pipeline_repeats": 2, "choices_jit": ["off"]}


def build_parser():
    p = argparse.ArgumentParser(
        prog="kcnn bench", description=__doc__.split("\n\n")[0],
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


def _error(exc):
    return f"{type(exc).__name__}: {exc}"


_WORKER = """
import json, sys
from kcnn.bench import throughput
rows = getattr(throughput, sys.argv[1])(**json.loads(sys.argv[2]),
                                         log=lambda message: print(message, flush=True))
with open(sys.argv[3], "w") as f:
    json.dump(rows, f)
"""


def _isolated(function, kwargs):
    """``kcnn.bench.throughput.<function>(**kwargs)`` in a fresh Python process: the memory
    of its models and XLA executables is returned when it ends, and a crash (out of memory)
    ends only that measurement. Its progress lines go to this process's output."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.json")
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        proc = subprocess.run([sys.executable, "-c", _WORKER, function, json.dumps(kwargs),
                               path], env=env, stdout=None, stderr=subprocess.PIPE,
                              text=True)
        if proc.returncode != 0 or not os.path.isfile(path):
            tail = proc.stderr.strip().splitlines()[-3:]
            raise RuntimeError(f"measurement process exited with {proc.returncode}"
                               + (f": {' | '.join(tail)}" if tail else ""))
        with open(path) as f:
            return json.load(f)


def _same_settings(a, b):
    ignore = ("sections", "isolate")
    return ({k: v for k, v in a.items() if k not in ignore}
            == {k: v for k, v in b.items() if k not in ignore})


def run(settings, *, output=None, command="kcnn bench", previous=None, log=print):
    """Runs the sections in ``settings`` (``FULL`` or ``QUICK`` plus ``sections``,
    ``quick``, ``fold``); returns the results dict (also written to ``output``).

    ``previous``: the results of an interrupted run with the same settings; what it measured
    is kept, and a measurement it was in the middle of when its process ended is recorded as
    an error instead of being tried again.
    """
    from kcnn.bench import device, report

    if previous is not None and not _same_settings(previous.get("settings", {}), settings):
        raise ValueError("`--resume` needs the settings of the interrupted run. Received: "
                         f"settings differing from {previous.get('settings')!r}")
    previous = previous or {}
    results = {"command": previous.get("command", command),
               "date": previous.get("date",
                                    datetime.datetime.now().isoformat(timespec="seconds")),
               "machine": device.machine(), "settings": settings}
    if previous:
        results["resumed"] = previous.get("resumed", []) + [
            datetime.datetime.now().isoformat(timespec="seconds")]
    interrupted = previous.get("in_progress")

    def done(section, match=None):
        """The previous run's result for ``section`` (rows matching ``match``), if any."""
        value = previous.get(section)
        if value is None:
            return None
        if match is None:
            return None if isinstance(value, dict) and "error" in value else value
        rows = [r for r in value if all(r.get(k) == v for k, v in match.items())]
        return rows or None

    def begin(key):
        """Marks ``key`` as being measured; returns an error row if it was what the
        previous run was measuring when its process ended."""
        results["in_progress"] = key
        save()
        if interrupted == key:
            log and log(f"  skipped: the previous run's process ended while measuring {key}")
            return f"process ended while measuring {key} (in the previous run)"
        return None

    def save():
        if output:
            os.makedirs(output, exist_ok=True)
            with open(os.path.join(output, "results.json"), "w") as f:
                json.dump(results, f, indent=1, default=str)
            with open(os.path.join(output, "results.md"), "w") as f:
                f.write(report.to_markdown(results))

    start = time.perf_counter()
    sections = settings["sections"]
    if "import" in sections:
        from kcnn.bench import startup

        log and log("import times (fresh processes)")
        results["import"] = done("import")
        if results["import"] is None:
            try:
                results["import"] = startup.import_times(repeats=settings["import_repeats"])
            except Exception as exc:  # keep the other sections' results
                results["import"] = {"error": _error(exc)}
        save()
    if "build" in sections:
        from kcnn.bench import startup

        log and log(f"build times ({settings['build_model']})")
        results["build"] = done("build")
        if results["build"] is None:
            failed = begin("build")
            try:
                if failed:
                    raise RuntimeError(failed)
                results["build"] = startup.build_times(settings["build_model"],
                                                       repeats=settings["build_repeats"])
            except Exception as exc:
                results["build"] = {"error": _error(exc)}
        save()
    if "throughput" in sections:
        from kcnn.bench import throughput

        results["throughput"] = []
        for model in settings["models"]:
            for precision in settings["precisions"]:
                for jit in settings["jit"]:
                    log and log(f"throughput {model} {precision} jit={jit}")
                    group = {"model": model, "precision": precision,
                             "jit_compile": jit == "on"}
                    rows = done("throughput", group)
                    if rows:
                        results["throughput"].extend(rows)
                        continue
                    failed = begin(f"throughput {model} {precision} jit={jit}")
                    try:
                        if failed:
                            raise RuntimeError(failed)
                        kwargs = dict(
                            name=model, precision=precision, jit_compile=jit == "on",
                            modes=list(settings["modes"]), batch_size=settings["batch_size"],
                            image_size=settings["image_size"], steps=settings["steps"],
                            repeats=settings["repeats"], warmup=settings["warmup"],
                            fold=settings["fold"])
                        rows = (_isolated("measure", kwargs) if settings["isolate"]
                                else throughput.measure(**kwargs, log=log))
                    except Exception as exc:
                        rows = [{"model": model, "precision": precision,
                                 "jit_compile": jit == "on", "error": _error(exc)}]
                    results["throughput"].extend(rows)
                    save()
    if "choices" in sections:
        from kcnn.bench import throughput

        results["choices"] = []
        for model in settings["choices_models"]:
            log and log(f"precision and XLA choices {model}")
            rows = done("choices", {"model": model})
            if rows:
                results["choices"] += rows
                continue
            failed = begin(f"choices {model}")
            try:
                if failed:
                    raise RuntimeError(failed)
                kwargs = dict(name=model, jit=[j == "on" for j in settings["choices_jit"]],
                              modes=list(settings["modes"]), batch_size=settings["batch_size"],
                              image_size=settings["image_size"], steps=settings["steps"],
                              repeats=settings["repeats"], warmup=settings["warmup"])
                results["choices"] += (_isolated("measure_choices", kwargs)
                                       if settings["isolate"]
                                       else throughput.measure_choices(**kwargs, log=log))
            except Exception as exc:
                results["choices"].append({"model": model, "error": _error(exc)})
            save()
    if "pipeline" in sections:
        from kcnn.bench import pipeline

        log and log("input pipelines")
        results["pipeline"] = []
        for name in settings["pipeline_recipes"]:
            rows = done("pipeline", {"recipe": name})
            if rows:
                results["pipeline"] += rows
                continue
            failed = begin(f"pipeline {name}")
            try:
                if failed:
                    raise RuntimeError(failed)
                results["pipeline"] += pipeline.measure(
                    [name], batch_size=settings["batch_size"],
                    batches=settings["pipeline_batches"],
                    repeats=settings["pipeline_repeats"], warmup=1, log=log)
            except Exception as exc:
                results["pipeline"].append({"recipe": name, "error": _error(exc)})
            save()
    if "go" in sections:
        from kcnn.bench import go

        log and log("go feature extraction")
        results["go"] = done("go")
        if results["go"] is None:
            try:
                results["go"] = go.measure(quick=settings["quick"], log=log)
            except Exception as exc:
                results["go"] = {"error": _error(exc)}
        save()
    results.pop("in_progress", None)
    results["seconds"] = previous.get("seconds", 0.0) + time.perf_counter() - start
    save()
    return results


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
