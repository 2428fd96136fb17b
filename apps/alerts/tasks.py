"""Celery tasks: thin wrappers taking IDs; the reconciler re-dispatches rows stuck pending."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from apps.alerts.delivery import deliver, due_ids, release_stuck, retry_delay
from apps.alerts.repeats import queue_repeats

log = logging.getLogger(__name__)


def dispatch(ids: list[int], countdown: int = 0) -> None:
    """Enqueue deliveries; a broker outage only delays them (the reconciler sends them)."""
    for pk in ids:
        try:
            deliver_notification_task.apply_async((pk,), countdown=countdown, retry=False)
        except Exception:  # broker down: the row stays pending and the reconciler finds it
            log.warning("could not enqueue notification %s; reconciler will", pk, exc_info=True)


@shared_task(acks_late=True)
def deliver_notification_task(notification_id: int) -> str:
    """One attempt. A transient failure is not retried by Celery: the outbox has set the row's
    backoff and attempt count, and this only wakes the row when it is due (the reconciler
    would find it too; the claim makes a double wake-up harmless)."""
    outcome = deliver(notification_id)
    if outcome == "retry":
        dispatch([notification_id], retry_delay(notification_id))
    return outcome


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
