"""Version cohorts: gopls (and Go) versions with memory, CPU and latency spread; regressions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import OuterRef, Subquery

from apps.dashboard import charts
from apps.dashboard.filters import FleetFilter, alive_processes
from apps.dashboard.services.fleet import box_row, machines_url
from apps.dashboard.services.snapshots import load_snapshots
from apps.dashboard.stats import median, regressions, sorted_versions
from apps.fleet.models import Machine
from apps.metrics.models import GoplsSample

MIN_COHORT = 5  # processes per version before its median is compared
METRICS = (("rss", "bytes", "RSS"), ("cpu", "percent", "CPU"), ("latency", "ms", "completion p95"))


def _latency_by_process(now: datetime) -> dict[tuple[int, int], tuple[str, str, float | None]]:
    newest = (
        GoplsSample.objects.filter(process=OuterRef("pk"), completion_p95_ms__isnull=False)
        .order_by("-ts")
        .values("completion_p95_ms")[:1]
    )
    rows = (
        alive_processes(now)
        .annotate(p95=Subquery(newest))
        .values_list("machine_id", "pid", "version", "go_version", "p95")
    )
    return {(m, pid): (v, go, p95) for m, pid, v, go, p95 in rows}


def version_cohorts(now: datetime) -> dict:
    """Per gopls version: machines, processes, and the spread of RSS, CPU and latency."""
    facts = _latency_by_process(now)
    snaps = load_snapshots(Machine.objects.active(), now)
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    machines: dict[str, set[int]] = defaultdict(set)
    go_versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for s in snaps:
        for p in s.gopls:
            version, go, p95 = facts.get((s.pk, p.get("pid")), (p.get("version"), "", None))
            version = version or p.get("version") or "unknown"
            machines[version].add(s.pk)
            cohort = values[version]
            if isinstance(p.get("rss_bytes"), int):
                cohort["rss"].append(p["rss_bytes"])
                go_versions[(version, go or "unknown")].append(p["rss_bytes"])
            if isinstance(p.get("cpu_percent"), (int, float)):
                cohort["cpu"].append(p["cpu_percent"])
            if p95 is not None:
                cohort["latency"].append(p95)
    order = sorted_versions(machines)
    flt = FleetFilter()
    figures, flagged = {}, {}
    for key, unit, title in METRICS:
        medians = {v: median(values[v][key]) for v in order if values[v][key]}
        sizes = {v: len(values[v][key]) for v in order}
        worse = regressions(medians, sizes=sizes, min_size=MIN_COHORT)
        flagged[key] = worse
        rows = []
        for v in order:
            if not values[v][key]:
                continue
            row = box_row(v, values[v][key], machines_url(flt, version=v))
            if v in worse:
                prev, rise = worse[v]
                row["highlight"] = f"{v}: median {title} +{rise:.0%} vs {prev}"
            rows.append(row)
        figures[key] = charts.box_summary(rows, unit, title, horizontal=False) if rows else None
    table = [
        {
            "version": v,
            "machines": len(machines[v]),
            "processes": len(values[v]["rss"]),
            "url": machines_url(flt, version=v),
            **{f"median_{k}": median(values[v][k]) for k, _, _ in METRICS},
            "regressed": [title for k, _, title in METRICS if v in flagged[k]],
        }
        for v in reversed(order)
    ]
    go_rows = [
        {"gopls": g, "go": go, "processes": len(rss), "median_rss": median(rss)}
        for (g, go), rss in sorted(go_versions.items(), key=lambda kv: kv[0][0])
    ]
    return {"figures": figures, "table": table, "go_rows": go_rows}
