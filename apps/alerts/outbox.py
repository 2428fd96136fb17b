"""The outbox: write notification rows (with the change they report) and queue their delivery.

Which channels hear about what is routing.py's job; this module only writes rows, each unique
by its dedupe key so a second writer (two evaluations, two beats) writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alerts import conf
from apps.alerts.models import Channel, Notification
from apps.alerts.routing import recipients, silenced_by

# Finding event kind → message kind; other events (ack, snooze, link, profile) send nothing.
EVENT_MESSAGES = {
    "opened": Notification.Kind.OPENED,
    "reopened": Notification.Kind.OPENED,
    "escalated": Notification.Kind.ESCALATED,
    "resolved": Notification.Kind.RESOLVED,
}


def _dispatch_on_commit(ids: list[int], countdown: int) -> None:
    from apps.alerts.tasks import dispatch

    transaction.on_commit(lambda: dispatch(ids, countdown))


def write_outbox(event) -> list[int]:
    """Write one pending row per channel for a finding event. Must run inside the transaction
    that recorded the event, so the row commits or rolls back with the finding's change.
    Idempotent: the (finding, event, channel) constraint refuses a second row.
    """
    kind = EVENT_MESSAGES.get(event.kind)
    if kind is None:
        return []
    finding = event.finding
    targets = recipients(finding, kind)
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
        _dispatch_on_commit(ids, int(wait.total_seconds()))
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
    _dispatch_on_commit([row.pk], 0)
    return row.pk


def queue_repeat(first: Notification, period: int, now: datetime) -> int | None:
    """A 'still open' row for the channel of a first message; period number in the key, so
    concurrent beats write it once. The reconciler dispatches it with the other due rows."""
    try:
        with transaction.atomic():
            row = Notification.objects.create(
                channel=first.channel,
                finding=first.finding,
                kind=Notification.Kind.REPEAT,
                dedupe_key=f"repeat:{first.finding_id}:{period}",
                rule_id=first.finding.rule_id,
                created_at=now,
                not_before=now,
            )
    except IntegrityError:
        return None
    return row.pk
