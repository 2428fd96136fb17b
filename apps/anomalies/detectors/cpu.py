"""gopls CPU and latency rules: pegged, busy while idle, children's CPU, completion p95."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.trend import bucket_mean, clean, median

MINUTE = 60.0


@dataclass
class Intervals:
    """CPU% over consecutive intervals: start, end (epoch s), mean and lowest value in each."""

    start: np.ndarray
    end: np.ndarray
    mean: np.ndarray
    low: np.ndarray

    def runs(self, mask: np.ndarray) -> list[tuple[float, float]]:
        """(start, end) of each run of True over contiguous intervals (gap ≤ one interval)."""
        out, first = [], None
        if not mask.any():  # the usual case: no loop over the intervals
            return out
        for k in range(mask.size):
            joined = k > 0 and self.start[k] - self.end[k - 1] <= max(
                MINUTE, self.end[k - 1] - self.start[k - 1]
            )
            if mask[k] and first is not None and joined:
                continue
            if first is not None:
                out.append((self.start[first], self.end[k - 1]))
                first = None
            if mask[k]:
                first = k
        if first is not None:
            out.append((self.start[first], self.end[-1]))
        return out


def intervals(proc, name: str, *, window_s: float, now: float) -> Intervals:
    """Per-minute means of raw samples, or the stored buckets with their exact first/last
    sample times and minimum when the loader provides them (`<name>_min`, t_first, t_last)."""
    t = proc.t
    if "t_first" in proc.series and f"{name}_min" in proc.series:
        first, last = proc.get("t_first"), proc.get("t_last")
        mean, low, n = proc.get(name), proc.get(f"{name}_min"), proc.get("n")
        ok = ~(np.isnan(mean) | np.isnan(first)) & (last >= now - window_s)
        step = np.where(n[ok] > 1, (last[ok] - first[ok]) / np.maximum(n[ok] - 1, 1), np.nan)
        step = step[~np.isnan(step)]
        step = median(step) if step.size else 15.0  # np.nanmedian, without its overhead
        return Intervals(first[ok], last[ok] + step, mean[ok], low[ok])
    tb, mean = bucket_mean(np.asarray(t, float), np.asarray(proc.get(name), float), MINUTE)
    keep = tb >= now - window_s
    return Intervals(tb[keep], tb[keep] + MINUTE, mean[keep], mean[keep])


def detect_pegged(iv: Intervals, params: dict) -> tuple[bool, bool, dict]:
    """(fired, hold, evidence): ≥ percent of a core for ≥ minutes (every interval's mean over
    the bound and its lowest sample within 15 % of it); hold while ≥ clear_percent."""
    if iv.mean.size == 0:
        return False, False, {}
    pct = params["percent"]
    runs = iv.runs((iv.mean >= pct) & (iv.low >= 0.85 * pct))
    start, end = max(runs, key=lambda r: r[1] - r[0]) if runs else (np.nan, np.nan)
    span = float(end - start) if runs else 0.0
    fired = span >= params["minutes"] * MINUTE
    tail = iv.runs(iv.mean >= params["clear_percent"])
    hold = not fired and bool(tail) and tail[-1][1] == iv.end[-1]
    evidence = {
        "minutes": round(span / MINUTE, 1),
        "mean_percent": round(float(np.mean(iv.mean)), 1),
        "max_percent": round(float(np.max(iv.mean)), 1),
        "window": [float(start), float(end)] if fired else [float(iv.start[0]), float(iv.end[-1])],
    }
    return fired, hold, evidence


def detect_busy_idle(iv: Intervals, params: dict) -> tuple[bool, dict]:
    """> percent for ≥ minutes without a single quiet sample, never pegged: background work
    while idle (typing comes in bursts with pauses, so it never holds this long)."""
    if iv.mean.size == 0:
        return False, {}
    pct, pegged = params["percent"], params["pegged_percent"]
    busy = (iv.mean > pct) & (iv.low > 0.9 * pct) & (iv.mean < pegged)
    runs = iv.runs(busy)
    last = runs[-1] if runs and runs[-1][1] == iv.end[-1] else None
    span = float(last[1] - last[0]) if last else 0.0
    fired = span >= params["minutes"] * MINUTE
    sel = iv.start >= last[0] if last else np.zeros(iv.mean.size, bool)
    return fired, {
        "minutes": round(span / MINUTE, 1),
        "mean_percent": round(float(np.mean(iv.mean[sel])), 1) if sel.any() else None,
        "window": [float(last[0]), float(last[1])] if last else None,
    }


def _cpu_detection(rule_id, proc, fired, hold, severity, evidence, text) -> Detection:
    evidence = {**evidence, "pid": proc.pid}
    return Detection(
        rule_id,
        fired=fired,
        hold=hold,
        severity=severity,
        subject=proc.subject,
        evidence=evidence,
        explanation=text,
        facts={"gopls_version": proc.version, "editor": proc.editor},
    )


@rule("gopls_cpu_pegged", category="cpu")
def gopls_cpu_pegged(snapshot, th) -> list[Detection]:
    p = th["gopls_cpu_pegged"]
    out = []
    for proc in snapshot.alive():
        iv = intervals(proc, "cpu", window_s=p["window_minutes"] * MINUTE, now=snapshot.now)
        fired, hold, ev = detect_pegged(iv, p)
        if fired or hold:
            text = f"gopls pid {proc.pid} used ≥ {p['percent']}% of a core for {ev['minutes']} min"
            out.append(_cpu_detection("gopls_cpu_pegged", proc, fired, hold, "warning", ev, text))
    return out


@rule("gopls_cpu_busy_idle", category="cpu")
def gopls_cpu_busy_idle(snapshot, th) -> list[Detection]:
    p = th["gopls_cpu_busy_idle"]
    out = []
    for proc in snapshot.alive():
        iv = intervals(proc, "cpu", window_s=max(60, p["minutes"] * 3) * MINUTE, now=snapshot.now)
        fired, ev = detect_busy_idle(iv, p)
        if fired:
            text = (
                f"gopls pid {proc.pid} kept {ev['mean_percent']}% of a core busy for "
                f"{ev['minutes']} min without a pause"
            )
            out.append(
                _cpu_detection("gopls_cpu_busy_idle", proc, True, False, "warning", ev, text)
            )
    return out


@rule("gopls_children_cpu", category="cpu")
def gopls_children_cpu(snapshot, th) -> list[Detection]:
    p = th["gopls_children_cpu"]
    out = []
    for proc in snapshot.alive():
        iv = intervals(proc, "children_cpu", window_s=3600, now=snapshot.now)
        runs = iv.runs((iv.mean >= p["percent"]) & (iv.low >= 0.5 * p["percent"]))
        start, end = max(runs, key=lambda r: r[1] - r[0]) if runs else (0.0, 0.0)
        if end - start >= p["minutes"] * MINUTE:
            ev = {
                "minutes": round((end - start) / MINUTE, 1),
                "max_percent": round(float(iv.mean.max()), 1),
                "window": [float(start), float(end)],
            }
            text = f"children of gopls pid {proc.pid} (go list, cgo) used ≥ {p['percent']}% CPU"
            out.append(_cpu_detection("gopls_children_cpu", proc, True, False, "warning", ev, text))
    return out


@rule("gopls_rpc_latency", category="latency")
def gopls_rpc_latency(snapshot, th) -> list[Detection]:
    p = th["gopls_rpc_latency"]
    out = []
    for proc in snapshot.alive():
        t, v = clean(proc.t, proc.get("completion_p95"))
        v = v[t >= proc.last_ts - p["recent_s"]]
        if v.size == 0:
            continue
        p95 = median(v)
        if p95 < p["clear_ms"]:
            continue
        fired = p95 > p["completion_p95_ms"]
        ev = {"completion_p95_ms": round(p95, 1), "bound_ms": p["completion_p95_ms"]}
        text = f"completion p95 of gopls pid {proc.pid} is {p95:.0f} ms"
        out.append(_cpu_detection("gopls_rpc_latency", proc, fired, not fired, "warning", ev, text))
    return out
