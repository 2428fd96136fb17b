"""Fleet overview: health by team, version adoption, memory per project, top offenders.

Everything is counted in SQL on the stored health level (`Machine.health`) and the running
gopls rows of `facts.gopls_procs`; only the ten machines shown as offenders are loaded whole.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.urls import reverse

from apps.anomalies.health import LEVELS
from apps.dashboard import charts
from apps.dashboard.constants import TOP_OFFENDERS, TOP_PROJECTS
from apps.dashboard.filters import FleetFilter, alive_processes
from apps.dashboard.services import visibility
from apps.dashboard.services.facts import (
    EDITOR,
    RSS,
    VERSION,
    Proc,
    gopls_procs,
    offline_q,
    with_gopls_rss,
    with_level,
)
from apps.dashboard.services.findings import fleet_findings
from apps.dashboard.services.snapshots import Snapshot, load_snapshots
from apps.dashboard.stats import median, quantiles, sorted_versions
from apps.fleet.models import Machine, Project, Team

FLEET_CACHE_S = 30


def machines_url(flt: FleetFilter, **changes) -> str:
    query = flt.query(**changes)
    return reverse("dashboard:machine-list") + (f"?{query}" if query else "")


def visible_ids(user) -> set[int] | None:
    """Machine pks this user may open; None means all of them (platform staff)."""
    if user.is_staff or user.is_superuser:
        return None
    return set(Machine.objects.visible_to(user).values_list("pk", flat=True))


def box_row(label: str, values: list[float], url: str | None) -> dict:
    lo, q1, mid, q3, hi = quantiles(values, (0, 0.25, 0.5, 0.75, 1))
    return {
        "label": label,
        "n": len(values),
        "url": url,
        "q1": q1,
        "median": mid,
        "q3": q3,
        "lo": lo,
        "hi": hi,
    }


def filter_options(now: datetime, procs: list[Proc] | None = None) -> dict:
    """Choices of the filter bar; editors and versions from `procs` (the whole fleet's running
    gopls, when the caller has them already) or from the gopls lifetimes seen recently."""
    if procs is None:
        alive = alive_processes(now).order_by()
        editors = set(alive.exclude(editor="").values_list("editor", flat=True).distinct())
        versions = set(alive.exclude(version="").values_list("version", flat=True).distinct())
    else:
        editors = {p[EDITOR] for p in procs if p[EDITOR]}
        versions = {p[VERSION] for p in procs if p[VERSION]}
    return {
        "teams": list(Team.objects.values_list("slug", "name")),
        "projects": list(
            Project.objects.order_by("module_path").values_list("slug", "module_path")[:500]
        ),
        "editors": sorted(editors),
        "versions": sorted_versions(versions),
    }


def filtered(flt: FleetFilter, now: datetime, base: QuerySet[Machine] | None = None):
    """Active machines matching the filter, health included (evaluated in SQL)."""
    qs = flt.apply(base if base is not None else Machine.objects.active(), now)
    if flt.health:
        qs = with_level(qs, now).filter(level=flt.health)
    return qs


def health_section(machines: QuerySet[Machine], flt: FleetFilter, now: datetime) -> dict:
    counts = (
        with_level(machines, now)
        .order_by()
        .values("team__name", "team__slug", "level")
        .annotate(n=Count("pk"))
    )
    by_team: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for row in counts:
        by_team[(row["team__name"], row["team__slug"])][row["level"]] = row["n"]
        totals[row["level"]] += row["n"]
    rows = [
        {
            "team": name,
            "counts": per_level,
            "urls": {lvl: machines_url(flt, team=slug, health=lvl) for lvl in LEVELS},
        }
        for (name, slug), per_level in sorted(by_team.items())
    ]
    tiles = [
        {"level": lvl, "count": totals.get(lvl, 0), "url": machines_url(flt, health=lvl)}
        for lvl in ("critical", "warning", "ok", "offline")
    ]
    return {
        "tiles": tiles,
        "total": sum(totals.values()),
        "team_rows": rows,
        "team_chart": charts.health_by_team(rows),
    }


def version_section(procs: list[Proc], flt: FleetFilter) -> dict:
    machines: dict[str, set[int]] = defaultdict(set)
    rss: dict[str, list[float]] = defaultdict(list)
    for machine, version, _, _, _, size, _, _ in procs:
        version = version or "unknown"
        machines[version].add(machine)
        if size is not None:
            rss[version].append(size)
    rows = [
        {
            "version": v,
            "machines": len(machines[v]),
            "median_rss": median(rss[v]),
            "url": machines_url(flt, version=v) if v != "unknown" else None,
        }
        for v in sorted_versions(machines)
    ]
    return {"rows": rows, "chart": charts.version_adoption(rows)}


def project_section(procs: list[Proc]) -> dict:
    rss: dict[str, list[float]] = defaultdict(list)
    machines: dict[str, set[int]] = defaultdict(set)
    for machine, _, _, project, _, size, _, _ in procs:
        if project and size is not None:
            rss[project].append(size)
            machines[project].add(machine)
    top = sorted(rss, key=lambda m: (-len(rss[m]), m))[:TOP_PROJECTS]
    slugs = dict(Project.objects.filter(module_path__in=top).values_list("module_path", "slug"))
    rows = [
        {
            **box_row(
                module,
                rss[module],
                reverse("dashboard:project", args=[slugs[module]]) if module in slugs else None,
            ),
            "machines": len(machines[module]),
        }
        for module in top
    ]
    rows.sort(key=lambda r: -r["median"])
    return {"rows": rows, "chart": charts.box_summary(rows, "bytes") if rows else None}


def offenders(machines: QuerySet[Machine], now: datetime) -> list[Snapshot]:
    """The worst machines of a queryset: critical, then warning, then largest gopls.

    Level by level (on the indexed stored level), so that only the critical machines are
    ranked by gopls size when there are enough of them."""
    pks: list[int] = []
    for level in ("critical", "warning"):
        worst = with_gopls_rss(machines.filter(health=level).exclude(offline_q(now)))
        pks += worst.order_by("-gopls_rss", "hostname", "pk").values_list("pk", flat=True)[
            : TOP_OFFENDERS - len(pks)
        ]
        if len(pks) >= TOP_OFFENDERS:
            break
    snaps = {s.pk: s for s in load_snapshots(Machine.objects.filter(pk__in=pks), now)}
    return [snaps[pk] for pk in pks if pk in snaps]


def fleet_aggregates(
    flt: FleetFilter, now: datetime, base: QuerySet[Machine] | None = None
) -> dict:
    """The user-independent part of the overview, cached for FLEET_CACHE_S seconds.

    Every user sees the same fleet-level aggregates for the same filters. The cache only
    spares repeated work: a miss costs a few GROUP BY queries, not a pass over every machine.
    With `base` (one viewer's own machines), the same aggregates over those only, uncached.
    """
    key = "dashboard:fleet:v3:" + hashlib.sha256(flt.query().encode()).hexdigest()
    cached = cache.get(key) if base is None else None
    if cached is not None:
        return cached
    active = Machine.objects.active() if base is None else base
    everything = flt.with_(health="").apply(active, now)
    machines = filtered(flt, now, active)
    procs = gopls_procs(machines, lean=True)
    result = {
        # The health tiles always count every level; the other sections honour the filter.
        "health": health_section(everything, flt, now),
        "versions": version_section(procs, flt),
        "projects": project_section(procs),
        "worst": offenders(machines, now),
        "findings": fleet_findings(machines, now),
        # Unfiltered, the rows read above are the whole fleet: no second pass for the choices.
        "options": filter_options(now, None if flt.active else procs),
        "gopls_running": len(procs),
        "median_rss": median([p[RSS] for p in procs if p[RSS] is not None]),
    }
    if base is None:
        cache.set(key, result, getattr(settings, "DASHBOARD_FLEET_CACHE_S", FLEET_CACHE_S))
    return result


def fleet_overview(user, flt: FleetFilter, now: datetime) -> dict:
    """Everything the overview shows; machine rows only visible ones, and for anyone but staff
    fleet aggregates only over groups of at least visibility.MIN_GROUP machines."""
    result = dict(fleet_aggregates(flt, now))
    if visibility.sees_everything(user):
        result["offenders"] = result["worst"]
        return result
    mine = Machine.objects.visible_to(user).active()
    if visibility.large_enough(result["health"]["total"]):
        result = visibility.redact_overview(result)
    else:  # too few machines to hide among: the same page over the viewer's own machines
        result = dict(fleet_aggregates(flt, now, base=mine))
    result["options"] = visibility.filter_options_for(user, result["options"], now)
    result["offenders"] = offenders(filtered(flt, now, mine), now)
    return result
