"""Retention: delete raw samples and rollups older than their tier's limit, in bounded batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from apps.metrics.chunks.rollup_store import period_of
from apps.metrics.models import (
    GoplsChunk,
    GoplsRollup,
    GoplsRollupChunk,
    GoplsSample,
    HeapProfile,
    Resolution,
    SystemChunk,
    SystemRollup,
    SystemRollupChunk,
    SystemSample,
)
from apps.metrics.partitions import PARTITIONED_TABLES, drop_partitions_before, is_partitioned

BATCH = 20_000


def _delete_older(qs, time_field: str, cutoff: datetime) -> int:
    """Delete in batches of primary keys so one pass never holds a huge lock or transaction."""
    total = 0
    while True:
        ids = list(qs.filter(**{f"{time_field}__lt": cutoff}).values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        total += qs.filter(pk__in=ids).delete()[0]


def _prune_default(cutoff: datetime) -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in PARTITIONED_TABLES:
            cursor.execute(f"DELETE FROM {table}_default WHERE collected_at < %s", [cutoff])
            counts[f"{table}_default"] = cursor.rowcount
    return counts


def prune(now: datetime) -> dict[str, int]:
    """Apply every retention tier; returns rows deleted per table."""
    raw_cutoff = now - timedelta(days=settings.RETENTION_RAW_DAYS)
    five_cutoff = now - timedelta(days=settings.RETENTION_5M_DAYS)
    hour_cutoff = now - timedelta(days=settings.RETENTION_1H_DAYS)
    if is_partitioned():
        # Whole days go with their partition; only the default partition (samples far outside
        # the prepared days) is deleted row by row.
        dropped = drop_partitions_before(raw_cutoff)
        deleted = {"raw_partitions": len(dropped), **_prune_default(raw_cutoff)}
    else:
        deleted = {
            "system_samples": _delete_older(SystemSample.objects.all(), "ts", raw_cutoff),
            "gopls_samples": _delete_older(GoplsSample.objects.all(), "ts", raw_cutoff),
        }
    # Chunks are the raw tier, compacted: they go when their hour leaves the raw retention.
    deleted["system_chunks"] = _delete_older(SystemChunk.objects.all(), "hour", raw_cutoff)
    deleted["gopls_chunks"] = _delete_older(GoplsChunk.objects.all(), "hour", raw_cutoff)
    deleted["profiles"] = _delete_older(HeapProfile.objects.all(), "received_at", five_cutoff)
    for name, model in (("system", SystemRollup), ("gopls", GoplsRollup)):
        deleted[f"{name}_rollups_5m"] = _delete_older(
            model.objects.filter(resolution=Resolution.FIVE_MINUTES), "bucket", five_cutoff
        )
        deleted[f"{name}_rollups_1h"] = _delete_older(
            model.objects.filter(resolution=Resolution.ONE_HOUR), "bucket", hour_cutoff
        )
    # A rollup chunk goes once its whole period is past its tier's limit (so a tier keeps up
    # to one period, a day of 5-minute or a week of hourly buckets, longer than its limit).
    for name, model in (("system", SystemRollupChunk), ("gopls", GoplsRollupChunk)):
        for label, resolution, cutoff in (
            ("5m", Resolution.FIVE_MINUTES, five_cutoff),
            ("1h", Resolution.ONE_HOUR, hour_cutoff),
        ):
            deleted[f"{name}_rollup_chunks_{label}"] = _delete_older(
                model.objects.filter(resolution=resolution), "start", cutoff - period_of(resolution)
            )
    return deleted
