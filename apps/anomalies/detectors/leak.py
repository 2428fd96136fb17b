"""gopls memory-leak detection: robust trend on heap (or RSS lows) after the workspace settles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from apps.anomalies.detectors.trend import bucket_min, mann_kendall, median, theil_sen

HOUR = 3600.0
MB = 1e6
_NAN3 = np.full(3, np.nan)


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
    if lows.size > 1:
        # (np.concatenate and np.where rather than np.r_ and np.nan_to_num: this runs for
        # every gopls of every machine in each fleet pass, on arrays of ~70 values.)
        rates = np.diff(lows) / np.diff(tb)  # rates[k - 1]: growth into bucket k
        peak = np.maximum.accumulate(rates)
        padded = np.concatenate((_NAN3, rates))
        recent = (padded[2:-1] + padded[3:]) / 2  # mean of the 2 rates up to bucket k
        before = (padded[:-3] + padded[1:-2]) / 2  # the 2 rates before those
        recent_nan = np.isnan(recent)
        steady_now = np.where(recent_nan, 0.0, recent) >= params["steady_rate_ratio"] * np.where(
            np.isnan(before), np.inf, before
        )
        steady3 = steady_now.copy()
        steady3[1:] &= steady_now[:-1]
        steady3[:1] = False
        steady3[2:] &= steady_now[:-2]
        steady3[:2] = False
        recent = np.where(recent_nan, rates, recent)
        ok = (tb[1:] >= earliest) & (
            (recent <= params["settle_rate_fraction"] * peak)
            | (steady3 & (recent <= params["steady_max_fraction"] * peak))
        )
        if ok.any():
            settled = tb[1:][np.argmax(ok)]
    settled = max(earliest, min(settled, latest))
    if lows.size > 6:
        # A jump: the lowest of the next 3 buckets clears the lowest of the previous 3 by a lot.
        # Minima of 3 buckets ignore single noisy buckets; a steady leak rises far less in 15 min.
        win = np.minimum(np.minimum(lows[:-2], lows[1:-1]), lows[2:])  # minima of 3 buckets
        base, after = win[:-3], win[3:]
        rise = after - base
        at = tb[3 : 3 + rise.size]
        jumps = (at > settled) & (
            rise > np.maximum(params["jump_bytes"], params["jump_fraction"] * base)
        )
        if jumps.any():
            settled = max(settled, float(at[jumps][-1]) + params["resettle_minutes"] * 60)
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
    # Cheap screen before the O(n²) statistics: memory that is flat between the first and the
    # last quarter of the settled data can neither fire nor hold.
    q = max(1, ta.size // 4)
    rate = (median(va[-q:]) - median(va[:q])) / max(ta[-q:].mean() - ta[:q].mean(), 1.0)
    if rate * HOUR < 0.5 * params["clear_slope_mb_h"] * MB:
        result.reason = "flat"
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
