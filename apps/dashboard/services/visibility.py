"""What a person may see of the fleet beyond the machines they may open: one rule, held here.

Platform staff see everything. Anyone else (a developer, a team lead) sees:
- machines they may open (`Machine.objects.visible_to`: confirmed owner, or lead of the team),
  with their findings, charts and inventory;
- a project only when one of those machines works on it (any other project is a 404, and is
  left out of the project list and the filter choices);
- aggregates over groups of machines (counts, medians, versions, findings by rule) only when
  the group holds at least MIN_GROUP machines. A smaller group is left out (a row), or the page
  shows the same aggregates computed over the viewer's own machines (a whole page).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from apps.dashboard import charts
from apps.fleet.models import Machine, Membership, Project, Team

MIN_GROUP = 5


def sees_everything(user) -> bool:
    return bool(user.is_staff or user.is_superuser)


def large_enough(machines: int | None) -> bool:
    return machines is not None and machines >= MIN_GROUP


def visible_projects(user) -> QuerySet[Project]:
    """Projects one of the user's visible, active machines works on (every project for staff)."""
    return Project.objects.visible_to(user)


def project_for(user, slug: str) -> Project:
    """The project page's project, or Http404 when the user may not see it."""
    project = visible_projects(user).filter(slug=slug).first()
    if project is None:
        raise Http404("no such project")
    return project


def visible_teams(user) -> QuerySet[Team]:
    """Teams of the user's visible machines and teams they belong to (all for staff)."""
    if sees_everything(user):
        return Team.objects.all()
    mine = Machine.objects.visible_to(user).values("team_id")
    member = Membership.objects.filter(user=user).values("team_id")
    return Team.objects.filter(Q(pk__in=mine) | Q(pk__in=member))


def redact_overview(result: dict) -> dict:
    """The fleet overview's aggregates without rows of fewer than MIN_GROUP machines (for a
    fleet, or filtered set, of at least MIN_GROUP machines); charts rebuilt from what is left."""
    result = dict(result)
    health = dict(result["health"])
    teams = [r for r in health.get("team_rows", []) if large_enough(sum(r["counts"].values()))]
    health["team_rows"] = teams
    health["team_chart"] = charts.health_by_team(teams)
    result["health"] = health
    versions = [r for r in result["versions"]["rows"] if large_enough(r["machines"])]
    result["versions"] = {"rows": versions, "chart": charts.version_adoption(versions)}
    projects = [r for r in result["projects"]["rows"] if large_enough(r.get("machines"))]
    result["projects"] = {
        "rows": projects,
        "chart": charts.box_summary(projects, "bytes") if projects else None,
    }
    findings = dict(result["findings"])
    rows = [r for r in findings["rows"] if large_enough(r.get("machines"))]
    findings["rows"] = rows
    findings["total"] = sum(sum(r["counts"].values()) for r in rows)
    findings["by_rule_chart"] = charts.findings_by_rule(rows) if rows else None
    result["findings"] = findings
    return result


def filter_options_for(user, options: dict, now: datetime) -> dict:
    """The filter bar's choices, as far as the user may know of them: their teams and
    projects, and editors and versions that run on one of their machines or on >= 5."""
    if sees_everything(user):
        return options
    from apps.dashboard.filters import alive_processes

    alive = alive_processes(now).order_by()
    mine = alive.filter(machine__in=Machine.objects.visible_to(user).values("pk"))

    def common(field: str) -> set[str]:
        own = set(mine.values_list(field, flat=True).distinct())
        many = (
            alive.values(field)
            .annotate(n=Count("machine_id", distinct=True))
            .filter(n__gte=MIN_GROUP)
            .values_list(field, flat=True)
        )
        return own | set(many)

    editors, versions = common("editor"), common("version")
    return {
        "teams": list(visible_teams(user).values_list("slug", "name")),
        "projects": list(
            visible_projects(user).order_by("module_path").values_list("slug", "module_path")[:500]
        ),
        "editors": [e for e in options["editors"] if e in editors],
        "versions": [v for v in options["versions"] if v in versions],
    }
