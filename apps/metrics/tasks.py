"""Celery tasks keeping rollups current and applying retention; thin wrappers over services."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.fleet.models import Machine
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
LATE_RANGE_TTL_S = LATE_COALESCE_S * 20  # how long a machine's pending late range is kept
# A late range must not be forgotten because the database or Redis restarted under the task.
_TRANSIENT_CACHE = (RedisConnectionError, RedisTimeoutError)
_TRANSIENT = (OperationalError, InterfaceError, *_TRANSIENT_CACHE)


@shared_task
def roll_up_recent_task() -> None:
    now = timezone.now()
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)
    requeue_lost_late_rollups(now)


def requeue_lost_late_rollups(now) -> int:
    """Queue the late range of every machine whose range task was lost; returns how many.

    A worker that is SIGKILLed or crashes (a Redis crash can make it exit) holds its
    countdown tasks unacknowledged, and the broker gives them back only after its visibility
    timeout (an hour). The range stays in the cache meanwhile; once its 'queued' marker has
    expired, this minute pass queues it again (rolling up twice is harmless)."""
    since = now - timedelta(seconds=LATE_RANGE_TTL_S)
    ids = Machine.objects.filter(last_seen__gte=since).values_list("pk", flat=True)
    pending = cache.get_many([_late_key(pk) for pk in ids.iterator(chunk_size=5000)])
    queued = cache.get_many([key + ":queued" for key in pending])
    count = 0
    for key, (lo, hi) in pending.items():
        if key + ":queued" in queued or not cache.add(key + ":queued", 1, LATE_COALESCE_S * 2):
            continue
        roll_up_late_task.apply_async((int(key.rsplit(":", 1)[1]), lo.isoformat(), hi.isoformat()))
        count += 1
    if count:
        log.info("queued %d late rollup ranges whose task was lost", count)
    return count


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
    in the cache and one range task per machine and LATE_COALESCE_S runs shortly after, instead
    of one per upload. The task also carries the range it was queued with, so that range
    survives the cache being emptied; a range whose task was lost (a worker killed, Redis
    restarted) is picked up by the machine's next late upload. Without the cache (Redis down)
    the task is queued with this upload's range alone.
    """
    if result.oldest_new_ts is None or timezone.now() - result.oldest_new_ts < LATE_AFTER:
        return
    lo, hi = result.oldest_new_ts, result.newest_new_ts
    key = _late_key(machine_pk)
    try:
        pending = cache.get(key)
        if pending:
            lo, hi = min(lo, pending[0]), max(hi, pending[1])
        cache.set(key, (lo, hi), timeout=LATE_RANGE_TTL_S)
        due = cache.add(key + ":queued", 1, timeout=LATE_COALESCE_S * 2)
    except _TRANSIENT_CACHE:
        log.warning("late rollup of machine %s queued without the cache", machine_pk)
        due = True
    if due:
        roll_up_late_task.apply_async(
            (machine_pk, lo.isoformat(), hi.isoformat()), countdown=LATE_COALESCE_S
        )


def _late_key(machine_pk: int) -> str:
    return f"late-rollup:{machine_pk}"


@shared_task(bind=True, max_retries=8, acks_late=True)
def roll_up_late_task(self, machine_id: int, lo: str | None = None, hi: str | None = None):
    """Roll up one machine's late range: the one it was queued with plus what the cache has
    gathered since. Idempotent. The cache entry is removed only once rolled up (a worker
    killed half-way gets the message again); a range that grew meanwhile is queued again, and
    a database or Redis error retries with the whole range."""
    key = _late_key(machine_id)
    span = (datetime.fromisoformat(lo), datetime.fromisoformat(hi)) if lo and hi else None
    try:
        pending = cache.get(key)
        if pending:
            span = pending if span is None else (min(span[0], pending[0]), max(span[1], pending[1]))
        if span is None:
            return
        roll_up_raw(span[0], span[1], machine_ids=[machine_id])
        roll_up_hours(span[0], span[1])
        if pending:
            if cache.get(key) == pending:
                cache.delete(key)
            else:  # more late samples arrived while rolling up: they need a pass of their own
                roll_up_late_task.apply_async((machine_id,), countdown=LATE_COALESCE_S)
    except _TRANSIENT as exc:
        args = (machine_id, span[0].isoformat(), span[1].isoformat()) if span else (machine_id,)
        raise self.retry(
            args=args, exc=exc, countdown=min(300, 5 * 2**self.request.retries)
        ) from exc
