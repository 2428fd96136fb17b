"""Periodic fleet tasks."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.fleet.models import ServiceHeartbeat


@shared_task
def record_heartbeat_task() -> None:
    """Beat → worker round trip; the admin and health endpoint show when it last ran."""
    ServiceHeartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})
