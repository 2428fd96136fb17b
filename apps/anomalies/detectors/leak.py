"""gopls memory-leak detection: robust trend on heap (or RSS lows) after the workspace settles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from apps.anomalies.detectors.trend import bucket_min, mann_kendall, theil_sen

HOUR = 3600.0
MB = 1e6


@dataclass
class LeakResult:
    fired: bool
    hold: bool = False
    slope_bytes_per_h: float = 0.0
    p_value: float = 1.0
    window: tuple[float, float] | None = None
    points: int = 0
    level_bytes: float | None = None
    settled_at: float | None = None
    reason: str = ""
    trace: list = field(default_factory=list)


def settle_point(tb: np.ndarray, lows: np.ndarray, start_ts: float, params: dict) -> float:
    """Time from which memory is comparable across buckets.

    The initial workspace load grows fast then plateaus: memory is settled once the growth rate
    has fallen below `settle_rate_fraction` of the fastest rate seen (and at least
    `settle_minutes` after the start, at most `max_settle_minutes`). A jump later on (a workspace
    change) starts a new settling period of `resettle_minutes`.
    """
    earliest = start_ts + params["settle_minutes"] * 60
    latest = start_ts + params["max_settle_minutes"] * 60
    settled = latest
    rates = np.diff(lows) / np.diff(tb) if lows.size > 1 else np.empty(0)
    peak, steady = 0.0, 0
    for k in range(1, lows.size):
        peak = max(peak, rates[k - 1])
        recent = rates[max(0, k - 2) : k].mean()
        before = rates[max(0, k - 4) : max(1, k - 2)].mean()
        # A load's growth rate keeps shrinking; a leak's stays put. Either ends the settling.
        steady = steady + 1 if k >= 4 and recent >= params["steady_rate_ratio"] * before else 0
        if tb[k] < earliest:
            continue
        if recent <= params["settle_rate_fraction"] * peak or (
            steady >= 3 and recent <= params["steady_max_fraction"] * peak
        ):
            settled = tb[k]
            break
    settled = max(earliest, min(settled, latest))
    for k in range(2, lows.size):
        base = min(lows[k - 1], lows[k - 2])
        rise = lows[k] - base
        if tb[k] > settled and rise > max(params["jump_bytes"], params["jump_fraction"] * base):
            settled = max(settled, tb[k] + params["resettle_minutes"] * 60)
    return settled


def full_buckets(t: np.ndarray, v: np.ndarray, bucket_s: float):
    """Bucket minima, without a trailing bucket that is still filling (its minimum is biased up)."""
    tb, lows = bucket_min(t, v, bucket_s)
    if tb.size and t.size and np.nanmax(t) - tb[-1] < 0.8 * bucket_s:
        tb, lows = tb[:-1], lows[:-1]
    return tb, lows


def _window_verdict(t: np.ndarray, v: np.ndarray, params: dict) -> tuple[bool, float, float]:
    """(passes, slope bytes/s, p) for one trailing window of bucket minima."""
    slope = theil_sen(t, v)
    _, p = mann_kendall(v)
    if math.isnan(slope):
        return False, 0.0, 1.0
    half = t.size // 2
    first, second = theil_sen(t[: half + 1], v[: half + 1]), theil_sen(t[half:], v[half:])
    # A workspace load that plateaus decelerates; a leak keeps going (or accelerates).
    decelerating = first > 0 and second < params["decel_ratio"] * first
    growth = slope * (t[-1] - t[0])
    passes = (
        p < params["alpha"]
        and slope * HOUR >= params["min_slope_mb_h"] * MB
        and second * HOUR >= 0.5 * params["min_slope_mb_h"] * MB
        and first * HOUR >= 0.25 * params["min_slope_mb_h"] * MB
        and growth >= max(params["min_growth_mb"] * MB, params["min_growth_ratio"] * v[0])
        and not decelerating
    )
    if passes:
        # It must still hold without the oldest third: the tail of a load fades, a leak does not.
        tail = t.size // 3
        tail_slope = theil_sen(t[tail:], v[tail:])
        _, tail_p = mann_kendall(v[tail:])
        passes = (
            tail_p < 10 * params["alpha"] and tail_slope * HOUR >= params["min_slope_mb_h"] * MB
        )
    # The current rate: the recent half when the leak has not slowed down.
    return passes, max(slope, second) if passes else slope, p


def detect_leak(t, values, *, start_ts: float, params: dict) -> LeakResult:
    """Fire when the bucket minima after settling rise significantly (Mann–Kendall p < alpha)
    at ≥ min_slope_mb_h (Theil–Sen) in some trailing window of ≥ min_span_minutes, without
    decelerating. Hold (hysteresis) while the slope stays ≥ clear_slope_mb_h."""
    t = np.asarray(t, float)
    values = np.asarray(values, float)
    tb, lows = full_buckets(t[~np.isnan(values)], values[~np.isnan(values)], params["bucket_s"])
    if lows.size == 0:
        return LeakResult(False, reason="no data")
    settled = settle_point(tb, lows, start_ts, params)
    keep = tb >= settled
    ta, va = tb[keep], lows[keep]
    result = LeakResult(False, settled_at=settled, level_bytes=float(lows[-1]))
    min_span = params["min_span_minutes"] * 60
    if ta.size < params["min_points"] or ta[-1] - ta[0] < min_span:
        result.reason = "not enough settled data"
        return result
    best = None
    for hours in params["windows_h"]:
        sel = ta >= ta[-1] - hours * HOUR if hours else np.ones(ta.size, bool)
        tw, vw = ta[sel], va[sel]
        if tw.size < params["min_points"] or tw[-1] - tw[0] < min_span:
            continue
        passes, slope, p = _window_verdict(tw, vw, params)
        if best is None or (passes and not best[0]):
            best = (passes, slope, p, (float(tw[0]), float(tw[-1] + params["bucket_s"])), tw.size)
        if passes:
            break
    if best is None:
        result.reason = "not enough settled data"
        return result
    passes, slope, p, window, n = best
    result.fired = passes
    result.slope_bytes_per_h = slope * HOUR
    result.p_value = p
    result.window = window
    result.points = n
    result.hold = not passes and p < 0.1 and slope * HOUR >= params["clear_slope_mb_h"] * MB
    result.trace = [[float(a), float(b)] for a, b in zip(ta[-288:], va[-288:])]
    return result
