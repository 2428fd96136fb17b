"""gopls memory rules: leak, high memory against the ceiling, goroutine growth, cgroup limit."""

from __future__ import annotations

import numpy as np

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import (
    ceiling,
    gomemlimit_suggestion,
    gopls_version,
    human,
)
from apps.anomalies.detectors.leak import HOUR, MB, detect_leak
from apps.anomalies.detectors.trend import clean, mann_kendall, median, theil_sen
from apps.common.shapes import loopback_debug_addr


def _proc_facts(snapshot, proc) -> dict:
    top, source = ceiling(snapshot, proc)
    return {
        "ceiling_bytes": top,
        "ceiling_source": source,
        "gopls_version": proc.version,
        "editor": proc.editor,
        "debug_addr": loopback_debug_addr(proc.debug_addr),
        **gomemlimit_suggestion(snapshot, proc).facts("gomemlimit"),
    }


@rule("gopls_memory_leak", category="memory")
def gopls_memory_leak(snapshot, th) -> list[Detection]:
    p = th["gopls_memory_leak"]
    out = []
    # Running lifetimes only: a gopls that exited (restarted, crashed) leaks no more, and its
    # finding must clear instead of firing from the window's history for hours.
    for proc in snapshot.alive():
        heap = proc.get("heap")
        signal, res = "rss_lows", None
        if np.count_nonzero(~np.isnan(heap)) >= p["min_points"]:
            signal, res = "heap_inuse", detect_leak(proc.t, heap, start_ts=proc.start_ts, params=p)
        if res is None or not res.fired:
            # Sparse heap samples give noisy bucket minima; the RSS lows can still show it.
            rss_res = detect_leak(proc.t, proc.get("rss"), start_ts=proc.start_ts, params=p)
            if res is None or rss_res.fired or (rss_res.hold and not res.hold):
                signal, res = "rss_lows", rss_res
        if not (res.fired or res.hold):
            continue
        facts = _proc_facts(snapshot, proc)
        top = facts["ceiling_bytes"]
        rss = proc.last("rss") or res.level_bytes or 0
        headroom, limit_name = _headroom(snapshot, top, rss, facts["ceiling_source"])
        hours = (
            headroom / res.slope_bytes_per_h
            if headroom is not None and res.slope_bytes_per_h > 0
            else None
        )
        severity = (
            "critical"
            if hours is not None and hours < p["critical_hours_to_ceiling"]
            else "warning"
        )
        slope_mb = res.slope_bytes_per_h / MB
        out.append(
            Detection(
                "gopls_memory_leak",
                fired=res.fired,
                hold=res.hold,
                severity=severity,
                subject=proc.subject,
                evidence={
                    "signal": signal,
                    "slope_mb_per_hour": round(slope_mb, 1),
                    "p_value": round(res.p_value, 6),
                    "hours_to_ceiling": round(hours, 1) if hours is not None else None,
                    "ceiling_bytes": top,
                    "ceiling_source": facts["ceiling_source"],
                    "headroom_bytes": headroom,
                    "headroom_source": limit_name,
                    "rss_bytes": rss,
                    "window": list(res.window) if res.window else None,
                    "settled_at": res.settled_at,
                    "points": res.points,
                    "pid": proc.pid,
                    "series": res.trace,
                },
                explanation=(
                    f"gopls pid {proc.pid} ({proc.version or 'unknown version'}): {signal} grows "
                    f"{res.slope_bytes_per_h / 2**20:.0f} MiB/h after the workspace settled"
                    + (f"; {hours:.1f} h until {limit_name}" if hours is not None else "")
                ),
                facts=facts,
            )
        )
    return out


def _headroom(snapshot, top, rss: float, source: str) -> tuple[float | None, str]:
    """(bytes gopls can still grow by, what stops it): up to its ceiling, but never more than
    the memory the machine has available now (241 MiB free is not 12 GiB to the RAM size)."""
    room = max(0.0, top - rss) if top else None
    name = f"the {source} ceiling" if source else ""
    available = snapshot.system.last("mem_available")
    if available is not None and (room is None or available < room):
        return float(available), f"memory runs out ({human(available)} available)"
    return room, name


def _recent(proc, name: str, recent_s: float) -> float | None:
    t, v = clean(proc.t, proc.get(name))
    recent = v[t >= proc.last_ts - recent_s]
    recent = recent if recent.size >= 3 else v[-3:]
    return median(recent) if recent.size else None


def memory_level(rss, heap, ratio: float, has_ceiling: bool, p: dict, f: float, old: bool) -> str:
    """Severity of a memory level; f < 1 lowers every bound (the clear side of hysteresis).

    The info level (HeapInuse over 1 GiB, the memory-dump threshold of gopls ≤ v0.11) applies
    to gopls before v0.12 only, where upgrading cuts memory by about 75 %; on newer versions
    such heaps are normal for large workspaces.
    """
    if has_ceiling and ratio >= p["critical_ratio"] * f:
        return "critical"
    if (rss or 0) >= p["warning_rss_bytes"] * f or (
        has_ceiling and ratio >= p["warning_ratio"] * f
    ):
        return "warning"
    if old and ((heap or 0) >= p["info_heap_bytes"] * f or (rss or 0) >= p["info_rss_bytes"] * f):
        return "info"
    return "ok"


@rule("gopls_memory_high", category="memory")
def gopls_memory_high(snapshot, th) -> list[Detection]:
    p = th["gopls_memory_high"]
    out = []
    for proc in snapshot.alive():
        rss = _recent(proc, "rss", p["recent_s"])
        heap = _recent(proc, "heap", p["recent_s"])
        if rss is None and heap is None:
            continue
        top, source = ceiling(snapshot, None)  # RAM or the WSL cap; cgroups have their rule
        ratio = (rss or 0) / top if top else 0.0

        version, _ = gopls_version(proc.version, proc.version_source)
        old = version is not None and version < (0, 12, 0)
        severity = memory_level(rss, heap, ratio, bool(top), p, 1.0, old)
        hold_severity = memory_level(rss, heap, ratio, bool(top), p, p["clear_factor"], old)
        if severity == "ok" and hold_severity == "ok":
            continue
        facts = _proc_facts(snapshot, proc)
        out.append(
            Detection(
                "gopls_memory_high",
                fired=severity != "ok",
                hold=severity == "ok",
                severity=severity if severity != "ok" else hold_severity,
                subject=proc.subject,
                evidence={
                    "rss_bytes": rss,
                    "heap_inuse_bytes": heap,
                    "ceiling_bytes": top,
                    "ceiling_source": source,
                    "ratio": round(ratio, 3),
                    "pid": proc.pid,
                    "window": [proc.last_ts - p["recent_s"], proc.last_ts],
                },
                explanation=(
                    f"gopls pid {proc.pid} uses {human(rss)} RSS"
                    + (f" ({ratio:.0%} of the {source} ceiling {human(top)})" if top else "")
                    + (f", HeapInuse {human(heap)}" if heap else "")
                ),
                facts=facts,
            )
        )
    return out


@rule("gopls_goroutine_growth", category="memory")
def gopls_goroutine_growth(snapshot, th) -> list[Detection]:
    p = th["gopls_goroutine_growth"]
    out = []
    for proc in snapshot.alive():
        t, v = clean(proc.t, proc.get("goroutines"))
        keep = t >= proc.start_ts + p["settle_minutes"] * 60
        t, v = t[keep], v[keep]
        if t.size < 6 or t[-1] - t[0] < p["min_span_minutes"] * 60 or v[-1] < p["min_count"]:
            continue
        slope = theil_sen(t, v) * HOUR
        _, pv = mann_kendall(v)
        if pv >= p["alpha"] or slope < p["min_per_hour"]:
            continue
        out.append(
            Detection(
                "gopls_goroutine_growth",
                fired=True,
                severity="warning",
                subject=proc.subject,
                evidence={
                    "goroutines": int(v[-1]),
                    "slope_per_hour": round(slope, 1),
                    "p_value": round(pv, 6),
                    "window": [float(t[0]), float(t[-1])],
                    "pid": proc.pid,
                },
                explanation=f"gopls pid {proc.pid}: goroutines grow {slope:.0f}/h to {int(v[-1])}",
                facts=_proc_facts(snapshot, proc),
            )
        )
    return out


@rule("cgroup_memory_low", category="memory")
def cgroup_memory_low(snapshot, th) -> list[Detection]:
    p = th["cgroup_memory_low"]
    out = []
    for proc in snapshot.alive():
        limit = proc.last("cgroup_max")
        rss = proc.get("rss")
        if not limit or not np.any(~np.isnan(rss)):
            continue
        peak = float(np.nanmax(rss))
        ratio = peak / limit
        if ratio < p["clear_ratio"]:
            continue
        fired = ratio >= p["ratio"]
        out.append(
            Detection(
                "cgroup_memory_low",
                fired=fired,
                hold=not fired,
                severity="critical" if ratio >= p["critical_ratio"] else "warning",
                subject=proc.subject,
                evidence={
                    "memory_max_bytes": limit,
                    "peak_rss_bytes": peak,
                    "ratio": round(ratio, 3),
                    "pid": proc.pid,
                },
                explanation=(
                    f"gopls pid {proc.pid} peaked at {human(peak)}, {ratio:.0%} of its cgroup "
                    f"memory.max {human(limit)}"
                ),
                facts={**_proc_facts(snapshot, proc), "memory_max_bytes": limit},
            )
        )
    return out
