"""gopls CPU and latency rules: pegged, busy while idle, children's CPU, completion p95."""

from __future__ import annotations

import numpy as np

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.trend import bucket_mean, clean, longest_run, sustained_run

MINUTE = 60.0


def _step(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if t.size > 1 else MINUTE


def cpu_runs(t, cpu, *, window_s: float, now: float):
    """Per-minute means of CPU% over the trailing window: (t, means, step)."""
    tb, mean = bucket_mean(np.asarray(t, float), np.asarray(cpu, float), MINUTE)
    keep = tb >= now - window_s
    tb, mean = tb[keep], mean[keep]
    return tb, mean, max(MINUTE, _step(tb))


def detect_pegged(t, cpu, *, now: float, params: dict) -> tuple[bool, bool, dict]:
    """(fired, hold, evidence): ≥ percent of a core for ≥ minutes; hold while ≥ clear_percent."""
    tb, mean, step = cpu_runs(t, cpu, window_s=params["window_minutes"] * MINUTE, now=now)
    if tb.size == 0:
        return False, False, {}
    span, start, end = longest_run(tb, mean >= params["percent"], step)
    fired = span >= params["minutes"] * MINUTE
    hold = not fired and sustained_run(tb, mean >= params["clear_percent"], step) > 0
    evidence = {
        "minutes": round(span / MINUTE, 1),
        "mean_percent": round(float(np.mean(mean)), 1),
        "max_percent": round(float(np.max(mean)), 1),
        "window": [start, end] if fired else [float(tb[0]), float(tb[-1] + step)],
    }
    return fired, hold, evidence


def detect_busy_idle(t, cpu, *, now: float, params: dict) -> tuple[bool, dict]:
    """> percent for ≥ minutes without a break, never pegged: background work while idle."""
    tb, mean, step = cpu_runs(t, cpu, window_s=max(60, params["minutes"] * 3) * MINUTE, now=now)
    if tb.size == 0:
        return False, {}
    busy = (mean > params["percent"]) & (mean < params["pegged_percent"])
    span = sustained_run(tb, busy, step)
    fired = span >= params["minutes"] * MINUTE and not np.any(mean >= params["pegged_percent"])
    return fired, {
        "minutes": round(span / MINUTE, 1),
        "mean_percent": round(float(np.mean(mean[-int(span // step) or -1 :])), 1),
        "window": [float(tb[-1] + step - span), float(tb[-1] + step)],
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
        fired, hold, ev = detect_pegged(proc.t, proc.get("cpu"), now=proc.last_ts, params=p)
        if fired or hold:
            text = f"gopls pid {proc.pid} used ≥ {p['percent']}% of a core for {ev['minutes']} min"
            out.append(_cpu_detection("gopls_cpu_pegged", proc, fired, hold, "warning", ev, text))
    return out


@rule("gopls_cpu_busy_idle", category="cpu")
def gopls_cpu_busy_idle(snapshot, th) -> list[Detection]:
    p = th["gopls_cpu_busy_idle"]
    out = []
    for proc in snapshot.alive():
        fired, ev = detect_busy_idle(proc.t, proc.get("cpu"), now=proc.last_ts, params=p)
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
        tb, mean, step = cpu_runs(proc.t, proc.get("children_cpu"), window_s=3600, now=proc.last_ts)
        if tb.size == 0:
            continue
        span, start, end = longest_run(tb, mean >= p["percent"], step)
        if span >= p["minutes"] * MINUTE:
            ev = {
                "minutes": round(span / MINUTE, 1),
                "max_percent": round(float(mean.max()), 1),
                "window": [start, end],
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
        p95 = float(np.median(v))
        if p95 < p["clear_ms"]:
            continue
        fired = p95 > p["completion_p95_ms"]
        ev = {"completion_p95_ms": round(p95, 1), "bound_ms": p["completion_p95_ms"]}
        text = f"completion p95 of gopls pid {proc.pid} is {p95:.0f} ms"
        out.append(_cpu_detection("gopls_rpc_latency", proc, fired, not fired, "warning", ev, text))
    return out
