"""Channel health: disable after a permanent error and tell the team through its others."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from apps.alerts.models import Channel, Notification


def disable_channel(channel: Channel, error: str, now: datetime) -> bool:
    """Disable once (compare-and-set); fail its pending rows; notify the team's other channels."""
    changed = Channel.objects.filter(pk=channel.pk, enabled=True).update(
        enabled=False, disabled_reason=error[:500], last_error=error[:500], last_error_at=now
    )
    if changed != 1:
        return False
    Notification.objects.filter(channel=channel, status=Notification.Status.PENDING).update(
        status=Notification.Status.FAILED, last_error="channel disabled"
    )
    from apps.alerts.outbox import queue_message

    # Named by its label, never its target: the notice goes to the whole team, and a personal
    # channel's URL (often holding a secret token) is its owner's business.
    context = {
        "title": f"Alert channel disabled: {channel.label}",
        "severity": "warning",
        "text": f"devfleet stopped sending to {channel.label} after a permanent error: {error}",
        "lines": ["Fix the target and enable the channel again in the dashboard."],
        "link": f"{settings.DEVFLEET_BASE_URL}/alerts/channels/{channel.pk}/",
    }
    others = Channel.objects.filter(team_id=channel.team_id, enabled=True, owner__isnull=True)
    for other in others.exclude(pk=channel.pk):
        queue_message(
            other, "channel_disabled", f"disabled:{channel.pk}:{now.timestamp()}", context, now
        )
    return True
