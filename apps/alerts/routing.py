"""Outbox writing: which channels hear about a finding event, inside the event's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.alerts import conf
from apps.alerts.models import Channel, Notification, Route, Silence

RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
# Finding event kind → message kind; other events (ack, snooze, link, profile) send nothing.
EVENT_MESSAGES = {
    "opened": Notification.Kind.OPENED,
    "reopened": Notification.Kind.OPENED,
    "escalated": Notification.Kind.ESCALATED,
    "resolved": Notification.Kind.RESOLVED,
}


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


def write_outbox(event) -> list[int]:
    """Write one pending row per channel for a finding event. Must run inside the transaction
    that recorded the event, so the row commits or rolls back with the finding's change.
    Idempotent: the (finding, event, channel) constraint refuses a second row.
    """
    kind = EVENT_MESSAGES.get(event.kind)
    if kind is None:
        return []
    finding = event.finding
    targets = channels_for(finding)
    if kind == Notification.Kind.RESOLVED:
        told = set(
            Notification.objects.filter(
                finding=finding, status__in=["sent", "grouped", "pending", "sending"]
            )
            .exclude(kind=Notification.Kind.RESOLVED)
            .values_list("channel_id", flat=True)
        )
        targets = {pk: v for pk, v in targets.items() if pk in told}
    silence = silenced_by(finding, event.at) if kind != Notification.Kind.RESOLVED else None
    wait = timedelta(seconds=conf.get("ALERTS_GROUP_WAIT_S") if kind == "opened" else 0)
    ids = []
    for channel, repeat in targets.values():
        row = Notification(
            channel=channel,
            finding=finding,
            event=event,
            kind=kind,
            dedupe_key=f"event:{event.pk}",
            rule_id=finding.rule_id,
            context={"repeat_hours": repeat},
            created_at=event.at,
            not_before=event.at + wait,
        )
        if silence is not None:
            row.status, row.reason = Notification.Status.SUPPRESSED, f"silenced: {silence}"
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            continue
        if silence is None:
            ids.append(row.pk)
    if ids:
        from apps.alerts.tasks import dispatch

        transaction.on_commit(lambda: dispatch(ids, int(wait.total_seconds())))
    return ids


def queue_message(
    channel: Channel, kind: str, dedupe_key: str, context: dict, now: datetime | None = None
) -> int | None:
    """An outbox row not tied to a finding event (test message, channel disabled notice)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            row = Notification.objects.create(
                channel=channel,
                kind=kind,
                dedupe_key=dedupe_key,
                context=context,
                created_at=now,
                not_before=now,
            )
    except IntegrityError:
        return None
    from apps.alerts.tasks import dispatch

    transaction.on_commit(lambda: dispatch([row.pk], 0))
    return row.pk
