"""One machine: its facts, running gopls, inventory with history, and its charts."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from apps.dashboard import charts
from apps.dashboard.inventory import diff_values
from apps.dashboard.services.findings import evidence_spans, machine_findings
from apps.dashboard.services.series import read_gopls, read_system, thin
from apps.dashboard.services.snapshots import load_snapshots
from apps.fleet.models import GoplsProcess, Machine

CHARTS = ("memory", "cpu", "goroutines", "latency", "sysmem", "inotify", "caches")
HISTORY_LIMIT = 25


def machine_page(machine: Machine, now: datetime) -> dict:
    cutoff = now - timezone.timedelta(seconds=settings.MACHINE_STALE_AFTER_S)
    processes = list(machine.gopls_processes.select_related("project").order_by("-last_seen")[:12])
    history = [
        {"change": change, "diff": diff_values(change.old_value, change.new_value)}
        for change in machine.inventory_changes.order_by("-changed_at")[:HISTORY_LIMIT]
    ]
    by_pid = {p.get("pid"): p for p in (machine.latest or {}).get("gopls") or []}
    return {
        "health": load_snapshots(Machine.objects.filter(pk=machine.pk), now)[0].health,
        "findings": machine_findings(machine),
        "running": [(p, by_pid.get(p.pid, {})) for p in processes if p.last_seen >= cutoff],
        "past": [p for p in processes if p.last_seen < cutoff],
        "inventory": {item.section: item for item in machine.inventory.all()},
        "history": history,
        "projects": machine.machineproject_set.select_related("project").order_by("-last_seen"),
        "latest": machine.latest or {},
    }


def _lifetimes(machine: Machine, columns: list[str], since, until) -> list[dict]:
    series = read_gopls(machine.pk, columns, since, until)
    procs = GoplsProcess.objects.filter(pk__in=series).order_by("start_time")
    out = []
    for p in procs:
        life = {"label": f"{p.version or 'gopls'} pid {p.pid}", "start": p.start_time}
        life.update(series[p.pk])
        out.append(life)
    return out


def _restarts(lifetimes: list[dict], since: datetime) -> list[tuple[datetime, str]]:
    return [(life["start"], "gopls start") for life in lifetimes if life["start"] >= since]


def machine_chart(machine: Machine, name: str, since: datetime, until: datetime) -> dict:
    """Figure dict for one of CHARTS over [since, until], with findings' evidence shaded."""
    figure = _figure(machine, name, since, until)
    return charts.add_evidence(figure, evidence_spans(machine, name, since, until))


def _figure(machine: Machine, name: str, since: datetime, until: datetime) -> dict:
    if name == "memory":
        lives = _lifetimes(machine, ["rss_bytes", "heap_inuse_bytes"], since, until)
        for life in lives:
            life["rss"], life["heap"] = life.pop("rss_bytes"), life.pop("heap_inuse_bytes")
        return charts.gopls_memory(lives, _restarts(lives, since))
    if name in ("cpu", "goroutines", "latency"):
        column, title, unit = {
            "cpu": ("cpu_percent", "gopls CPU (% of one core)", "percent"),
            "goroutines": ("goroutines", "gopls goroutines", "count"),
            "latency": ("completion_p95_ms", "completion latency p95", "ms"),
        }[name]
        lives = _lifetimes(machine, [column], since, until)
        fig = charts.per_lifetime(lives, column, title, unit)
        if name == "cpu":
            system = read_system(machine.pk, ["cpu_percent"], since, until)["cpu_percent"]
            cores = machine.cpu_count or 1
            fig["data"].append(
                charts.line_trace(
                    f"whole machine ({cores} cores)",
                    [(t, v * cores) for t, v in system],
                    "percent",
                    line={"color": "#8b949e", "dash": "dot"},
                )
            )
        charts.add_markers(
            fig["layout"], [(t, "#8b949e", lbl) for t, lbl in _restarts(lives, since)]
        )
        return fig
    if name == "sysmem":
        cols = ["mem_total_bytes", "mem_available_bytes", "mem_cached_bytes", "wsl_mem_total_bytes"]
        raw = read_system(machine.pk, cols, since, until, max_points=None)
        avail = dict(raw["mem_available_bytes"])
        used = thin([(t, total - avail[t]) for t, total in raw["mem_total_bytes"] if t in avail])
        s = {column: thin(points) for column, points in raw.items()}
        cap_name = "WSL VM cap" if machine.is_wsl else "RAM"
        cap = (
            s["wsl_mem_total_bytes"]
            if machine.is_wsl and s["wsl_mem_total_bytes"]
            else (s["mem_total_bytes"])
        )
        return charts.with_limit(
            "system memory",
            "bytes",
            [("used", used), ("page cache", s["mem_cached_bytes"])],
            [(cap_name, cap)],
        )
    if name == "inotify":
        s = read_system(machine.pk, ["inotify_watches_used", "inotify_watches_max"], since, until)
        return charts.with_limit(
            "inotify watches",
            "count",
            [("watches used", s["inotify_watches_used"])],
            [("max_user_watches", s["inotify_watches_max"])],
        )
    if name == "caches":
        cols = ["gocache_bytes", "gomodcache_bytes", "gopls_cache_bytes", "disk_free_min_bytes"]
        s = read_system(machine.pk, cols, since, until)
        return charts.with_limit(
            "Go caches vs free disk",
            "bytes",
            [
                ("GOCACHE", s["gocache_bytes"]),
                ("GOMODCACHE", s["gomodcache_bytes"]),
                ("gopls cache", s["gopls_cache_bytes"]),
            ],
            [("free disk", s["disk_free_min_bytes"])],
            stacked=True,
        )
    raise ValueError(f"unknown chart {name!r}")
