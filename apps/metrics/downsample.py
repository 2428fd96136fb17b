"""The one downsampler: LTTB (Largest-Triangle-Three-Buckets), for the series API and the charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def lttb_indices(xs: Sequence[float], ys: Sequence[float], threshold: int) -> list[int]:
    """Indices of the points LTTB keeps: first, last, and one per bucket in between.

    LTTB keeps the visual shape of a line (peaks, troughs, steps) with `threshold` points;
    None values in ys must be removed by the caller.
    """
    n = len(xs)
    if threshold >= n or n <= 2:
        return list(range(n))
    if threshold < 3:
        raise ValueError("threshold must be at least 3")
    # Plain Python: buckets hold a handful of points, where numpy's per-call overhead would
    # cost more than the arithmetic. Bucket averages come from prefix sums.
    x = [float(v) for v in xs]
    y = [float(v) for v in ys]
    sum_x, sum_y = [0.0], [0.0]
    for xv, yv in zip(x, y):
        sum_x.append(sum_x[-1] + xv)
        sum_y.append(sum_y[-1] + yv)
    every = (n - 2) / (threshold - 2)
    keep = [0]
    a = 0
    for i in range(threshold - 2):
        start = int(i * every) + 1
        end = int((i + 1) * every) + 1
        nxt_end = min(int((i + 2) * every) + 1, n)
        if end >= n - 1:
            avg_x, avg_y = x[n - 1], y[n - 1]
        else:
            count = nxt_end - end
            avg_x = (sum_x[nxt_end] - sum_x[end]) / count
            avg_y = (sum_y[nxt_end] - sum_y[end]) / count
        ax, ay = x[a], y[a]
        best, best_j = -1.0, start
        for j in range(start, end):
            area = abs((ax - avg_x) * (y[j] - ay) - (ax - x[j]) * (avg_y - ay))
            if area > best:
                best, best_j = area, j
        a = best_j
        keep.append(a)
    keep.append(n - 1)
    return keep


def lttb(points: Sequence[tuple[float, float]], threshold: int) -> list[tuple[float, float]]:
    """Downsample (x, y) pairs to at most `threshold` points."""
    if len(points) <= threshold:
        return list(points)
    idx = lttb_indices([p[0] for p in points], [p[1] for p in points], threshold)
    return [points[i] for i in idx]


def downsample(points: Sequence[tuple[datetime, float]], max_points: int) -> list:
    """(time, value) points reduced to at most max_points (≥ 2) with LTTB; two points keep
    the first and the last."""
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if len(points) <= max_points:
        return list(points)
    if max_points == 2:
        return [points[0], points[-1]]
    keep = lttb_indices([t.timestamp() for t, _ in points], [v for _, v in points], max_points)
    return [points[i] for i in keep]
