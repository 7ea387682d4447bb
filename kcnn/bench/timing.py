"""Interleaved repeated measurements and the statistics reported from them.

Two programs timed one after the other on a shared machine see different loads, so a ratio
of separately measured rates mixes the programs' speed with the load's drift. The
benchmarks therefore time every contestant once per *round*, rotating their order from round
to round, and compare contestants round by round: the ratio reported is the median of the
per-round ratios, with their spread (min and max). Warm-up calls (tracing, XLA compilation,
memory allocation) run first, interleaved the same way, and are never timed.
"""

from __future__ import annotations

import statistics
import time

from kcnn._checks import check_int

__all__ = ["interleaved", "summarize", "paired_ratio", "best_ratio"]


def interleaved(contestants, *, repeats, warmup=1, before=None, clock=time.perf_counter):
    """Times every contestant ``repeats`` times, one call each per round.

    Args:
        contestants: ``{name: fn}``; ``fn()`` does one unit of work and returns how many
            items it processed (images, positions, builds), or None for 1.
        repeats: timed rounds.
        warmup: untimed rounds first.
        before: optional ``before(name)`` called untimed before every call (cleanup).
        clock: the timer (``time.perf_counter``).

    Returns:
        ``{name: [rate per round]}`` in items per second, round ``r`` at index ``r``.
    """
    check_int("repeats", repeats, minimum=1)
    check_int("warmup", warmup, minimum=0)
    if not contestants:
        raise ValueError("`contestants` must name at least one function to time. "
                         "Received: contestants={}")
    names = list(contestants)
    rates = {name: [] for name in names}
    for r in range(warmup + repeats):
        # Rotate the starting contestant and alternate the direction, so that no
        # contestant always runs first or always follows the same neighbour.
        order = names[r % len(names):] + names[:r % len(names)]
        if (r // len(names)) % 2:
            order.reverse()
        for name in order:
            if before is not None:
                before(name)
            start = clock()
            items = contestants[name]()
            elapsed = clock() - start
            if r >= warmup:
                rates[name].append((1 if items is None else items) / max(elapsed, 1e-12))
    return rates


def summarize(values):
    """Median, min, max and relative spread ``(max - min) / median`` of a list of rates."""
    values = [float(v) for v in values]
    median = statistics.median(values)
    return {"median": median, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / median if median else None,
            "n": len(values)}


def paired_ratio(numerator, denominator):
    """Round-by-round ratios ``numerator[r] / denominator[r]``, summarized."""
    if len(numerator) != len(denominator):
        raise ValueError("Paired ratios need the same number of rounds. Received: "
                         f"{len(numerator)} and {len(denominator)} values")
    return {**summarize([a / b for a, b in zip(numerator, denominator)]),
            "best": best_ratio(numerator, denominator)}


def best_ratio(numerator, denominator):
    """``max(numerator) / max(denominator)``: on a shared machine other work only ever slows
    a program down, so the best round of each is its least disturbed one."""
    return max(numerator) / max(denominator)
