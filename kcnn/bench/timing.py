"""Interleaved repeated measurements and the statistics reported from them.

Two programs timed one after the other on a shared machine see different loads, so a ratio
of separately measured rates mixes the programs' speed with the load's drift. The
benchmarks therefore time every contestant once per *round*, rotating their order from round
to round, and compare contestants round by round: the ratio reported is the median of the
per-round ratios, with their spread (min and max) and the ratio of the best rounds. Warm-up
calls (tracing, XLA compilation, memory allocation) run first, interleaved the same way, and
are never timed.

Every call is timed on two clocks:

- ``wall``: elapsed time (``time.perf_counter``), what a user waits for;
- ``cpu``: CPU time of the whole process, all threads (``time.process_time``). When other
  programs share the cores, the wall time of a CPU-bound step grows with their load but its
  CPU time hardly changes, so on a CPU the comparisons use CPU time (rounds differ by about
  10% instead of 2x on the shared 2-core machines here). On a GPU the work is not CPU
  time, and the comparisons use wall time.
"""

from __future__ import annotations

import statistics
import time

from kcnn._checks import check_int

__all__ = ["CLOCKS", "interleaved", "summarize", "paired_ratio", "best_ratio", "basis"]

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def basis(device):
    """The clock comparisons use on ``device`` ("cpu" or "gpu"): CPU time on a CPU."""
    return "cpu" if device == "cpu" else "wall"


def interleaved(contestants, *, repeats, warmup=1, before=None, clocks=None):
    """Times every contestant ``repeats`` times, one call each per round.

    Args:
        contestants: ``{name: fn}``; ``fn()`` does one unit of work and returns how many
            items it processed (images, FLOPs, builds), or None for 1.
        repeats: timed rounds.
        warmup: untimed rounds first.
        before: optional ``before(name)`` called untimed before every call (cleanup).
        clocks: ``{clock name: fn() -> seconds}``; ``CLOCKS`` (wall and cpu) by default.

    Returns:
        ``{clock: {name: [rate per round]}}`` in items per second of that clock, round ``r``
        at index ``r``.
    """
    check_int("repeats", repeats, minimum=1)
    check_int("warmup", warmup, minimum=0)
    if not contestants:
        raise ValueError("`contestants` must name at least one function to time. "
                         "Received: contestants={}")
    clocks = clocks or CLOCKS
    names = list(contestants)
    rates = {clock: {name: [] for name in names} for clock in clocks}
    for r in range(warmup + repeats):
        # Rotate the starting contestant and alternate the direction, so that no
        # contestant always runs first or always follows the same neighbour.
        order = names[r % len(names):] + names[:r % len(names)]
        if (r // len(names)) % 2:
            order.reverse()
        for name in order:
            if before is not None:
                before(name)
            start = {clock: fn() for clock, fn in clocks.items()}
            items = contestants[name]()
            stop = {clock: fn() for clock, fn in clocks.items()}
            if r >= warmup:
                for clock in clocks:
                    elapsed = max(stop[clock] - start[clock], 1e-9)
                    rates[clock][name].append((1 if items is None else items) / elapsed)
    return rates


def summarize(values):
    """Median, min, max and relative spread ``(max - min) / median`` of a list of rates."""
    values = [float(v) for v in values]
    median = statistics.median(values)
    return {"median": median, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / median if median else None,
            "n": len(values)}


def paired_ratio(numerator, denominator):
    """Round-by-round ratios ``numerator[r] / denominator[r]``, summarized, with ``best``:
    the ratio of the two best rounds."""
    if len(numerator) != len(denominator):
        raise ValueError("Paired ratios need the same number of rounds. Received: "
                         f"{len(numerator)} and {len(denominator)} values")
    return {**summarize([a / b for a, b in zip(numerator, denominator)]),
            "best": best_ratio(numerator, denominator)}


def best_ratio(numerator, denominator):
    """``max(numerator) / max(denominator)``: other work only ever slows a program down, so
    the best round of each is its least disturbed one."""
    return max(numerator) / max(denominator)
