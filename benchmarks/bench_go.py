"""Go feature extraction speed: positions per second per core on real game records.

    python benchmarks/bench_go.py [--quick] [--json PATH] [--sgf DIR]

Feature extraction is the bottleneck of the AlphaGo input pipeline. In one process (one
core; rates use the process's CPU time, so other load on the machine matters little, and
wall-clock rates are reported too) this measures replaying every game of the records in
``../shared/data/go`` (or ``--sgf``; generated random games when neither exists) and
computing all 48 planes of every position, ladders included. It compares that with the
plain-Python flood-fill implementation of the same planes in ``tests/go/go_reference.py``
on a sample of the same positions; that reference copies the board for every candidate
move, so it is slower than the ~200 positions/s of a plain flood fill. Also measured: the
planes without the move features (20 planes), the numba first-call cost (compiling with an
empty cache, loading from the cache, each in a fresh process) and the converter with every
core. The issue's target is 2,000 positions/s per core for all 48 planes.

Prints a table and the JSON (also written to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared", "data", "go")
TARGET = 2000


def load_games(folder):
    import kcnn.go as go

    if folder and os.path.isdir(folder) and glob.glob(os.path.join(folder, "*.sgf")):
        return [go.read_sgf(p) for p in sorted(glob.glob(os.path.join(folder, "*.sgf")))], \
            os.path.abspath(folder)
    return [go.random_game(19, 250, seed=i) for i in range(6)], "random games (19x19, 250 moves)"


def rate(fn, positions, rounds):
    """positions/s over ``rounds`` timed calls of ``fn`` (each handles ``positions``), by
    this process's CPU time (one core, whatever else the machine runs) and by wall clock."""
    fn()   # warm-up (compiles or loads the engine)
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"median": positions / statistics.median(cpu), "best": positions / min(cpu),
            "wall_median": positions / statistics.median(wall), "rounds": rounds}


def first_call(cache_dir):
    """Seconds to import kcnn.go and compute the planes of one position, fresh process."""
    code = textwrap.dedent("""
        import json, resource, time
        t0 = time.perf_counter()
        import kcnn.go as go
        t1 = time.perf_counter()
        c1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        game = go.random_game(9, 30, seed=0)
        for state, move in go.replay(game):
            go.features(state)
        t2 = time.perf_counter()
        c2 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        print(json.dumps({"import_seconds": t1 - t0, "first_call_seconds": t2 - t1,
                          "first_call_cpu_seconds": c2 - c1}))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=1800)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-300:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no cold compile")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    parser.add_argument("--sgf", default=SHARED, help="folder of .sgf records")
    args = parser.parse_args(argv)

    import kcnn.go as go

    sys.path.insert(0, os.path.join(ROOT, "tests", "go"))
    import go_reference

    games, source = load_games(args.sgf)
    positions = sum(1 for g in games for _, m in go.replay(g, copy=False))
    rounds = 3 if args.quick else 10

    def replay_and_features(planes=48):
        for game in games:
            for state, _ in go.replay(game, copy=False):
                go.features(state, planes)

    def replay_only():
        for game in games:
            for _ in go.replay(game, copy=False):
                pass

    results = {"source": source, "games": len(games), "positions": positions,
               "target_positions_per_second_per_core": TARGET}
    results["kcnn_48_planes"] = rate(replay_and_features, positions, rounds)
    results["kcnn_20_planes"] = rate(lambda: replay_and_features(20), positions, rounds)
    results["replay_only"] = rate(replay_only, positions, rounds)

    # plain Python on a sample of the same positions
    every = 60 if args.quick else 20
    sample = []
    for game in games:
        ref = go_reference.RefBoard(game.size)
        if 0 in game.setup:
            ref.setup(*game.setup[0])
        for i, (state, move) in enumerate(go.replay(game, copy=False)):
            ref.to_play = state.to_play
            if i % every == every // 2:
                sample.append(ref.clone())
            ref.play(move)

    def reference():
        for board in sample:
            go_reference.features(board)

    results["plain_python_48_planes"] = rate(reference, len(sample), 1)
    results["plain_python_48_planes"]["positions"] = len(sample)
    kcnn_rate = results["kcnn_48_planes"]["median"]
    results["positions_per_second_per_core"] = kcnn_rate
    results["speedup_over_plain_python"] = kcnn_rate / results["plain_python_48_planes"]["median"]
    results["meets_target"] = kcnn_rate >= TARGET

    with tempfile.TemporaryDirectory() as cache:
        if not args.quick:
            results["first_call_empty_cache"] = first_call(cache)
        else:
            first_call(cache)
        results["first_call_cached"] = first_call(cache)

    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "sgf")
            os.makedirs(folder)
            for i, game in enumerate(games):
                with open(os.path.join(folder, f"{i}.sgf"), "wb") as f:
                    f.write(game.to_sgf())
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else os.cpu_count()
            start = time.perf_counter()
            meta = go.convert(folder, os.path.join(tmp, "out"), workers=workers,
                              progress=False)
            seconds = time.perf_counter() - start
            stored = sum(s["positions"] for s in meta["splits"].values())
            results["convert_all_cores"] = {"workers": workers, "positions": stored,
                                            "positions_per_second": stored / seconds}

    rows = [("kcnn, 48 planes (replay + features)", results["kcnn_48_planes"]["median"]),
            ("kcnn, 20 planes (no move features)", results["kcnn_20_planes"]["median"]),
            ("kcnn, replay only", results["replay_only"]["median"]),
            ("plain Python flood fill, 48 planes", results["plain_python_48_planes"]["median"])]
    print(f"Go feature extraction on {source}: {len(games)} games, {positions} positions, "
          "one core")
    print(f"{'':40s} {'positions/s':>12s}")
    for name, value in rows:
        print(f"{name:40s} {value:12,.0f}")
    print(f"speed-up over plain Python: {results['speedup_over_plain_python']:.0f}x; "
          f"target {TARGET:,}/s per core: {'met' if results['meets_target'] else 'NOT met'}")
    for key in ("first_call_empty_cache", "first_call_cached"):
        if key in results and "first_call_seconds" in results[key]:
            print(f"{key.replace('_', ' ')}: {results[key]['first_call_seconds']:.2f} s "
                  f"({results[key]['first_call_cpu_seconds']:.2f} s CPU)")
    if "convert_all_cores" in results:
        c = results["convert_all_cores"]
        print(f"convert with {c['workers']} workers: {c['positions_per_second']:,.0f} "
              "positions/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
