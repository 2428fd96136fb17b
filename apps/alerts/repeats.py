"""Repeat messages every N hours while a finding stays open and unacknowledged."""

from __future__ import annotations

from datetime import datetime

from apps.alerts.models import Notification
from apps.alerts.outbox import queue_repeat
from apps.alerts.routing import silenced_by


def queue_repeats(now: datetime) -> list[int]:
    """One repeat row per (finding, channel, period). The period number is in the dedupe key,
    so concurrent runs (two beats) cannot write the same repeat twice.
    """
    firsts = Notification.objects.filter(
        kind="opened",
        status__in=["sent", "grouped"],
        finding__state="open",
        finding__acknowledged_at__isnull=True,
    ).select_related("finding__machine", "channel")
    ids = []
    for first in firsts:
        hours = float(first.context.get("repeat_hours") or 0)
        if hours <= 0 or first.sent_at is None or not first.channel.enabled:
            continue
        finding = first.finding
        if finding.is_snoozed or silenced_by(finding, now):
            continue
        period = int((now - first.sent_at).total_seconds() // (hours * 3600))
        if period < 1:
            continue
        pk = queue_repeat(first, period, now)
        if pk is not None:
            ids.append(pk)
    return ids
