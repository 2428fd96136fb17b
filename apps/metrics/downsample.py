"""Pure downsampling for charts: keep each bucket's minimum and maximum, in time order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def minmax_buckets(points: Sequence[tuple[T, float]], max_points: int) -> list[tuple[T, float]]:
    """Reduce points to at most max_points, keeping every bucket's extremes.

    Min/max buckets keep spikes and the lows of a GC sawtooth visible, which an average
    would flatten — the lows are what a leak shows in.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if len(points) <= max_points:
        return list(points)
    buckets = max_points // 2
    size = len(points) / buckets
    out: list[tuple[T, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
        for i in sorted({lo, hi}):
            out.append(chunk[i])
    return out
