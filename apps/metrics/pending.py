"""Durable bookkeeping of samples not yet rolled up: one merged time range per machine.

Late uploads (a drained spool, a laptop back online, the simulator's backfill) merge their
time range into the machine's `PendingRollup` row in one atomic upsert; a range task rolls it
up and deletes the row only if nothing was merged meanwhile. Readers ask `pending_since` for
where raw samples must be read because rollups there are missing or partial.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q

from apps.metrics.chunks.store import expand
from apps.metrics.models import PendingRollup
from apps.metrics.rollups import floor_time, roll_up_hours, roll_up_raw


def _adapt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


@transaction.atomic
def merge_pending(machine_pk: int, lo: datetime, hi: datetime, now: datetime) -> bool:
    """Merge [lo, hi] into the machine's pending range; True when the caller should queue the
    range task (none queued yet, or the last one was queued before the coalescing window)."""
    low, high = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("min", "max")
    table = PendingRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS t (machine_id, lo, hi, generation, queued_at) "
            "VALUES (%s, %s, %s, 1, NULL) ON CONFLICT (machine_id) DO UPDATE SET "
            f"lo = {low}(t.lo, excluded.lo), hi = {high}(t.hi, excluded.hi), "
            "generation = t.generation + 1",
            [machine_pk, _adapt(lo), _adapt(hi)],
        )
    return claim(machine_pk, now, timedelta(0))


def claim(machine_pk: int, now: datetime, older_than: timedelta) -> bool:
    """Mark the machine's range as queued now, unless it was queued after now - older_than
    (a zero window claims only a range never queued). True when this call claimed it."""
    return bool(
        PendingRollup.objects.filter(machine_id=machine_pk)
        .filter(_unclaimed(now - older_than) if older_than else _never_queued())
        .update(queued_at=now)
    )


def _never_queued() -> Q:
    return Q(queued_at__isnull=True)


def _unclaimed(cutoff: datetime) -> Q:
    return Q(queued_at__isnull=True) | Q(queued_at__lt=cutoff)


def release(machine_pk: int) -> None:
    """Forget that a task is queued (it failed for good), so the minute pass queues another."""
    PendingRollup.objects.filter(machine_id=machine_pk).update(queued_at=None)


def lost(now: datetime, older_than: timedelta) -> list[int]:
    """Claim and return the machines whose range task is overdue (lost with a killed worker)."""
    cutoff = now - older_than
    ids = list(
        PendingRollup.objects.filter(_unclaimed(cutoff)).values_list("machine_id", flat=True)
    )
    return [pk for pk in ids if claim(pk, now, older_than)]


def roll_up_pending(machine_pk: int) -> bool | None:
    """Roll up the machine's pending range. None: nothing pending; True: done and forgotten;
    False: more was merged while rolling up (the row stays, queue another pass)."""
    row = PendingRollup.objects.filter(machine_id=machine_pk).values_list("lo", "hi", "generation")
    found = row.first()
    if found is None:
        return None
    lo, hi, generation = found
    # Compacted hours in the range go back to raw rows first: the late samples are raw, the
    # rest of their hour is in a chunk, and a rollup from raw rows alone would drop it.
    expand(machine_pk, lo, hi)
    roll_up_raw(lo, hi, machine_ids=[machine_pk])
    roll_up_hours(lo, hi, machine_ids=[machine_pk])
    deleted, _ = PendingRollup.objects.filter(machine_id=machine_pk, generation=generation).delete()
    return bool(deleted)


def roll_up_all_pending() -> int:
    """Roll up every pending range now, in this process (bulk loads, the demo); returns how
    many machines were rolled up."""
    done = 0
    for pk in list(PendingRollup.objects.values_list("machine_id", flat=True)):
        while roll_up_pending(pk) is False:
            pass
        done += 1
    return done


def pending_since(machine_pks: Iterable[int], step: int) -> dict[int, datetime]:
    """{machine pk: start of its pending range, floored to `step` seconds}: from there on
    rollups may be missing or partial, so readers read raw samples instead."""
    rows = PendingRollup.objects.filter(machine_id__in=list(machine_pks)).values_list(
        "machine_id", "lo"
    )
    return {pk: floor_time(lo, step) for pk, lo in rows}
