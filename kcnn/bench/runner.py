"""Running ``kcnn bench``'s sections: each measurement in a fresh process, results saved as
they come, an interrupted run resumed.

:func:`run` takes the settings (:data:`FULL` or :data:`QUICK` plus ``sections``, ``quick``,
``fold``, ``isolate``), measures each section with the modules of :mod:`kcnn.bench`
(``startup``, ``throughput``, ``pipeline``, ``go``) and writes ``results.json`` and
``results.md`` after every measurement.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time

from kcnn._io import atomic_json, atomic_write

__all__ = ["SECTIONS", "FULL", "QUICK", "run"]

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
            atomic_json(os.path.join(output, "results.json"), results, indent=1, default=str)
            atomic_write(os.path.join(output, "results.md"), report.to_markdown(results))

    def rows_for(section, match, key, measure):
        """The rows of one measurement: the previous run's when it has them, else
        ``measure()``'s, or one error row (``match`` plus the error) when it fails."""
        rows = done(section, match)
        if rows:
            return rows
        failed = begin(key)
        try:
            if failed:
                raise RuntimeError(failed)
            return measure()
        except Exception as exc:
            return [{**match, "error": _error(exc)}]

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
                    kwargs = dict(
                        name=model, precision=precision, jit_compile=jit == "on",
                        modes=list(settings["modes"]), batch_size=settings["batch_size"],
                        image_size=settings["image_size"], steps=settings["steps"],
                        repeats=settings["repeats"], warmup=settings["warmup"],
                        fold=settings["fold"])
                    results["throughput"] += rows_for(
                        "throughput", group, f"throughput {model} {precision} jit={jit}",
                        lambda kwargs=kwargs: (
                            _isolated("measure", kwargs) if settings["isolate"]
                            else throughput.measure(**kwargs, log=log)))
                    save()
    if "choices" in sections:
        from kcnn.bench import throughput

        results["choices"] = []
        for model in settings["choices_models"]:
            log and log(f"precision and XLA choices {model}")
            kwargs = dict(name=model, jit=[j == "on" for j in settings["choices_jit"]],
                          modes=list(settings["modes"]), batch_size=settings["batch_size"],
                          image_size=settings["image_size"], steps=settings["steps"],
                          repeats=settings["repeats"], warmup=settings["warmup"])
            results["choices"] += rows_for(
                "choices", {"model": model}, f"choices {model}",
                lambda kwargs=kwargs: (
                    _isolated("measure_choices", kwargs) if settings["isolate"]
                    else throughput.measure_choices(**kwargs, log=log)))
            save()
    if "pipeline" in sections:
        from kcnn.bench import pipeline

        log and log("input pipelines")
        results["pipeline"] = []
        for name in settings["pipeline_recipes"]:
            results["pipeline"] += rows_for(
                "pipeline", {"recipe": name}, f"pipeline {name}",
                lambda name=name: pipeline.measure(
                    [name], batch_size=settings["batch_size"],
                    batches=settings["pipeline_batches"],
                    repeats=settings["pipeline_repeats"], warmup=1, log=log))
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


