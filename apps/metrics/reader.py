"""The one time-series reader: which tier serves which part of a range, and reading it.

Tiers, coarsest first: hourly rollups, 5-minute rollups, raw samples. `resolution_for` picks the
rollup resolution a range is read at (raw samples up to 6 hours, 5-minute rollups up to 7 days,
hourly beyond); `raw_from` says where raw samples take over from the rollups: at the newest
rollup bucket (it may be partial, so raw samples redraw it and the tail after it), earlier
where the machine has samples not yet rolled up (its pending range, `apps.metrics.pending`),
and at `since` when there are no rollups. Every sample is read once: rollup buckets before
`raw_from`, raw samples from it on.

The series API (`apps.metrics.series`) and the charts (`apps.dashboard.services.series`) read
points through `read_columns`; detection (`apps.anomalies.loader`) aggregates whole fleets
in SQL but takes its boundary from `raw_from`. Raw rows come only from `_raw_query`, the place
a compressed history tier would be read below the raw table.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from django.db import connection

from apps.metrics.catalog import drawn_columns
from apps.metrics.models import GoplsRollup, GoplsSample, Resolution, SystemRollup, SystemSample
from apps.metrics.pending import pending_since

Point = tuple[datetime, float]
RAW_UP_TO = timedelta(hours=6)
FIVE_MINUTES_UP_TO = timedelta(days=7)


def resolution_for(since: datetime, until: datetime) -> int | None:
    """None (raw samples) for short ranges, else the rollup resolution in seconds."""
    span = until - since
    if span <= RAW_UP_TO:
        return None
    return Resolution.FIVE_MINUTES if span <= FIVE_MINUTES_UP_TO else Resolution.ONE_HOUR


def raw_from(
    since: datetime,
    newest: datetime | None,
    pending: datetime | None,
    step: int,
    complete_before: datetime | None = None,
) -> datetime:
    """Where raw samples take over from rollups of `step` seconds read over [since, …].

    `newest`: start of the newest rollup bucket read (None: no rollups, all raw). It may be
    partial, so it is read raw again, unless it ends at `complete_before` (a caller that read
    rollups only before a cut the rollup task has certainly passed). `pending`: start of the
    machine's range not yet rolled up; rollups there are missing or partial."""
    if newest is None:
        return since
    start = newest
    if complete_before is not None and newest + timedelta(seconds=step) >= complete_before:
        start = complete_before
    if pending is not None:
        start = max(since, min(start, pending))
    return start


def _models(per_process: bool):
    return (GoplsRollup, GoplsSample) if per_process else (SystemRollup, SystemSample)


def _rows(qs):
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


def _raw_query(per_process: bool, machine_pk: int, columns: list[str], since, until):
    """Raw-resolution rows [process id,] ts, *columns over [since, until], in time order."""
    keys = ("process_id",) if per_process else ()
    return (
        _models(per_process)[1]
        .objects.filter(machine_id=machine_pk, ts__gte=since, ts__lte=until)
        .order_by(*keys, "ts")
        .values_list(*keys, "ts", *columns)
    )


def read_columns(
    machine_pk: int, columns: list[str], since: datetime, until: datetime, *, per_process: bool
) -> dict:
    """{process pk, or None: {column: [(ts, value)]}} for one machine; nulls skipped.

    Columns with a rollup (`catalog.Entry.drawn`) are read from rollups before `raw_from` and
    raw samples after; columns without one are read raw over the whole range."""
    rollup = _models(per_process)[0]
    keys = ("process_id",) if per_process else ()
    out: dict = defaultdict(lambda: {c: [] for c in columns})
    resolution = resolution_for(since, until)
    drawn = drawn_columns(per_process)
    rolled = {c: drawn[c] for c in columns if c in drawn} if resolution else {}
    plain = [c for c in columns if c not in rolled]
    start = since
    if rolled:
        rows = (
            rollup.objects.filter(
                machine_id=machine_pk, resolution=resolution, bucket__gte=since, bucket__lte=until
            )
            .order_by(*keys, "bucket")
            .values_list(*keys, "bucket", *rolled.values())
        )
        newest = _collect(out, rows, list(rolled), per_process)
        pending = pending_since([machine_pk], resolution).get(machine_pk)
        start = raw_from(since, newest, pending, resolution)
        for per in out.values():
            for column in rolled:
                per[column] = [p for p in per[column] if p[0] < start]
    if start > since and plain:  # columns without rollups: raw over the whole range
        _collect(out, _raw_query(per_process, machine_pk, plain, since, start), plain, per_process)
        # Raw samples at `start` and later come in the read below for every column.
        for per in out.values():
            for column in plain:
                per[column] = [p for p in per[column] if p[0] < start]
    _collect(out, _raw_query(per_process, machine_pk, columns, start, until), columns, per_process)
    return out


def _collect(out: dict, rows, columns: list[str], per_process: bool) -> datetime | None:
    """Append rows (process id first when per_process, then time, then columns) to `out`;
    returns the newest time seen."""
    first = 1 if per_process else 0
    last = None
    for row in _rows(rows):
        per = out[row[0] if per_process else None]
        t = _aware(row[first])
        last = t if last is None else max(last, t)
        for column, value in zip(columns, row[first + 1 :]):
            if value is not None:
                per[column].append((t, value))
    return last
