"""The one time-series reader: a machine's columns over a range, from rollups then raw samples.

Raw samples up to 6 hours, 5-minute rollups up to 7 days, hourly rollups beyond. The newest
rollup bucket may be partial, so raw samples redraw it and the tail after it, and so do a
machine's samples not yet rolled up (its pending range, `apps.metrics.pending`); a range with
no rollups at all falls back to raw samples. Charts (`apps.dashboard.services.series`) and the
series API (`apps.metrics.series`) read through it, each downsampling its own way.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from django.db import connection

from apps.metrics.models import Resolution
from apps.metrics.pending import pending_since

Point = tuple[datetime, float]
RAW_UP_TO = timedelta(hours=6)
FIVE_MINUTES_UP_TO = timedelta(days=7)


def _raw_rows(qs):
    """Rows of a values_list queryset without Django's per-value converters.

    The ORM parses every SQLite timestamp with a regex and makes it aware; for charts reading
    tens of thousands of rows that dominated the request, so rows come straight from the
    cursor and timestamps go through the C `fromisoformat` in `_aware`.
    """
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            yield from chunk


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def resolution_for(since: datetime, until: datetime) -> int | None:
    """None (raw samples) for short ranges, else the rollup resolution in seconds."""
    span = until - since
    if span <= RAW_UP_TO:
        return None
    return Resolution.FIVE_MINUTES if span <= FIVE_MINUTES_UP_TO else Resolution.ONE_HOUR


def _rollup_columns(mapping: dict[str, str], columns: list[str]) -> dict[str, str]:
    """raw column → the rollup column long ranges draw (`catalog.Entry.drawn`), for the
    columns that have one."""
    return {column: mapping[column] for column in columns if column in mapping}


def read_columns(
    rollup, rollup_columns, sample_model, machine_pk, columns, since, until, *, by_process
) -> dict:
    """{process pk, or None: {column: [(ts, value)]}}; nulls skipped. Rollups cover the range up
    to their newest bucket, which may be partial, so raw samples redraw it and what follows."""
    keys = ("process_id",) if by_process else ()
    out: dict = defaultdict(lambda: {c: [] for c in columns})
    raw_since = since
    resolution = resolution_for(since, until)
    rolled = _rollup_columns(rollup_columns, columns) if resolution else {}
    if rolled:
        rows = (
            rollup.objects.filter(
                machine_id=machine_pk,
                resolution=resolution,
                bucket__gte=since,
                bucket__lte=until,
            )
            .order_by(*keys, "bucket")
            .values_list(*keys, "bucket", *rolled.values())
        )
        last = _collect(out, rows, list(rolled), by_process)
        # Where rollups are missing or partial (a backfill not yet rolled up), read raw.
        behind = pending_since([machine_pk], resolution).get(machine_pk)
        if last is not None and behind is not None:
            last = max(since, min(last, behind))
        if last is not None:
            raw_since = last
            for per in out.values():
                for column in per:
                    per[column] = [p for p in per[column] if p[0] < last]
    rows = (
        sample_model.objects.filter(machine_id=machine_pk, ts__gte=raw_since, ts__lte=until)
        .order_by(*keys, "ts")
        .values_list(*keys, "ts", *columns)
    )
    _collect(out, rows, columns, by_process)
    return out


def _collect(out: dict, rows, columns: list[str], by_process: bool) -> datetime | None:
    """Append rows (process id first when by_process, then time, then columns) to `out`;
    returns the newest time seen."""
    first = 1 if by_process else 0
    last = None
    for row in _raw_rows(rows):
        per = out[row[0] if by_process else None]
        t = _aware(row[first])
        last = t if last is None else max(last, t)
        for column, value in zip(columns, row[first + 1 :]):
            if value is not None:
                per[column].append((t, value))
    return last
