"""A project across the fleet: machines on it, spread of gopls memory and CPU, outliers, findings.

Aggregates (spread, outliers, versions, findings by rule) are fleet-level and shown to everyone;
machine names, links and finding details only for machines the viewer may open.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from urllib.parse import quote

from django.db.models import Count, Q
from django.urls import reverse

from apps.anomalies.advice import knowledge_base
from apps.anomalies.models import Finding
from apps.dashboard import charts
from apps.dashboard.services.facts import gopls_procs, with_gopls_rss
from apps.dashboard.services.findings import SEVERITIES, finding_list, findings_url
from apps.dashboard.services.fleet import visible_ids
from apps.dashboard.services.snapshots import load_snapshots
from apps.dashboard.services.visibility import large_enough, sees_everything, visible_projects
from apps.dashboard.stats import iqr_outliers, median, sorted_versions
from apps.fleet.models import Machine, Project

MAX_POINTS = 2000
TABLE_ROWS = 100
OUTLIER_ROWS = 20
FINDING_ROWS = 20
URL_SAFE = "!$&'()*+,;=/~:@"  # what reverse() leaves unquoted in a path
PLATFORMS = {"linux": "Linux", "darwin": "macOS", "windows": "Windows"}


def project_list(user) -> list[Project]:
    """Projects the user may see; for anyone but staff a machine count below MIN_GROUP is
    replaced by the count of the user's own machines on it."""
    projects = list(
        visible_projects(user)
        .annotate(n=Count("machines", filter=Q(machines__retired_at__isnull=True), distinct=True))
        .order_by("-n", "module_path")[:500]
    )
    if not sees_everything(user):
        small = [p.pk for p in projects if not large_enough(p.n)]
        mine = dict(
            Machine.objects.visible_to(user)
            .active()
            .filter(machineproject__project__in=small)
            .order_by()
            .values("machineproject__project")
            .annotate(n=Count("pk", distinct=True))
            .values_list("machineproject__project", "n")
        )
        for project in projects:
            if project.pk in small:
                project.n = mine.get(project.pk, 0)
        projects.sort(key=lambda p: (-p.n, p.module_path))
    return projects


def _platform(os_name: str, wsl: int | None) -> str:
    return f"WSL{wsl}" if wsl else PLATFORMS.get(os_name, os_name)


def project_findings(user, project: Project, now: datetime, machines=None) -> dict:
    """Open findings on the project's machines (or on `machines`): counts by rule for all,
    details if visible; for anyone but staff a rule on fewer than MIN_GROUP machines is left
    out of the counts unless every machine counted is the viewer's."""
    titles = {rid: e.data["title"] for rid, e in knowledge_base().items()}
    by_rule: dict[str, Counter] = defaultdict(Counter)
    on_project = Finding.objects.open().filter(
        machine__machineproject__project=project, machine__retired_at__isnull=True
    )
    if machines is not None:
        on_project = on_project.filter(machine__in=machines.values("pk"))
    for rule_id, severity, n in (
        on_project.order_by().values_list("rule_id", "severity").annotate(n=Count("pk"))
    ):
        by_rule[rule_id][severity] += n
    if machines is None and not sees_everything(user):
        spread = dict(
            on_project.order_by()
            .values("rule_id")
            .annotate(n=Count("machine_id", distinct=True))
            .values_list("rule_id", "n")
        )
        by_rule = {r: c for r, c in by_rule.items() if large_enough(spread.get(r))}
    order = sorted(
        by_rule,
        key=lambda r: (-by_rule[r]["critical"], -by_rule[r]["warning"], -sum(by_rule[r].values())),
    )
    rows = [
        {
            "rule": r,
            "title": titles.get(r, r),
            "counts": [
                (s, by_rule[r][s], findings_url(rule=r, severity=s, project=project.slug))
                for s in SEVERITIES
            ],
            "total": sum(by_rule[r].values()),
        }
        for r in order
    ]
    total = sum(r["total"] for r in rows)
    mine = finding_list(user, {"project": project.slug}, now)
    return {
        "rows": rows,
        "total": total,
        "visible": list(mine[:FINDING_ROWS]),
        "visible_count": total if visible_ids(user) is None else mine.count(),
        "url": findings_url(project=project.slug),
    }


def project_page(user, project: Project, now: datetime) -> dict:
    """The project across the fleet; for anyone but staff, a project on fewer than MIN_GROUP
    machines is shown over the viewer's own machines only, and smaller groups within it
    (versions, findings by rule) are left out."""
    machines = Machine.objects.active().filter(machineproject__project=project)
    small = not sees_everything(user) and not large_enough(machines.count())
    if small:
        machines = machines.filter(pk__in=Machine.objects.visible_to(user).values("pk"))
    per_machine: dict[int, list] = {}
    versions: Counter = Counter()
    version_machines: dict[str, set[int]] = defaultdict(set)
    for machine, version, _, _, _, rss, cpu, _ in gopls_procs(machines, project.module_path):
        row = per_machine.setdefault(machine, [0, 0.0])
        row[0] = max(row[0], rss or 0)
        row[1] += cpu or 0.0
        versions[version or "unknown"] += 1
        version_machines[version or "unknown"].add(machine)
    if not (small or sees_everything(user)):
        versions = Counter(
            {v: n for v, n in versions.items() if large_enough(len(version_machines[v]))}
        )
    outliers = iqr_outliers({str(pk): rss for pk, (rss, _) in per_machine.items()})
    allowed = visible_ids(user)
    heaviest = sorted(per_machine.items(), key=lambda kv: -kv[1][0])[:MAX_POINTS]
    # Every machine's name in one pass (a 2,000-value IN list costs more to build in Python).
    names = {
        pk: (mid, host or mid, _platform(os_name, wsl))
        for pk, mid, host, os_name, wsl in machines.order_by().values_list(
            "pk", "machine_id", "hostname", "os", "wsl_version"
        )
    }
    # One reverse() for all the links: 2,000 of them cost more than the queries.
    link = reverse("dashboard:machine", args=["-"])
    points = []
    for pk, (rss, cpu) in heaviest:
        mid, host, platform = names.get(pk, ("-", "", "?"))
        may_open = allowed is None or pk in allowed
        points.append(
            {
                "x": cpu,
                "y": rss,
                "outlier": str(pk) in outliers,
                "label": host if may_open else f"a {platform} machine",
                "url": link.replace("/-/", f"/{quote(mid, safe=URL_SAFE)}/") if may_open else None,
            }
        )
    visible = machines if allowed is None else machines.filter(pk__in=allowed & names.keys())
    table = list(
        with_gopls_rss(visible)
        .order_by("-gopls_rss", "hostname")
        .values_list("pk", flat=True)[:TABLE_ROWS]
    )
    shown_outliers = sorted(
        (int(pk) for pk in outliers if allowed is None or int(pk) in allowed),
        key=lambda pk: -per_machine[pk][0],
    )[:OUTLIER_ROWS]
    snaps = {
        s.pk: s for s in load_snapshots(Machine.objects.filter(pk__in=table + shown_outliers), now)
    }
    # Shown in the order of the column the table shows ("largest gopls first"): the largest
    # gopls of each machine, as its latest samples have it.
    shown = sorted(
        (snaps[pk] for pk in table if pk in snaps), key=lambda s: (-(s.max_rss or 0), s.hostname)
    )
    return {
        "machines": shown,
        "visible_count": len(names) if allowed is None else len(allowed & names.keys()),
        "machine_count": len(names),
        "active_count": len(per_machine),
        "outliers": [snaps[pk] for pk in shown_outliers if pk in snaps],
        "outlier_count": len(outliers),
        "median_rss": median([rss for rss, _ in per_machine.values()]),
        "median_cpu": median([cpu for _, cpu in per_machine.values()]),
        "versions": [(v, versions[v]) for v in sorted_versions(versions)],
        "scatter": charts.scatter_machines(
            points, "percent", "bytes", "gopls RSS vs CPU, one dot per machine"
        )
        if points
        else None,
        "findings": project_findings(user, project, now, machines if small else None),
    }
