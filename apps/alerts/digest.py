"""Weekly digest per team: health trend, top findings, version regressions, by email."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.template.loader import render_to_string

from apps.alerts.models import Channel
from apps.alerts.outbox import queue_message
from apps.anomalies import fixes
from apps.anomalies.models import AppliedFix, Finding
from apps.fleet.models import GoplsProcess, Team

WEEK = timedelta(days=7)


def version_rates(team: Team, since: datetime, until: datetime) -> dict[str, float]:
    """Findings opened per machine, by the gopls version the machine ran."""
    version_of = dict(
        GoplsProcess.objects.filter(machine__team=team)
        .order_by("machine_id", "last_seen")
        .values_list("machine_id", "version")
    )
    machines = Counter(version_of.values())
    opened = Finding.objects.filter(
        machine__team=team, first_seen__gte=since, first_seen__lt=until
    ).values_list("machine_id", flat=True)
    found = Counter(version_of.get(m, "") for m in opened)
    return {v: found[v] / n for v, n in machines.items() if v and n}


def build_digest(team: Team, now: datetime) -> dict:
    """The figures of one team's week; pure reads."""
    week_ago, two_weeks_ago = now - WEEK, now - 2 * WEEK
    findings = Finding.objects.filter(machine__team=team)
    this_week = findings.filter(first_seen__gte=week_ago, first_seen__lt=now)
    last_week = findings.filter(first_seen__gte=two_weeks_ago, first_seen__lt=week_ago)
    machines = team.machines.filter(retired_at__isnull=True).count()
    unhealthy = findings.open().values("machine").distinct().count()
    top = list(
        this_week.values("rule_id", "title").annotate(n=Count("id")).order_by("-n", "rule_id")[:5]
    )
    now_rates, before = (
        version_rates(team, week_ago, now),
        version_rates(team, two_weeks_ago, week_ago),
    )
    regressions = sorted(
        (v, before.get(v, 0.0), rate)
        for v, rate in now_rates.items()
        if rate > before.get(v, 0.0) and rate > 0
    )
    fixed = fixes.counts(
        AppliedFix.objects.filter(machine__team=team, applied_at__gte=week_ago, applied_at__lt=now)
    )
    return {
        "team": team,
        "fixes_applied": fixed["applied"],
        "fixes_resolved": fixed["resolved"],
        "machines": machines,
        "healthy": machines - unhealthy,
        "opened": this_week.count(),
        "opened_before": last_week.count(),
        "resolved": findings.filter(resolved_at__gte=week_ago, resolved_at__lte=now).count(),
        "top": top,
        "regressions": regressions,
        "link": f"{settings.DEVFLEET_BASE_URL}/findings/?team={team.slug}",
    }


def send_digests(now: datetime) -> int:
    """Queue one digest per team email channel; the ISO week in the key makes reruns no-ops."""
    year, week, _ = now.isocalendar()
    queued = 0
    for team in Team.objects.all():
        channels = Channel.objects.filter(team=team, kind="email", enabled=True, owner__isnull=True)
        if not channels.exists():
            continue
        data = build_digest(team, now)
        lines = render_to_string("alerts/emails/digest.txt", data).strip().splitlines()
        context = {
            "title": f"Weekly devfleet digest for {team.name}",
            "severity": "info",
            "text": f"{data['healthy']} of {data['machines']} machines have no open findings.",
            "lines": lines,
            "link": data["link"],
        }
        for channel in channels:
            key = f"digest:{year}-W{week:02d}"
            queued += queue_message(channel, "digest", key, context, now) is not None
    return queued
