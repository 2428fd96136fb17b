"""Celery tasks keeping rollups current and applying retention; thin wrappers over services."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.utils import timezone

from apps.fleet.recording import forget_lifetimes
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours, roll_up_raw

log = logging.getLogger(__name__)

# Samples normally arrive within a minute or two; the recurring pass re-rolls this much
# history so small delays are folded in. Older late arrivals get their own range task.
RECENT = timedelta(minutes=15)
LATE_AFTER = timedelta(minutes=10)


@shared_task
def roll_up_recent_task() -> None:
    now = timezone.now()
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)


@shared_task
def roll_up_range_task(machine_id: int, since: str, until: str) -> None:
    """Fold late samples of one machine (an agent draining its backlog) into the rollups."""
    start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
    roll_up_raw(start, end, machine_ids=[machine_id])
    roll_up_hours(start, end)


@shared_task
def prune_task() -> None:
    deleted = prune(timezone.now())
    if any(deleted.values()):
        forget_lifetimes()
    log.info("retention deleted %s", deleted)


def schedule_late_rollup(machine_pk: int, result) -> None:
    """After-ingest hook: queue a range roll-up when the new samples are older than usual."""
    if result.oldest_new_ts is None or timezone.now() - result.oldest_new_ts < LATE_AFTER:
        return
    roll_up_range_task.delay(
        machine_pk, result.oldest_new_ts.isoformat(), result.newest_new_ts.isoformat()
    )
