"""Bulk loading of machine snapshots: a few set-based queries per chunk, only needed columns.

A snapshot's series are 5-minute buckets (DETECTION_BUCKET_S), read through the one reader
(`apps.metrics.reader.read_buckets`) with the series the catalogue names. Long windows read
the finished buckets from the 5-minute rollups and only the recent tail
(DETECTION_RAW_TAIL_MINUTES, longer than the rollup task's re-roll period) from raw
samples, so a fleet pass reads about 20 minutes of raw samples per machine whatever the
window. A machine whose rollups lag (the rollup task stopped, or a fresh database) reads raw
samples from its newest rolled bucket on, and one with a pending late range
(`apps.metrics.pending`) from the start of that range, so the result is the same either way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.db.models.fields.json import KT
from django.utils import timezone

from apps.anomalies import conf
from apps.anomalies.replay import (
    LIVE_SLACK,
    bound_lifetimes,
    in_the_past,
    inventory_at,
    last_samples,
)
from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries
from apps.fleet.models import GoplsProcess, Machine
from apps.metrics.catalog import detection_series
from apps.metrics.chunks.codec import to_micros
from apps.metrics.chunks.read import identity, machines_with_chunks, oom_victims
from apps.metrics.models import SystemSample
from apps.metrics.reader import BUCKET_TIMES, read_buckets

# snapshot series name → (aggregate, raw column, 5-minute rollup column), from the catalogue.
# Sustained-CPU rules also read each bucket's quietest sample and exact first/last times.
GOPLS_SERIES = detection_series(per_process=True)
SYSTEM_SERIES = detection_series(per_process=False)
# (aggregate, raw column) views, as report_snapshot reads them.
GOPLS_AGG = {name: (agg, col) for name, (agg, col, _) in GOPLS_SERIES.items()}
SYSTEM_AGG = {name: (agg, col) for name, (agg, col, _) in SYSTEM_SERIES.items()}


def _to_series(rows: np.ndarray | None, names, bucket_s: int) -> tuple[np.ndarray, dict]:
    if rows is None:
        return np.empty(0, float), {name: np.empty(0, float) for name in names}
    return rows[:, 1] * bucket_s, {name: rows[:, 2 + i] for i, name in enumerate(names)}


def active_machine_ids(now: datetime) -> list[int]:
    """Machines that reported within DETECTION_STALE_AFTER_S before `now`. In a replay
    (machines with samples after `now`) that is read from their samples up to `now`: a
    machine silent at `now` that reported again later is not evaluated then."""
    since = now - timedelta(seconds=conf.get("DETECTION_STALE_AFTER_S"))
    rows = list(
        Machine.objects.active()
        .filter(last_sample_at__gte=since)
        .order_by("pk")
        .values_list("pk", "last_sample_at")
    )
    if now >= timezone.now() - LIVE_SLACK:  # the live pass: no replay of who reported
        return [pk for pk, _ in rows]
    later = [pk for pk, last in rows if last > now]
    reported = set()
    for part in range(0, len(later), 2000):
        reported |= set(
            SystemSample.objects.filter(
                machine_id__in=later[part : part + 2000], ts__gte=since, ts__lte=now
            )
            .values_list("machine_id", flat=True)
            .distinct()
        )
        reported |= machines_with_chunks(later[part : part + 2000], since, now)
    return [pk for pk, last in rows if last <= now or pk in reported]


def load_snapshots(
    machine_ids: list[int], now: datetime, hours: float | None = None
) -> list[MachineSnapshot]:
    """Snapshots for a chunk of machines, evaluated at `now`, with `hours` of history
    (DETECTION_WINDOW_HOURS by default)."""
    bucket_s = int(conf.get("DETECTION_BUCKET_S"))
    since = now - timedelta(hours=hours or conf.get("DETECTION_WINDOW_HOURS"))
    machines = list(
        Machine.objects.filter(pk__in=machine_ids).values_list(
            "pk",
            "machine_id",
            "os",
            "wsl_version",
            "mem_total_bytes",
            "cpu_count",
            "latest",
            "team__min_gopls_version",
            "team__detector_overrides",
            "wsl_host_mem_total_bytes",
            "wsl_package_version",
            "last_sample_at",  # last: replay.in_the_past and last_samples read m[-1]
        )
    )
    past = in_the_past(machines, now)
    inventory = inventory_at(machine_ids, now, past)
    processes: dict[int, list[ProcessSeries]] = defaultdict(list)
    by_pk: dict[int, ProcessSeries] = {}
    owner: dict[int, int] = {}
    # Lifetimes that existed at some point of [since, now]: started by `now`, seen since.
    for p in GoplsProcess.objects.filter(
        machine_id__in=machine_ids, last_seen__gte=since, start_time__lte=now
    ).values(
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
        owner[p["pk"]] = p["machine_id"]
    gopls_names = [*GOPLS_SERIES, *BUCKET_TIMES]
    tail = timedelta(minutes=conf.get("DETECTION_RAW_TAIL_MINUTES"))
    gopls_rows = read_buckets(
        True, GOPLS_SERIES, sorted(by_pk), owner, since, now, bucket_s, times=True, tail=tail
    )
    for pk, rows in gopls_rows.items():
        by_pk[pk].t, by_pk[pk].series = _to_series(rows, gopls_names, bucket_s)
    bound_lifetimes(by_pk.values(), now)
    pks = [m[0] for m in machines]
    system_rows = read_buckets(
        False, SYSTEM_SERIES, pks, {pk: pk for pk in pks}, since, now, bucket_s, times=False,
        tail=tail,
    )  # fmt: skip
    details = _details(machines, system_rows, now, past)
    newest = last_samples(machines, now, past)
    out = []
    for row in machines:
        pk, mid, os_name, wsl, mem_total, cpus, latest, min_gopls, overrides, host, pkg, _ = row
        t, series = _to_series(system_rows.get(pk), SYSTEM_SERIES, bucket_s)
        top, drvfs, victims, disks = details.get(pk, ([], [], [], []))
        out.append(
            MachineSnapshot(
                now=now.timestamp(),
                machine_pk=pk,
                machine_id=mid,
                os=os_name,
                platform=f"wsl{wsl}" if wsl else os_name,
                mem_total_bytes=mem_total,
                cpu_count=cpus,
                team_min_gopls=min_gopls or "",
                overrides=overrides or {},
                inventory=inventory.get(pk, {}),
                processes=processes.get(pk, []),
                system=SystemSeries(t=t, series=series),
                oom_victims=victims,
                inotify_top=top,
                drvfs_workspaces=drvfs,
                disks=disks,
                allow_profiles=bool((latest or {}).get("allow_profiles")),
                alive_window_s=max(300.0, 2 * bucket_s),
                last_sample_ts=newest.get(pk),
                wsl_host_mem_bytes=float(host) if host else None,
                wsl_package_version=pkg or "",
            )
        )
    return out


def _details(machines: list[tuple], system_rows: dict, now: datetime, past: set[int]) -> dict:
    """{pk: (inotify top consumers, drvfs workspaces, OOM victims, disks)}.

    The first two come from the newest sample's summary on the machine (Machine.latest);
    machines whose summary predates those keys read their newest samples instead. OOM victims
    are read only for machines whose kernel counted OOM kills (the counter in the window or in
    the newest sample), which is every machine that can have any."""
    out: dict[int, tuple[list, list, list]] = {}
    stale, oom = [], []
    oom_column = 2 + list(SYSTEM_SERIES).index("oom_kills")
    for pk, *_, latest, _team_min, _overrides, _host, _pkg, _last in machines:
        latest = {} if pk in past else (latest or {})  # a replay reads its samples instead
        if "inotify_top" in latest:
            out[pk] = (
                _json_list(latest["inotify_top"]),
                _json_list(latest.get("drvfs_workspaces")),
                [],
                _json_list(latest.get("disks")),
            )
        else:
            stale.append(pk)
            out[pk] = ([], [], [], [])
        rows = system_rows.get(pk)
        kills = rows[:, oom_column] if rows is not None else np.empty(0)
        if (latest.get("oom_kill_count") or 0) > 0 or np.nansum(kills) > 0:
            oom.append(pk)
    for pk, (top, drvfs, disks) in _recent_details(stale, now).items():
        out[pk] = (top, drvfs, out[pk][2], disks)
    for pk, victims in _oom_victims(oom, now).items():
        out[pk] = (out[pk][0], out[pk][1], victims, out[pk][3])
    return out


def _recent_details(machine_ids: list[int], now: datetime) -> dict[int, tuple[list, list, list]]:
    """inotify top consumers, drvfs workspaces and disks from each machine's newest sample
    (3 min)."""
    if not machine_ids:
        return {}
    rows = (
        SystemSample.objects.filter(
            machine_id__in=machine_ids, ts__gte=now - timedelta(minutes=3), ts__lte=now
        )
        .annotate(
            top=KT("detail__inotify__top"),
            drvfs=KT("detail__wsl__workspaces_on_drvfs"),
            disks=KT("detail__system__disks"),
        )
        .order_by("machine_id", "ts")
        .values_list("machine_id", "top", "drvfs", "disks")
    )
    out: dict[int, tuple[list, list, list]] = {}
    for mid, top, drvfs, disks in rows:
        out[mid] = (_json_list(top), _json_list(drvfs), _json_list(disks))
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
    if not machine_ids:
        return {}
    since = now - timedelta(hours=24)
    out: dict[int, list[dict]] = defaultdict(list)
    compacted = oom_victims(machine_ids, since, now)
    rows = SystemSample.objects.filter(
        machine_id__in=machine_ids,
        ts__gte=since,
        ts__lte=now,
        detail__system__has_key="oom_victims",
    ).values_list("machine_id", KT("detail__system__oom_victims"), "sample_uid", "collected_at")
    for mid, victims, uid, collected in rows:
        if identity(False, None, uid, to_micros(collected)) in compacted.get(mid, ()):
            continue  # a resent copy of a compacted sample: read once, from its chunk
        out[mid].extend(v for v in _json_list(victims) if isinstance(v, dict))
    for mid, samples in compacted.items():  # compacted history
        for victims in samples.values():
            out[mid].extend(v for v in victims if isinstance(v, dict))
    return out
