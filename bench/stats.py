"""Summaries of repeated measurements: medians with their spread, percentiles, MB/s."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MB = 1_000_000


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """Return the median, min and max of *values* (rounded), and how many there were."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the *q*-th percentile (0-100) of already sorted values, nearest-rank."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency(values: Sequence[float]) -> dict[str, float]:
    """Return p50/p95/p99/max in milliseconds of latencies given in seconds."""
    ordered = sorted(values)
    return {
        "p50_ms": round(percentile(ordered, 50) * 1000, 1),
        "p95_ms": round(percentile(ordered, 95) * 1000, 1),
        "p99_ms": round(percentile(ordered, 99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else 0.0,
        "n": len(ordered),
    }


def mb_per_s(size: int, seconds: float) -> float:
    return size / MB / seconds if seconds > 0 else 0.0


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else 0.0
