"""Bulk loading of machine snapshots: one query per table per chunk, only the needed columns."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Avg, BigIntegerField, Count, Func, Max, Min
from django.db.models.fields.json import KT

from apps.anomalies import conf
from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries
from apps.fleet.models import GoplsProcess, InventoryItem, Machine
from apps.metrics.models import GoplsSample, SystemSample

# snapshot series name → (aggregate, column)
GOPLS_AGG = {
    "rss": (Min, "rss_bytes"),
    "heap": (Min, "heap_inuse_bytes"),
    "cpu": (Avg, "cpu_percent"),
    "goroutines": (Max, "goroutines"),
    "open_fds": (Max, "open_fds"),
    "fd_limit": (Min, "fd_limit"),
    "children_cpu": (Avg, "children_cpu_percent"),
    "completion_p95": (Max, "completion_p95_ms"),
    "cgroup_max": (Min, "cgroup_memory_max_bytes"),
    # Sustained-CPU rules need each bucket's quietest sample and exact first/last times.
    "cpu_min": (Min, "cpu_percent"),
    "children_cpu_min": (Min, "children_cpu_percent"),
}
SYSTEM_AGG = {
    "mem_total": (Max, "mem_total_bytes"),
    "mem_available": (Min, "mem_available_bytes"),
    "mem_cached": (Max, "mem_cached_bytes"),
    "swap_used": (Max, "swap_used_bytes"),
    "oom_kills": (Max, "oom_kill_count"),
    "watches_used": (Max, "inotify_watches_used"),
    "watches_max": (Min, "inotify_watches_max"),
    "instances_used": (Max, "inotify_instances_used"),
    "instances_max": (Min, "inotify_instances_max"),
    "wsl_mem_total": (Max, "wsl_mem_total_bytes"),
    "disk_free": (Min, "disk_free_min_bytes"),
    "gocache": (Max, "gocache_bytes"),
    "gomodcache": (Max, "gomodcache_bytes"),
    "gopls_cache": (Max, "gopls_cache_bytes"),
    "gopls_count": (Max, "gopls_count"),
}


class Epoch(Func):
    """Seconds since the epoch of a timestamp column (SQLite and PostgreSQL)."""

    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        # julianday, not strftime('%s'): the backend would read %s as a parameter placeholder.
        template = "CAST((julianday(%(expressions)s) - 2440587.5) * 86400.0 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"
        )


BUCKET_TIMES = ("t_first", "t_last", "n")


def _bucketed(qs, key: str, aggregates: dict, bucket_s: int, *, times: bool = False):
    extra = {}
    if times:
        extra = {"t_first": Min(Epoch("ts")), "t_last": Max(Epoch("ts")), "n": Count("pk")}
    rows = (
        qs.annotate(bucket=Epoch("ts") / bucket_s)
        .values(key, "bucket")
        .annotate(**{name: agg(col) for name, (agg, col) in aggregates.items()}, **extra)
        .order_by(key, "bucket")
    )
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in rows.iterator(chunk_size=5000):
        grouped[row[key]].append(row)
    return grouped


def _arrays(rows: list[dict], names, bucket_s: int) -> tuple[np.ndarray, dict]:
    t = np.array([r["bucket"] * bucket_s for r in rows], dtype=float)
    series = {
        name: np.array([np.nan if r[name] is None else float(r[name]) for r in rows], dtype=float)
        for name in names
    }
    return t, series


def active_machine_ids(now: datetime) -> list[int]:
    since = now - timedelta(seconds=conf.get("DETECTION_STALE_AFTER_S"))
    return list(
        Machine.objects.active()
        .filter(last_sample_at__gte=since)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def load_snapshots(
    machine_ids: list[int], now: datetime, hours: float | None = None
) -> list[MachineSnapshot]:
    """Snapshots for a chunk of machines, evaluated at `now`, with `hours` of history
    (DETECTION_WINDOW_HOURS by default)."""
    bucket_s = int(conf.get("DETECTION_BUCKET_S"))
    since = now - timedelta(hours=hours or conf.get("DETECTION_WINDOW_HOURS"))
    machines = list(
        Machine.objects.filter(pk__in=machine_ids).values(
            "pk",
            "machine_id",
            "os",
            "wsl_version",
            "mem_total_bytes",
            "cpu_count",
            "latest",
            "team__min_gopls_version",
            "team__detector_overrides",
        )
    )
    inventory: dict[int, dict] = defaultdict(dict)
    for mid, section, value in InventoryItem.objects.filter(machine_id__in=machine_ids).values_list(
        "machine_id", "section", "value"
    ):
        inventory[mid][section] = value
    processes: dict[int, list[ProcessSeries]] = defaultdict(list)
    by_pk: dict[int, ProcessSeries] = {}
    for p in GoplsProcess.objects.filter(machine_id__in=machine_ids, last_seen__gte=since).values(
        "pk",
        "machine_id",
        "pid",
        "start_time",
        "last_seen",
        "version",
        "version_source",
        "go_version",
        "editor",
        "argv",
        "env",
        "debug_addr",
        "cwd",
        "project__module_path",
    ):
        proc = ProcessSeries(
            pid=p["pid"],
            start_ts=p["start_time"].timestamp(),
            last_ts=p["last_seen"].timestamp(),
            version=p["version"],
            version_source=p["version_source"],
            go_version=p["go_version"],
            editor=p["editor"],
            argv=p["argv"] or [],
            env=p["env"] or {},
            debug_addr=p["debug_addr"],
            project=p["project__module_path"] or "",
            cwd=p["cwd"],
            process_pk=p["pk"],
        )
        processes[p["machine_id"]].append(proc)
        by_pk[p["pk"]] = proc
    gopls_rows = _bucketed(
        GoplsSample.objects.filter(process_id__in=list(by_pk), ts__gte=since, ts__lte=now),
        "process_id",
        GOPLS_AGG,
        bucket_s,
        times=True,
    )
    for pk, rows in gopls_rows.items():
        by_pk[pk].t, by_pk[pk].series = _arrays(rows, [*GOPLS_AGG, *BUCKET_TIMES], bucket_s)
    system_rows = _bucketed(
        SystemSample.objects.filter(machine_id__in=machine_ids, ts__gte=since, ts__lte=now),
        "machine_id",
        SYSTEM_AGG,
        bucket_s,
    )
    recent = _recent_details(machine_ids, now)
    victims = _oom_victims(machine_ids, now)
    out = []
    for m in machines:
        t, series = _arrays(system_rows.get(m["pk"], []), SYSTEM_AGG, bucket_s)
        top, drvfs = recent.get(m["pk"], ([], []))
        platform = f"wsl{m['wsl_version']}" if m["wsl_version"] else m["os"]
        out.append(
            MachineSnapshot(
                now=now.timestamp(),
                machine_pk=m["pk"],
                machine_id=m["machine_id"],
                os=m["os"],
                platform=platform,
                mem_total_bytes=m["mem_total_bytes"],
                cpu_count=m["cpu_count"],
                team_min_gopls=m["team__min_gopls_version"] or "",
                overrides=m["team__detector_overrides"] or {},
                inventory=inventory.get(m["pk"], {}),
                processes=processes.get(m["pk"], []),
                system=SystemSeries(t=t, series=series),
                oom_victims=victims.get(m["pk"], []),
                inotify_top=top,
                drvfs_workspaces=drvfs,
                allow_profiles=bool((m["latest"] or {}).get("allow_profiles")),
                alive_window_s=max(300.0, 2 * bucket_s),
            )
        )
    return out


def _recent_details(machine_ids: list[int], now: datetime) -> dict[int, tuple[list, list]]:
    """inotify top consumers and drvfs workspaces from each machine's newest sample (3 min)."""
    rows = (
        SystemSample.objects.filter(
            machine_id__in=machine_ids, ts__gte=now - timedelta(minutes=3), ts__lte=now
        )
        .annotate(top=KT("detail__inotify__top"), drvfs=KT("detail__wsl__workspaces_on_drvfs"))
        .order_by("machine_id", "ts")
        .values_list("machine_id", "top", "drvfs")
    )
    out: dict[int, tuple[list, list]] = {}
    for mid, top, drvfs in rows:
        out[mid] = (_json_list(top), _json_list(drvfs))
    return out


def _json_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return []
    return parsed if isinstance(parsed, list) else []


def _oom_victims(machine_ids: list[int], now: datetime) -> dict[int, list[dict]]:
    since = now - timedelta(hours=24)
    out: dict[int, list[dict]] = defaultdict(list)
    rows = SystemSample.objects.filter(
        machine_id__in=machine_ids,
        ts__gte=since,
        ts__lte=now,
        detail__system__has_key="oom_victims",
    ).values_list("machine_id", KT("detail__system__oom_victims"))
    for mid, victims in rows:
        out[mid].extend(v for v in _json_list(victims) if isinstance(v, dict))
    return out
