"""Fleet overview: health by team, version adoption, memory per project, top offenders."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from apps.dashboard import charts
from apps.dashboard.constants import TOP_OFFENDERS, TOP_PROJECTS
from apps.dashboard.filters import FleetFilter, alive_processes
from apps.anomalies.health import LEVELS
from apps.dashboard.services.findings import fleet_findings
from apps.dashboard.services.snapshots import Snapshot, load_snapshots
from apps.dashboard.stats import median, quantile, sorted_versions
from apps.fleet.models import Machine, Project, Team

FLEET_CACHE_S = 30
_RANK = {"critical": 0, "warning": 1, "offline": 2, "ok": 3}


def machines_url(flt: FleetFilter, **changes) -> str:
    query = flt.query(**changes)
    return reverse("dashboard:machine-list") + (f"?{query}" if query else "")


def visible_ids(user) -> set[int] | None:
    """Machine pks this user may open; None means all of them (platform staff)."""
    if user.is_staff or user.is_superuser:
        return None
    return set(Machine.objects.visible_to(user).values_list("pk", flat=True))


def box_row(label: str, values: list[float], url: str | None) -> dict:
    return {
        "label": label,
        "n": len(values),
        "url": url,
        "q1": quantile(values, 0.25),
        "median": quantile(values, 0.5),
        "q3": quantile(values, 0.75),
        "lo": min(values),
        "hi": max(values),
    }


def filter_options(now: datetime) -> dict:
    procs = alive_processes(now)
    return {
        "teams": list(Team.objects.values_list("slug", "name")),
        "projects": list(
            Project.objects.order_by("module_path").values_list("slug", "module_path")[:500]
        ),
        "editors": sorted(set(procs.exclude(editor="").values_list("editor", flat=True))),
        "versions": sorted_versions(procs.exclude(version="").values_list("version", flat=True)),
    }


def health_section(snaps: list[Snapshot], flt: FleetFilter) -> dict:
    totals = Counter(s.health.level for s in snaps)
    by_team: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for s in snaps:
        by_team[(s.team, s.team_slug)][s.health.level] += 1
    rows = [
        {
            "team": name,
            "counts": dict(counts),
            "urls": {lvl: machines_url(flt, team=slug, health=lvl) for lvl in LEVELS},
        }
        for (name, slug), counts in sorted(by_team.items())
    ]
    tiles = [
        {"level": lvl, "count": totals.get(lvl, 0), "url": machines_url(flt, health=lvl)}
        for lvl in ("critical", "warning", "ok", "offline")
    ]
    return {"tiles": tiles, "total": len(snaps), "team_chart": charts.health_by_team(rows)}


def version_section(snaps: list[Snapshot], flt: FleetFilter) -> dict:
    machines: dict[str, set[int]] = defaultdict(set)
    rss: dict[str, list[int]] = defaultdict(list)
    for s in snaps:
        for p in s.gopls:
            version = p.get("version") or "unknown"
            machines[version].add(s.pk)
            if isinstance(p.get("rss_bytes"), int):
                rss[version].append(p["rss_bytes"])
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


def project_section(snaps: list[Snapshot]) -> dict:
    rss: dict[str, list[int]] = defaultdict(list)
    for s in snaps:
        for p in s.gopls:
            if p.get("project") and isinstance(p.get("rss_bytes"), int):
                rss[p["project"]].append(p["rss_bytes"])
    top = sorted(rss, key=lambda m: (-len(rss[m]), m))[:TOP_PROJECTS]
    slugs = dict(Project.objects.filter(module_path__in=top).values_list("module_path", "slug"))
    rows = [
        box_row(
            module,
            rss[module],
            reverse("dashboard:project", args=[slugs[module]]) if module in slugs else None,
        )
        for module in top
    ]
    rows.sort(key=lambda r: -r["median"])
    return {"rows": rows, "chart": charts.box_summary(rows, "bytes") if rows else None}


def offenders(snaps: list[Snapshot], allowed: set[int] | None) -> list[Snapshot]:
    """The worst machines this user may open: by health level, then largest gopls."""
    mine = [s for s in snaps if allowed is None or s.pk in allowed]
    bad = [s for s in mine if s.health.level in ("critical", "warning")]
    bad.sort(key=lambda s: (_RANK[s.health.level], -s.max_rss))
    return bad[:TOP_OFFENDERS]


def fleet_aggregates(flt: FleetFilter, now: datetime) -> dict:
    """The user-independent part of the overview, cached for FLEET_CACHE_S seconds.

    Every user sees the same fleet-level aggregates for the same filters, so one computation
    serves everyone; the worst machines are kept so staff offenders need no second pass.
    """
    key = "dashboard:fleet:" + hashlib.sha256(flt.query().encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    machines = flt.apply(Machine.objects.active(), now)
    everything = load_snapshots(machines, now)
    # The health tiles always count every level; the other sections honour the health filter.
    snaps = [s for s in everything if not flt.health or s.health.level == flt.health]
    result = {
        "health": health_section(everything, flt),
        "versions": version_section(snaps, flt),
        "projects": project_section(snaps),
        "worst": offenders(snaps, None),
        # (pk, level, gopls RSS) of every machine, worst first: the machine list's ranking.
        "ranked": [
            (s.pk, s.health.level, s.max_rss)
            for s in sorted(
                everything, key=lambda s: (_RANK[s.health.level], -s.max_rss, s.hostname)
            )
        ],
        "findings": fleet_findings(machines, now),
        "options": filter_options(now),
        "gopls_running": sum(len(s.gopls) for s in snaps),
        "median_rss": median(
            [p["rss_bytes"] for s in snaps for p in s.gopls if isinstance(p.get("rss_bytes"), int)]
        ),
    }
    cache.set(key, result, getattr(settings, "DASHBOARD_FLEET_CACHE_S", FLEET_CACHE_S))
    return result


def fleet_overview(user, flt: FleetFilter, now: datetime) -> dict:
    """Everything the overview shows; aggregates are fleet-wide, machine rows only visible ones."""
    result = dict(fleet_aggregates(flt, now))
    if user.is_staff or user.is_superuser:
        result["offenders"] = result["worst"]
    else:
        mine = flt.apply(Machine.objects.visible_to(user).active(), now)
        snaps = [
            s for s in load_snapshots(mine, now) if not flt.health or s.health.level == flt.health
        ]
        result["offenders"] = offenders(snaps, None)
    return result
