"""Celery tasks keeping rollups current and applying retention; thin wrappers over services."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from apps.fleet.recording import forget_lifetimes
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


@shared_task
def roll_up_recent_task() -> None:
    now = timezone.now()
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)


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


def count_ingest(machine_pk: int, result) -> None:
    """After-ingest hook: feed the throughput counters the /metrics endpoint exports."""
    count_upload(result.accepted)


def schedule_late_rollup(machine_pk: int, result) -> None:
    """After-ingest hook: fold samples older than usual into the rollups, coalesced.

    An agent draining a backlog sends many late uploads in a row; their time ranges are merged
    in the cache and one range task per machine runs shortly after, instead of one per upload.
    """
    if result.oldest_new_ts is None or timezone.now() - result.oldest_new_ts < LATE_AFTER:
        return
    key = f"late-rollup:{machine_pk}"
    pending = cache.get(key)
    lo, hi = result.oldest_new_ts, result.newest_new_ts
    if pending:
        lo, hi = min(lo, pending[0]), max(hi, pending[1])
    cache.set(key, (lo, hi), timeout=LATE_COALESCE_S * 20)
    if not pending:
        roll_up_late_task.apply_async((machine_pk,), countdown=LATE_COALESCE_S)


@shared_task
def roll_up_late_task(machine_id: int) -> None:
    pending = cache.get(f"late-rollup:{machine_id}")
    cache.delete(f"late-rollup:{machine_id}")
    if pending:
        roll_up_raw(pending[0], pending[1], machine_ids=[machine_id])
        roll_up_hours(pending[0], pending[1])
