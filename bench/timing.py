"""The benchmarks' timers: the median of repeated calls after a warm-up, alone or in alternating rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeat: int = 15, warmup: int = 3) -> float:
    """Seconds per call of ``fn``: the median of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved_medians(*fns, rounds: int = 40, per_round: int = 5, warmup: int = 10) -> list[float]:
    """Median seconds per call of each of ``fns``, timed in ``rounds`` alternating rounds of
    ``per_round`` calls each (after ``warmup`` calls of each)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, samples):
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]
