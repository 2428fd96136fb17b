"""Routing selects recipients: which channels hear about a finding, and whether it is silenced.

Pure reads; apps/alerts/outbox.py writes the rows and queues their delivery.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from apps.alerts import conf
from apps.alerts.models import Channel, Notification, Route, Silence

RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


def routes_for(finding) -> list[Route]:
    machine = finding.machine
    project_ids = list(machine.projects.values_list("id", flat=True))
    routes = (
        Route.objects.filter(team_id=machine.team_id, enabled=True)
        .filter(Q(project__isnull=True) | Q(project_id__in=project_ids))
        .filter(Q(rule_id="") | Q(rule_id=finding.rule_id))
        .prefetch_related("channels")
    )
    return [r for r in routes if RANK.get(finding.severity, 0) >= RANK[r.min_severity]]


def channels_for(finding) -> dict[int, tuple[Channel, float]]:
    """Enabled channels for this finding → (channel, repeat hours); personal opt-ins included."""
    found: dict[int, tuple[Channel, float]] = {}
    default_repeat = conf.get("ALERTS_REPEAT_HOURS")
    for route in routes_for(finding):
        repeat = default_repeat if route.repeat_hours is None else route.repeat_hours
        for channel in route.channels.all():
            if channel.enabled and channel.owner_id is None:
                previous = found.get(channel.pk, (channel, 0.0))[1]
                found[channel.pk] = (channel, max(previous, repeat))
    # The confirmed owner only: an owner an agent named at enrollment is a pending claim
    # (Machine.claimed_owner) and hears nothing until confirmed (apps/fleet/ownership.py).
    owner_id = finding.machine.owner_id
    if owner_id:
        for channel in Channel.objects.filter(owner_id=owner_id, enabled=True):
            if RANK.get(finding.severity, 0) >= RANK[channel.min_severity]:
                found.setdefault(channel.pk, (channel, default_repeat))
    return found


def silenced_by(finding, now: datetime) -> Silence | None:
    machine = finding.machine
    project_ids = list(machine.projects.values_list("id", flat=True))
    return (
        Silence.objects.active(now)
        .filter(Q(team__isnull=True) | Q(team_id=machine.team_id))
        .filter(Q(machine__isnull=True) | Q(machine_id=machine.pk))
        .filter(Q(project__isnull=True) | Q(project_id__in=project_ids))
        .filter(Q(rule_id="") | Q(rule_id=finding.rule_id))
        .first()
    )


def recipients(finding, kind: str) -> dict[int, tuple[Channel, float]]:
    """The channels a message of this kind about this finding goes to: a resolution only to
    channels that were (or are about to be) told it opened."""
    targets = channels_for(finding)
    if kind != Notification.Kind.RESOLVED:
        return targets
    told = set(
        Notification.objects.filter(
            finding=finding, status__in=["sent", "grouped", "pending", "sending"]
        )
        .exclude(kind=Notification.Kind.RESOLVED)
        .values_list("channel_id", flat=True)
    )
    return {pk: v for pk, v in targets.items() if pk in told}
