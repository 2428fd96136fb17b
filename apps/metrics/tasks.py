"""Celery tasks keeping rollups current and applying retention; thin wrappers over services."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from apps.fleet.recording import forget_lifetimes
from apps.metrics import pending
from apps.metrics.chunks.maintain import run_compaction
from apps.metrics.chunks.rollup_store import compact_rollups
from apps.metrics.counters import count_upload
from apps.metrics.partitions import ensure_partitions
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours, roll_up_raw

log = logging.getLogger(__name__)

# Samples normally arrive within a minute or two; the recurring pass re-rolls this much
# history so small delays are folded in. Older late arrivals get their own range task.
RECENT = timedelta(minutes=15)
LATE_AFTER = timedelta(minutes=10)
LATE_COALESCE_S = 30
# A range task not done this long after it was queued was lost (a worker killed while holding
# its countdown message); the minute pass queues it again (rolling up twice is harmless).
LOST_AFTER = timedelta(minutes=5)
_TRANSIENT = (OperationalError, InterfaceError)


@shared_task
def roll_up_recent_task() -> None:
    now = timezone.now()
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)
    requeue_lost_late_rollups(now)


def requeue_lost_late_rollups(now) -> int:
    """Queue the pending range of every machine whose range task is overdue; returns how many.

    The ranges live in the database (`PendingRollup`), so a crashed worker, a restarted
    Redis or a per-process cache cannot lose them; this pass only re-sends the task."""
    count = 0
    for machine_pk in pending.lost(now, LOST_AFTER):
        roll_up_late_task.apply_async((machine_pk,))
        count += 1
    if count:
        log.info("queued %d late rollup ranges whose task was lost", count)
    return count


@shared_task
def compact_task() -> None:
    done = run_compaction(timezone.now())
    if done["hours"]:
        log.info("compacted %s", done)


@shared_task
def compact_rollups_task() -> None:
    done = compact_rollups(timezone.now())
    if done["periods"]:
        log.info("compacted rollups %s", done)


@shared_task
def ensure_partitions_task() -> None:
    created = ensure_partitions(timezone.now().date())
    if created:
        log.info("created partitions %s", created)


@shared_task
def prune_task() -> None:
    deleted = prune(timezone.now())
    if any(deleted.values()):
        forget_lifetimes()
    log.info("retention deleted %s", deleted)


def count_ingest(machine_pk: int, result, **kwargs) -> None:
    """report_stored receiver: feed the throughput counters the /metrics endpoint exports."""
    count_upload(result.accepted)


def schedule_late_rollup(machine_pk: int, result, **kwargs) -> None:
    """report_stored receiver: fold samples older than usual into the rollups, coalesced.

    An agent draining a backlog sends many late uploads in a row; their time ranges are merged
    into the machine's pending range in the database, and one range task per machine runs
    LATE_COALESCE_S later for all of them.
    """
    if result.oldest_new_ts is None or timezone.now() - result.oldest_new_ts < LATE_AFTER:
        return
    now = timezone.now()
    if pending.merge_pending(machine_pk, result.oldest_new_ts, result.newest_new_ts, now):
        roll_up_late_task.apply_async((machine_pk,), countdown=LATE_COALESCE_S)


@shared_task(bind=True, max_retries=8, acks_late=True)
def roll_up_late_task(self, machine_id: int, lo: str | None = None, hi: str | None = None):
    """Roll up one machine's pending range. Idempotent. The range is forgotten only once
    rolled up; one that grew meanwhile is queued again, and a database error retries.
    (lo/hi: messages queued by older versions carried their range; it is merged first.)"""
    try:
        if lo and hi:
            pending.merge_pending(
                machine_id, datetime.fromisoformat(lo), datetime.fromisoformat(hi), timezone.now()
            )
        done = pending.roll_up_pending(machine_id)
        if done is False:  # more late samples arrived while rolling up: they need a pass too
            roll_up_late_task.apply_async((machine_id,), countdown=LATE_COALESCE_S)
    except _TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            pending.release(machine_id)  # the minute pass tries again later
            raise
        raise self.retry(
            args=(machine_id,), exc=exc, countdown=min(300, 5 * 2**self.request.retries)
        ) from exc
