"""A project across the fleet: machines on it, spread of gopls memory and CPU, outliers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db.models import Count, Q
from django.urls import reverse

from apps.dashboard import charts
from apps.dashboard.services.fleet import visible_ids
from apps.dashboard.services.snapshots import load_snapshots
from apps.dashboard.stats import iqr_outliers, median, sorted_versions
from apps.fleet.models import Machine, Project

MAX_POINTS = 2000
TABLE_ROWS = 100


def project_list() -> list[Project]:
    return list(
        Project.objects.annotate(
            n=Count("machines", filter=Q(machines__retired_at__isnull=True), distinct=True)
        ).order_by("-n", "module_path")[:500]
    )


def project_page(user, project: Project, now: datetime) -> dict:
    snaps = load_snapshots(Machine.objects.active().filter(machineproject__project=project), now)
    allowed = visible_ids(user)
    per_machine = {}
    versions: Counter = Counter()
    for s in snaps:
        procs = [p for p in s.gopls if p.get("project") == project.module_path]
        if not procs:
            continue
        rss = max((p.get("rss_bytes") or 0) for p in procs)
        cpu = sum((p.get("cpu_percent") or 0.0) for p in procs)
        per_machine[s.pk] = (s, rss, cpu)
        versions.update(p.get("version") or "unknown" for p in procs)
    outliers = iqr_outliers({str(pk): rss for pk, (_, rss, _) in per_machine.items()})
    points = []
    for pk, (s, rss, cpu) in sorted(per_machine.items(), key=lambda kv: -kv[1][1])[:MAX_POINTS]:
        may_open = allowed is None or pk in allowed
        points.append(
            {
                "x": cpu,
                "y": rss,
                "outlier": str(pk) in outliers,
                "label": s.hostname if may_open else f"a {s.platform} machine",
                "url": reverse("dashboard:machine", args=[s.machine_id]) if may_open else None,
            }
        )
    visible = [s for s in snaps if allowed is None or s.pk in allowed]
    visible.sort(key=lambda s: -s.max_rss)
    return {
        "machines": visible[:TABLE_ROWS],
        "visible_count": len(visible),
        "machine_count": len(snaps),
        "active_count": len(per_machine),
        "outliers": [
            per_machine[int(pk)][0] for pk in outliers if allowed is None or int(pk) in allowed
        ],
        "outlier_count": len(outliers),
        "median_rss": median([rss for _, rss, _ in per_machine.values()]),
        "median_cpu": median([cpu for _, _, cpu in per_machine.values()]),
        "versions": [(v, versions[v]) for v in sorted_versions(versions)],
        "scatter": charts.scatter_machines(
            points, "percent", "bytes", "gopls RSS vs CPU, one dot per machine"
        )
        if points
        else None,
    }
