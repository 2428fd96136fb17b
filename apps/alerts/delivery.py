"""Deliver outbox rows: compare-and-set claim, group, rate-limit, send, record the outcome.

Protocol: a row goes pending → sending (claimed by exactly one worker) → sent. A worker that
dies after the send but before the commit leaves the row 'sending'; the reconciler hands it
back after ALERTS_SENDING_TIMEOUT_S and it is sent again with the same idempotency key, so
that crash window is the only source of a repeat and receivers can drop it by key.

Retries have one owner, this module: every claim counts an attempt; a transient failure
(or any unexpected error) sets the row's backoff (not_before) and the row fails for good
after ALERTS_MAX_ATTEMPTS, including rows whose worker keeps dying. Celery never retries.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from apps.alerts import conf
from apps.alerts.channels import disable_channel
from apps.alerts.models import Channel, DeliveryAttempt, Notification
from apps.alerts.render import render
from apps.alerts.transports import TransportError, transport_for

log = logging.getLogger(__name__)
S = Notification.Status


def deliver(notification_id: int, now: datetime | None = None) -> str:
    """Send one due pending row (and the storm it leads). Safe to call any number of times."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=S.PENDING, not_before__lte=now
    ).update(status=S.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return "skipped"
    row = Notification.objects.select_related("channel", "finding__machine").get(pk=notification_id)
    channel = row.channel
    reason = _pointless(row, now)
    if reason:
        _finish([row], S.SUPPRESSED, now, reason=reason)
        return "suppressed"
    if _over_rate(channel, now):
        Notification.objects.filter(pk=row.pk).update(
            status=S.PENDING, not_before=now + timedelta(seconds=60), attempts=F("attempts") - 1
        )
        return "rate_limited"
    members: list[Notification] = []
    try:
        members = _claim_storm(row, now)
        transport_for(channel).send(render(row, members))
    except TransportError as exc:
        return _failed(row, members, exc, now)
    except Exception as exc:  # a bug or a library's surprise: count it, never loop forever
        log.exception("delivering notification %s failed unexpectedly", row.pk)
        return _failed(row, members, TransportError(f"internal error ({type(exc).__name__})"), now)
    _finish([row], S.SENT, now)
    _finish(members, S.GROUPED, now)
    DeliveryAttempt.objects.create(notification=row, at=now, ok=True)
    Channel.objects.filter(pk=channel.pk).update(last_success_at=now)
    return "sent"


def _pointless(row: Notification, now: datetime) -> str:
    if not row.channel.enabled:
        return "channel disabled"
    finding = row.finding
    if finding is None:
        return ""
    if row.kind in ("repeat", "opened", "escalated") and finding.state != "open":
        return "finding resolved before sending"
    if row.kind == "repeat" and (finding.acknowledged_at or finding.is_snoozed):
        return "acknowledged or snoozed"
    if row.kind == "resolved":
        told = Notification.objects.filter(
            finding=finding, channel_id=row.channel_id, status__in=[S.SENT, S.GROUPED]
        ).exclude(kind="resolved")
        return "" if told.exists() else "never announced as open on this channel"
    root_id = finding.caused_by_id
    if root_id and row.kind != "resolved":
        root_told = Notification.objects.filter(
            finding_id=root_id,
            channel_id=row.channel_id,
            status__in=[S.PENDING, S.SENDING, S.SENT, S.GROUPED],
        ).exists()
        if root_told:
            return f"explained by root cause finding {root_id}"
    return ""


def _over_rate(channel: Channel, now: datetime) -> bool:
    recent = Notification.objects.filter(
        channel=channel, status=S.SENT, sent_at__gt=now - timedelta(seconds=60)
    ).count()
    return recent >= conf.get("ALERTS_RATE_PER_MINUTE")


def _claim_storm(row: Notification, now: datetime) -> list[Notification]:
    """Claim the other pending 'opened' rows of this rule on this channel in the storm window."""
    if row.kind != "opened":
        return []
    window = timedelta(seconds=conf.get("ALERTS_STORM_WINDOW_S"))
    candidates = (
        Notification.objects.filter(
            channel_id=row.channel_id,
            kind="opened",
            rule_id=row.rule_id,
            status=S.PENDING,
            created_at__gte=row.created_at - window,
            created_at__lte=row.created_at + window,
        )
        .exclude(pk=row.pk)
        .values_list("pk", flat=True)
    )
    members = []
    for pk in candidates:
        if Notification.objects.filter(pk=pk, status=S.PENDING).update(
            status=S.SENDING, claimed_at=now, group_leader=row
        ):
            members.append(pk)
    rows = Notification.objects.filter(pk__in=members).select_related("finding__machine")
    return [m for m in rows.order_by("id") if not _pointless(m, now)]


def _finish(rows: list[Notification], status: str, now: datetime, reason: str = "") -> None:
    if not rows:
        return
    fields = {"status": status, "reason": reason, "last_error": ""}
    if status in (S.SENT, S.GROUPED):
        fields["sent_at"] = now
    Notification.objects.filter(pk__in=[r.pk for r in rows]).update(**fields)


def _failed(row, members, exc: TransportError, now: datetime) -> str:
    error = exc.message[:500]
    DeliveryAttempt.objects.create(
        notification=row, at=now, ok=False, permanent=exc.permanent, error=error
    )
    Channel.objects.filter(pk=row.channel_id).update(last_error=error, last_error_at=now)
    everyone = [row, *members]
    if exc.permanent:
        Notification.objects.filter(pk__in=[r.pk for r in everyone]).update(
            status=S.FAILED, last_error=error
        )
        disable_channel(row.channel, error, now)
        return "failed"
    row.refresh_from_db(fields=["attempts"])
    if row.attempts >= conf.get("ALERTS_MAX_ATTEMPTS"):
        Notification.objects.filter(pk__in=[r.pk for r in everyone]).update(
            status=S.FAILED, last_error=f"gave up after {row.attempts} attempts: {error}"
        )
        return "failed"
    backoff = timedelta(seconds=min(5 * 2 ** (row.attempts - 1), 600))
    Notification.objects.filter(pk=row.pk).update(
        status=S.PENDING, last_error=error, not_before=now + backoff
    )
    Notification.objects.filter(pk__in=[m.pk for m in members]).update(
        status=S.PENDING, group_leader=None
    )
    return "retry"


def retry_delay(notification_id: int, now: datetime | None = None) -> int:
    """Seconds until a row waiting for its backoff is due again (0 when due or gone)."""
    due = (
        Notification.objects.filter(pk=notification_id, status=S.PENDING)
        .values_list("not_before", flat=True)
        .first()
    )
    if due is None:
        return 0
    return max(0, int((due - (now or timezone.now())).total_seconds()) + 1)


def release_stuck(now: datetime) -> int:
    """Rows left 'sending' by a worker that died go back to pending (same key), unless they
    have used up their attempts: a row that kills its worker every time ends as failed."""
    stale = now - timedelta(seconds=conf.get("ALERTS_SENDING_TIMEOUT_S"))
    stuck = Notification.objects.filter(status=S.SENDING, claimed_at__lt=stale)
    limit = conf.get("ALERTS_MAX_ATTEMPTS")
    stuck.filter(attempts__gte=limit).update(
        status=S.FAILED,
        group_leader=None,
        last_error=f"gave up after {limit} attempts: the sending worker did not finish",
    )
    return stuck.filter(attempts__lt=limit).update(status=S.PENDING, group_leader=None)


def due_ids(now: datetime, limit: int = 500) -> list[int]:
    return list(
        Notification.objects.filter(status=S.PENDING, not_before__lte=now)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def flush_outbox(now: datetime | None = None) -> dict[str, int]:
    """Deliver every due row in this process (reconciler, tests, the management command)."""
    now = now or timezone.now()
    release_stuck(now)
    counts: dict[str, int] = {}
    for pk in due_ids(now):
        outcome = deliver(pk, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
