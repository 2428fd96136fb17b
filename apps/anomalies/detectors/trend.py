"""Robust trend statistics over numpy arrays: bucket minima, Theil–Sen slope, Mann–Kendall."""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=512)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j for n points, cached: the fleet pass calls this millions of times."""
    i, j = np.triu_indices(n, k=1)
    i.flags.writeable = False
    j.flags.writeable = False
    return i, j


def median(v: np.ndarray) -> float:
    """np.median of a 1-D array (NaN if it holds a NaN), without its per-call overhead, which
    dominates on the short arrays detectors see thousands of times per fleet pass."""
    n = v.size
    if n == 0:
        return math.nan
    s = np.sort(v)
    if s[-1] != s[-1]:  # NaN sorts last
        return math.nan
    mid = n // 2
    return float(s[mid]) if n % 2 else float((s[mid - 1] + s[mid]) / 2)


def clean(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop missing values (NaN) and sort by time."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    ok = ~(np.isnan(t) | np.isnan(v))
    t, v = t[ok], v[ok]
    order = np.argsort(t, kind="stable")
    return t[order], v[order]


def bucket_min(t: np.ndarray, v: np.ndarray, bucket_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of each `bucket_s` bucket, stamped at the bucket start: the bottoms of the GC
    sawtooth, which rise only when live memory rises."""
    t, v = clean(t, v)
    if t.size == 0:
        return t, v
    keys = np.floor(t / bucket_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    mins = np.minimum.reduceat(v, starts)
    return keys[starts] * bucket_s, mins


def bucket_mean(t: np.ndarray, v: np.ndarray, bucket_s: float) -> tuple[np.ndarray, np.ndarray]:
    t, v = clean(t, v)
    if t.size == 0:
        return t, v
    keys = np.floor(t / bucket_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sums = np.add.reduceat(v, starts)
    counts = np.diff(np.r_[starts, v.size])
    return keys[starts] * bucket_s, sums / counts


def theil_sen(t: np.ndarray, v: np.ndarray) -> float:
    """Median of all pairwise slopes (units of v per unit of t); NaN under 2 points."""
    n = t.size
    if n < 2:
        return math.nan
    i, j = _pairs(n)
    dt = t[j] - t[i]
    ok = dt > 0
    if not ok.any():
        return math.nan
    return median((v[j] - v[i])[ok] / dt[ok])


def mann_kendall(v: np.ndarray) -> tuple[float, float]:
    """(z, one-sided p-value for an increasing trend), normal approximation with tie correction."""
    n = v.size
    if n < 4:
        return 0.0, 1.0
    i, j = _pairs(n)
    s = float(np.sign(v[j] - v[i]).sum())
    _, counts = np.unique(v, return_counts=True)
    ties = counts[counts > 1]
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18.0
    if var <= 0:
        return 0.0, 1.0
    z = (s - 1) / math.sqrt(var) if s > 0 else (s + 1) / math.sqrt(var) if s < 0 else 0.0
    return z, 0.5 * math.erfc(z / math.sqrt(2))


def sustained_run(t: np.ndarray, mask: np.ndarray, step_s: float) -> float:
    """Seconds covered by the longest trailing run of True in mask (gaps > 2 steps break it)."""
    if t.size == 0 or not mask[-1]:
        return 0.0
    k = t.size - 1
    while k > 0 and mask[k - 1] and t[k] - t[k - 1] <= 2 * step_s:
        k -= 1
    return float(t[-1] - t[k] + step_s)


def longest_run(t: np.ndarray, mask: np.ndarray, step_s: float) -> tuple[float, float, float]:
    """(seconds, start, end) of the longest run of True in mask."""
    best = (0.0, math.nan, math.nan)
    start = None
    for k in range(t.size):
        gap = k > 0 and t[k] - t[k - 1] > 2 * step_s
        if mask[k] and (start is None or gap):
            start = k
        elif not mask[k]:
            start = None
        if start is not None:
            span = float(t[k] - t[start] + step_s)
            if span > best[0]:
                best = (span, float(t[start]), float(t[k] + step_s))
    return best
