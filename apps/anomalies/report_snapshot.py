"""A machine snapshot built from one report-v1 payload (for POST /api/v1/check; nothing stored)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from apps.anomalies.loader import GOPLS_AGG, SYSTEM_AGG
from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries
from apps.common.shapes import go_version_label, version_label
from apps.common.timestamps import parse_timestamp
from apps.fleet.recording import wsl_host_facts
from apps.ingest.services import lifetime_start
from apps.metrics.columns import gopls_row, system_row
from apps.metrics.summary import disk_mounts


def _series(rows: list[dict], names: dict) -> dict[str, np.ndarray]:
    return {
        name: np.array([np.nan if r.get(col) is None else float(r[col]) for r in rows], float)
        for name, (_, col) in names.items()
        if not name.endswith("_min")  # raw samples: the CPU rules bucket them per minute
    }


def snapshot_from_report(payload: dict, machine=None) -> MachineSnapshot:
    """Pure apart from reading the machine's team settings; the report must be valid."""
    samples = sorted(payload.get("samples") or [], key=lambda s: s["collected_at"])
    times, system_rows = [], []
    procs: dict[tuple, dict] = {}
    proc_rows: dict[tuple, list] = defaultdict(list)
    for sample in samples:
        ts = parse_timestamp(sample["collected_at"]).timestamp()
        columns, _ = system_row(sample)
        times.append(ts)
        system_rows.append(columns)
        for proc in sample.get("gopls") or []:
            key = (proc["pid"], lifetime_start(proc).timestamp())
            facts = procs.setdefault(key, {})
            for k, v in proc.items():
                if v not in (None, "", [], {}):
                    facts.setdefault(k, v)
            columns, _ = gopls_row(proc)
            proc_rows[key].append((ts, columns))
    processes = []
    for (pid, start), rows in proc_rows.items():
        facts = procs[(pid, start)]
        editor = facts.get("editor") or {}
        projects = [p for p in facts.get("projects") or [] if isinstance(p, dict)]
        processes.append(
            ProcessSeries(
                pid=pid,
                start_ts=start,
                last_ts=rows[-1][0],
                version=version_label(facts.get("version")),
                version_source=str(facts.get("version_source") or ""),
                go_version=go_version_label(facts.get("go_version")),
                editor=str(editor.get("kind") or ""),
                argv=facts.get("argv") or [],
                env=facts.get("env") or {},
                debug_addr=str((facts.get("debug") or {}).get("addr") or ""),
                project=projects[0].get("module", "") if projects else "",
                cwd=str(facts.get("cwd") or ""),
                t=np.array([ts for ts, _ in rows], float),
                series=_series([c for _, c in rows], GOPLS_AGG),
            )
        )
    last = samples[-1] if samples else {}
    identity = payload.get("machine") or {}
    wsl = identity.get("wsl") if isinstance(identity.get("wsl"), dict) else {}
    wsl_version = wsl.get("version")
    if machine is not None and machine.wsl_version:
        wsl_version = machine.wsl_version
    host, package = wsl_host_facts(wsl)
    if machine is not None and not wsl:
        host, package = machine.wsl_host_mem_total_bytes, machine.wsl_package_version
    os_name = identity.get("os") or (machine.os if machine is not None else "linux")
    team = machine.team if machine is not None else None
    victims = [
        v
        for s in samples
        for v in (s.get("system") or {}).get("oom_victims") or []
        if isinstance(v, dict)
    ]
    now = times[-1] if times else 0.0
    return MachineSnapshot(
        now=now,
        machine_pk=machine.pk if machine is not None else None,
        machine_id=machine.machine_id if machine is not None else "",
        os=os_name,
        platform=f"wsl{wsl_version}" if wsl_version in (1, 2) else os_name,
        mem_total_bytes=identity.get("mem_total_bytes")
        or (machine.mem_total_bytes if machine else None),
        cpu_count=identity.get("cpu_count"),
        team_min_gopls=team.min_gopls_version if team else "",
        overrides=team.detector_overrides if team else {},
        inventory={
            k: v for k, v in (payload.get("inventory") or {}).items() if k != "collected_at"
        },
        processes=processes,
        system=SystemSeries(t=np.array(times, float), series=_series(system_rows, SYSTEM_AGG)),
        oom_victims=victims,
        inotify_top=list((last.get("inotify") or {}).get("top") or []),
        drvfs_workspaces=list((last.get("wsl") or {}).get("workspaces_on_drvfs") or []),
        disks=disk_mounts(last),
        allow_profiles=False,
        alive_window_s=max(120.0, 3 * float(last.get("interval_s") or 15)),
        wsl_host_mem_bytes=float(host) if host else None,
        wsl_package_version=package or "",
    )
