"""Pure LTTB downsampling (Largest-Triangle-Three-Buckets) for chart traces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
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
            avg_x, avg_y = x[end:nxt_end].mean(), y[end:nxt_end].mean()
        bx, by = x[start:end], y[start:end]
        area = np.abs((x[a] - avg_x) * (by - y[a]) - (x[a] - bx) * (avg_y - y[a]))
        a = start + int(area.argmax())
        keep.append(a)
    keep.append(n - 1)
    return keep


def lttb(points: Sequence[tuple[float, float]], threshold: int) -> list[tuple[float, float]]:
    """Downsample (x, y) pairs to at most `threshold` points."""
    if len(points) <= threshold:
        return list(points)
    idx = lttb_indices([p[0] for p in points], [p[1] for p in points], threshold)
    return [points[i] for i in idx]
