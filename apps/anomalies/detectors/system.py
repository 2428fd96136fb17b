"""Machine rules: inotify budget, gopls open files, Go caches against free disk, OOM kills."""

from __future__ import annotations

import numpy as np

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import human
from apps.anomalies.detectors.trend import clean, theil_sen
from apps.common.shapes import go_label, parse_go_version

HOUR = 3600.0


def hours_to_limit(t, used, limit: float) -> tuple[float | None, float]:
    """(hours until used reaches limit at the Theil–Sen slope, slope per hour)."""
    t, v = clean(t, used)
    keep = t >= t[-1] - 6 * HOUR if t.size else t.astype(bool)
    t, v = t[keep], v[keep]
    if t.size < 3:
        return None, 0.0
    slope = theil_sen(t[-120:], v[-120:]) * HOUR
    if not slope > 0:
        return None, slope
    return max(0.0, (limit - v[-1]) / slope), slope


def _budget(snapshot, th, rule_id, used_name, max_name, noun) -> list[Detection]:
    p = th[rule_id]
    used, limit = snapshot.system.last(used_name), snapshot.system.last(max_name)
    if used is None or not limit:
        return []
    ratio = used / limit
    if ratio < p["clear_ratio"]:
        return []
    hours, slope = hours_to_limit(snapshot.system.t, snapshot.system.get(used_name), limit)
    fired = ratio >= p["ratio"]
    key = "watches" if noun == "watches" else "instances"
    top = sorted(snapshot.inotify_top, key=lambda e: -(e.get(key) or 0))[:5]
    return [
        Detection(
            rule_id,
            fired=fired,
            hold=not fired,
            severity="critical" if ratio >= p["critical_ratio"] else "warning",
            subject="inotify",
            evidence={
                "used": int(used),
                "limit": int(limit),
                "ratio": round(ratio, 3),
                "hours_to_exhaustion": round(hours, 1) if hours is not None else None,
                "slope_per_hour": round(slope, 1),
                "top_consumers": top,
                "window": [float(snapshot.system.t[0]), float(snapshot.system.t[-1])],
            },
            explanation=(
                f"inotify {noun}: {int(used)} of {int(limit)} ({ratio:.0%}) used"
                + (f", exhausted in {hours:.1f} h at the current rate" if hours is not None else "")
                + (f"; top: {top[0].get('name')} ({top[0].get(key)})" if top else "")
            ),
            facts={"limit": int(limit), "suggested_watches": max(524288, int(limit) * 2)},
        )
    ]


@rule("inotify_watches", category="system")
def inotify_watches(snapshot, th) -> list[Detection]:
    return _budget(snapshot, th, "inotify_watches", "watches_used", "watches_max", "watches")


@rule("inotify_instances", category="system")
def inotify_instances(snapshot, th) -> list[Detection]:
    return _budget(
        snapshot, th, "inotify_instances", "instances_used", "instances_max", "instances"
    )


def _fd_limit_kind(built: tuple | None) -> str:
    """Which limit that is: Go ≥ 1.19 raises the soft limit to the hard one at start
    (go.dev/issue/46279), older builds keep the soft limit they were started with."""
    if built is None:
        return ""
    if built >= (1, 19, 0):
        return f" (its hard limit: built with {go_label(built)}, which raises the soft limit)"
    return f" (the soft limit it was started with: built with {go_label(built)})"


@rule("gopls_fd_near_limit", category="system")
def gopls_fd_near_limit(snapshot, th) -> list[Detection]:
    p = th["gopls_fd_near_limit"]
    out = []
    for proc in snapshot.alive():
        fds, limit = proc.last("open_fds"), proc.last("fd_limit")
        if fds is None or not limit or fds / limit < p["clear_ratio"]:
            continue
        ratio = fds / limit
        fired = ratio >= p["ratio"]
        built = parse_go_version(proc.go_version)
        out.append(
            Detection(
                "gopls_fd_near_limit",
                fired=fired,
                hold=not fired,
                severity="critical" if ratio >= p["critical_ratio"] else "warning",
                subject=proc.subject,
                evidence={
                    "open_fds": int(fds),
                    "fd_limit": int(limit),
                    "ratio": round(ratio, 3),
                    "pid": proc.pid,
                    "gopls_go_version": go_label(built),
                },
                explanation=f"gopls pid {proc.pid} has {int(fds)} of {int(limit)} files open"
                + _fd_limit_kind(built),
                facts={
                    "fd_limit": int(limit),
                    "gopls_version": proc.version,
                    "gopls_go_version": go_label(built),
                },
            )
        )
    return out


@rule("cache_disk_full", category="caches")
def cache_disk_full(snapshot, th) -> list[Detection]:
    p = th["cache_disk_full"]
    sysser = snapshot.system
    free = sysser.last("disk_free")
    if free is None:
        return []
    sizes = {name: sysser.last(name) for name in ("gocache", "gomodcache", "gopls_cache")}
    total = sum(v for v in sizes.values() if v)
    t, f = clean(sysser.t, sysser.get("disk_free"))
    hours = None
    if t.size >= 3:
        slope = theil_sen(t[-120:], f[-120:]) * HOUR
        hours = free / -slope if slope < 0 else None
    low = free < p["min_free_bytes"]
    soon = hours is not None and hours < p["hours_to_full"]
    if not (low or soon):
        return []
    critical = free < p["critical_free_bytes"] or (hours is not None and hours < 6)
    return [
        Detection(
            "cache_disk_full",
            fired=True,
            severity="critical" if critical else "warning",
            subject="disk",
            evidence={
                "free_bytes": free,
                "hours_to_full": round(hours, 1) if hours is not None else None,
                **{f"{k}_bytes": v for k, v in sizes.items()},
                "go_caches_bytes": total,
                "window": [float(t[0]), float(t[-1])] if t.size else None,
            },
            explanation=(
                f"{human(free)} free on the disk holding the Go caches"
                + (f", full in {hours:.0f} h at the current rate" if hours is not None else "")
                + f"; GOCACHE {human(sizes['gocache'])}, GOMODCACHE {human(sizes['gomodcache'])},"
                f" gopls cache {human(sizes['gopls_cache'])}"
            ),
            facts={"go_caches_bytes": total},
        )
    ]


@rule("gopls_cache_oversized", category="caches")
def gopls_cache_oversized(snapshot, th) -> list[Detection]:
    size = snapshot.system.last("gopls_cache")
    limit = th["cache_disk_full"]["gopls_cache_bytes"]
    if not size or size < limit:
        return []
    return [
        Detection(
            "gopls_cache_oversized",
            fired=True,
            severity="info",
            subject="gopls_cache",
            evidence={"gopls_cache_bytes": size, "bound_bytes": limit},
            explanation=f"the gopls file cache takes {human(size)} (budget 1 GB, du up to ~3×)",
        )
    ]


@rule("oom_kill", category="system")
def oom_kill(snapshot, th) -> list[Detection]:
    p = th["oom_kill"]
    t, kills = clean(snapshot.system.t, snapshot.system.get("oom_kills"))
    keep = t >= snapshot.now - p["lookback_hours"] * HOUR
    t, kills = t[keep], kills[keep]
    steps = np.diff(kills) if kills.size > 1 else np.empty(0)
    new = float(np.clip(steps, 0, None).sum()) if steps.size else 0.0
    victims = list(snapshot.oom_victims)
    if new <= 0 and not victims:
        return []
    gopls_victim = any("gopls" in str(v.get("name", "")) for v in victims)
    when = [float(t[k + 1]) for k in np.flatnonzero(steps > 0)] if steps.size else []
    return [
        Detection(
            "oom_kill",
            fired=True,
            severity="critical",
            subject="oom",
            evidence={
                "kills": int(new) or len(victims),
                "victims": victims[:10],
                "gopls_killed": gopls_victim,
                "at": when[-10:],
                "window": [float(t[0]), float(t[-1])] if t.size else None,
            },
            explanation=(
                f"the kernel OOM killer ran {int(new) or len(victims)} time(s)"
                + (" and killed gopls" if gopls_victim else "")
            ),
        )
    ]
