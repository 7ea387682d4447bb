"""Go feature extraction speed, from the repository's ``benchmarks/bench_go.py``.

The script is run in its own process as ``python bench_go.py [--quick] --json PATH`` and
its JSON result is included as it is; without the script, a results file
``benchmarks/results/go.json`` is included if present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

__all__ = ["benchmarks_dir", "measure"]


def benchmarks_dir():
    """``benchmarks/`` of the source checkout kcnn runs from, or of the current directory."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for root in (os.getcwd(), here):
        path = os.path.join(root, "benchmarks")
        if os.path.isdir(path):
            return path
    return None


def measure(*, quick=False, timeout=3600, log=print):
    """The Go benchmark's JSON, ``{"error": ...}`` if it failed, or None if absent."""
    folder = benchmarks_dir()
    if folder is None:
        return None
    script = os.path.join(folder, "bench_go.py")
    if not os.path.isfile(script):
        stored = os.path.join(folder, "results", "go.json")
        if os.path.isfile(stored):
            with open(stored) as f:
                return {"source": stored, **json.load(f)}
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "go.json")
        command = [sys.executable, script, *(["--quick"] if quick else []), "--json", path]
        if log:
            log(f"  go: {' '.join(command[1:])}")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env)
        if proc.returncode != 0:
            return {"error": f"{os.path.basename(script)} exited with {proc.returncode}: "
                             f"{proc.stderr.strip()[-500:]}"}
        if os.path.isfile(path):
            with open(path) as f:
                return json.load(f)
        try:  # or its last printed line
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"error": "bench_go.py wrote no JSON (expected --json PATH)"}
