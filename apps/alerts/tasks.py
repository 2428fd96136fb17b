"""Celery tasks: thin wrappers taking IDs; the reconciler re-dispatches rows stuck pending."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from apps.alerts.delivery import TransientDeliveryError, deliver, due_ids, release_stuck
from apps.alerts.repeats import queue_repeats

log = logging.getLogger(__name__)


def dispatch(ids: list[int], countdown: int = 0) -> None:
    """Enqueue deliveries; a broker outage only delays them (the reconciler sends them)."""
    for pk in ids:
        try:
            deliver_notification_task.apply_async((pk,), countdown=countdown, retry=False)
        except Exception:  # broker down: the row stays pending and the reconciler finds it
            log.warning("could not enqueue notification %s; reconciler will", pk, exc_info=True)


@shared_task(
    autoretry_for=(TransientDeliveryError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def deliver_notification_task(notification_id: int) -> str:
    return deliver(notification_id)


@shared_task
def reconcile_outbox_task() -> int:
    """Beat: hand back rows of dead workers, queue repeats, re-dispatch every due row."""
    now = timezone.now()
    release_stuck(now)
    queue_repeats(now)
    ids = due_ids(now)
    dispatch(ids)
    return len(ids)


@shared_task
def send_weekly_digest_task() -> int:
    from apps.alerts.digest import send_digests

    return send_digests(timezone.now())
