"""Version cohorts: gopls (and Go) versions with memory, CPU and latency spread; regressions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from apps.dashboard import charts
from apps.dashboard.filters import FleetFilter
from apps.dashboard.services.facts import gopls_procs
from apps.dashboard.services.fleet import box_row, machines_url
from apps.dashboard.stats import median, regressions, sorted_versions
from apps.fleet.models import Machine

MIN_COHORT = 5  # processes per version before its median is compared
METRICS = (("rss", "bytes", "RSS"), ("cpu", "percent", "CPU"), ("latency", "ms", "completion p95"))


def version_cohorts(now: datetime, min_machines: int = 0) -> dict:
    """Per gopls version: machines, processes, and the spread of RSS, CPU and latency.

    Read from each machine's newest-sample summary (one SQL query over `latest`), never from
    raw samples, so the page costs the same for a day or a month of history. Versions (and
    gopls/Go pairs) on fewer than `min_machines` machines are left out (see visibility).
    """
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    machines: dict[str, set[int]] = defaultdict(set)
    go_versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    go_machines: dict[tuple[str, str], set[int]] = defaultdict(set)
    for machine, version, go, _, _, rss, cpu, p95 in gopls_procs(Machine.objects.active()):
        version = version or "unknown"
        machines[version].add(machine)
        cohort = values[version]
        if rss is not None:
            cohort["rss"].append(rss)
            go_versions[(version, go or "unknown")].append(rss)
            go_machines[(version, go or "unknown")].add(machine)
        if cpu is not None:
            cohort["cpu"].append(cpu)
        if p95 is not None:
            cohort["latency"].append(p95)
    order = [v for v in sorted_versions(machines) if len(machines[v]) >= min_machines]
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
        if len(go_machines[(g, go)]) >= min_machines
    ]
    return {"figures": figures, "table": table, "go_rows": go_rows}
