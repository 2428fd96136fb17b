"""The one time-series reader: which tier serves which part of a range, and reading it.

Tiers, coarsest first: hourly rollups, 5-minute rollups, raw samples. `resolution_for` picks the
rollup resolution a range is read at (raw samples up to 6 hours, 5-minute rollups up to 7 days,
hourly beyond); `raw_from` says where raw samples take over from the rollups: at the newest
rollup bucket (it may be partial, so raw samples redraw it and the tail after it), earlier
where the machine has samples not yet rolled up (its pending range, `apps.metrics.pending`),
and at `since` when there are no rollups. Every sample is read once: rollup buckets before
`raw_from`, raw samples from it on.

The series API (`apps.metrics.series`) and the charts (`apps.dashboard.services.series`) read
points of one machine through `read_columns`; detection (`apps.anomalies.loader`) reads
bucket aggregates of a fleet chunk through `read_buckets`, in SQL. Both split a range with
`raw_from`; raw rows come from `_raw_query` and `_raw_rows`, the places a compressed history
tier (issue 15) would be read below the raw table.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
from django.db import connection

from apps.metrics.catalog import drawn_columns
from apps.metrics.chunks.buckets import bucket_rows, keys_with_chunks
from apps.metrics.chunks.codec import to_micros
from apps.metrics.chunks.read import chunk_points
from apps.metrics.chunks.rollup_store import chunk_bucket_rows, chunked_machines
from apps.metrics.chunks.rollup_store import entries as rollup_entries
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


def _raw_query(
    per_process: bool, machine_pk: int, columns: list[str], since, until, identity=False
):
    """Raw-resolution rows [process id,] ts, *columns over [since, until], in time order;
    with `identity`, each row ends with its sample id (system) and agent time."""
    keys = ("process_id",) if per_process else ()
    extra = (() if per_process else ("sample_uid",)) + ("collected_at",) if identity else ()
    return (
        _models(per_process)[1]
        .objects.filter(machine_id=machine_pk, ts__gte=since, ts__lte=until)
        .order_by(*keys, "ts")
        .values_list(*keys, "ts", *columns, *extra)
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
    mixed = False
    if rolled:
        rows = (
            rollup.objects.filter(
                machine_id=machine_pk, resolution=resolution, bucket__gte=since, bucket__lte=until
            )
            .order_by(*keys, "bucket")
            .values_list(*keys, "bucket", *rolled.values())
        )
        if chunked_machines(per_process, resolution, since, until, [machine_pk]):
            # Compacted rollup periods: chunk and rows together, each bucket once.
            found = rollup_entries(
                per_process, [machine_pk], resolution, since, until, list(rolled.values())
            )
            newest = _collect_rows(out, [r[1:] for r in found], list(rolled), per_process)
        else:
            newest = _collect(out, rows, list(rolled), per_process)
        pending = pending_since([machine_pk], resolution).get(machine_pk)
        start = raw_from(since, newest, pending, resolution)
        for per in out.values():
            for column in rolled:
                per[column] = [p for p in per[column] if p[0] < start]
    if start > since and plain:  # columns without rollups: raw over the whole range
        mixed = _collect_raw(out, per_process, machine_pk, plain, since, start)
        # Raw samples at `start` and later come in the read below for every column.
        for per in out.values():
            for column in plain:
                per[column] = [p for p in per[column] if p[0] < start]
    if _collect_raw(out, per_process, machine_pk, columns, start, until) or mixed:
        for per in out.values():
            for points in per.values():
                points.sort(key=_time)
    return out


def _time(point: Point) -> datetime:
    return point[0]


def _collect_raw(out: dict, per_process: bool, machine_pk: int, columns, since, until) -> bool:
    """Raw samples and compacted chunks (`apps.metrics.chunks`) over [since, until] into
    `out`, each sample once: a raw copy of a sample a chunk holds (a resend stored after its
    hour was compacted, until compaction folds it away) is skipped. True when chunks added
    points."""
    known: set = set()
    found = chunk_points(per_process, machine_pk, columns, since, until, keys=known)
    rows = _rows(_raw_query(per_process, machine_pk, columns, since, until, identity=bool(known)))
    if known:
        rows = _not_in(rows, known, per_process)
    _collect_rows(out, rows, columns, per_process)
    for key, per in found.items():
        target = out[key]
        for column, points in per.items():
            target[column].extend(points)
    return bool(found)


def _not_in(rows, known: set, per_process: bool):
    """Raw rows (ending with their identity columns) whose sample is not in `known`."""
    for row in rows:
        collected = to_micros(_aware(row[-1]))
        key = (row[0], collected) if per_process else (row[-2], collected)
        if key not in known:
            yield row


def _collect(out: dict, rows, columns: list[str], per_process: bool) -> datetime | None:
    """Append the rows of a query (process id first when per_process, then time, then
    columns) to `out`; returns the newest time seen."""
    return _collect_rows(out, _rows(rows), columns, per_process)


def _collect_rows(out: dict, rows, columns: list[str], per_process: bool) -> datetime | None:
    first = 1 if per_process else 0
    last = None
    for row in rows:
        per = out[row[0] if per_process else None]
        t = _aware(row[first])
        last = t if last is None else max(last, t)
        for column, value in zip(columns, row[first + 1 :]):
            if value is not None:
                per[column].append((t, value))
    return last


# Fleet-wide reads for detection: bucket aggregates of many machines as numpy matrices.

ROLLUP_S = int(Resolution.FIVE_MINUTES)
BUCKET_TIMES = ("t_first", "t_last", "n")


def _epoch(sql: str) -> str:
    """Seconds since the epoch of a timestamp expression, as a float."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {sql})::float8"
    return f"((julianday({sql}) - 2440587.5) * 86400.0)"


def _bucket(sql: str, bucket_s: int) -> str:
    """The bucket number of a timestamp: floor(epoch / bucket_s), like the rollups' buckets."""
    if connection.vendor == "postgresql":
        return f"floor(EXTRACT(EPOCH FROM {sql}) / {int(bucket_s)})::float8"
    return f"(CAST(strftime('%%s', {sql}) AS INTEGER) / {int(bucket_s)})"


def _float(sql: str) -> str:
    return f"CAST({sql} AS DOUBLE PRECISION)" if connection.vendor == "postgresql" else sql


def _matrix(rows: list[tuple], width: int) -> np.ndarray:
    """Rows of numbers (None for missing) → a float matrix with NaN for missing."""
    if not rows:
        return np.empty((0, width), float)
    try:
        return np.array(rows, dtype=float)
    except TypeError:
        values = np.array(rows, dtype=object)
        values[np.equal(values, None)] = np.nan
        return values.astype(float)


def _fetch(sql: str, params: list, width: int) -> np.ndarray:
    """Rows of a numeric query as a float matrix (NaN for NULL), in the query's order.

    On PostgreSQL the rows come back as one bytea of big-endian float8 values that numpy
    reads as is: turning a chunk's ~70,000 rows into Python tuples (or parsing them from
    text) would cost more than the query."""
    if connection.vendor == "postgresql":
        names = [f"c{i}" for i in range(width)]
        values = " || ".join(f"float8send(COALESCE({n}::float8, 'NaN'))" for n in names)
        sql = (
            f"SELECT string_agg({values}, ''::bytea ORDER BY c0, c1) "
            f"FROM ({sql}) AS q({', '.join(names)})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            data = cursor.fetchone()[0]
        if not data:
            return np.empty((0, width), float)
        return np.frombuffer(data, dtype=">f8").astype(float).reshape(-1, width)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _matrix(cursor.fetchall(), width)


def _in(column: str, values: list[int]) -> tuple[str, list]:
    """`column IN (…)` as SQL and params; one array parameter on PostgreSQL (a query with
    hundreds of placeholders costs psycopg more to prepare than to run)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _raw_rows(model, key: str, series: dict, ids: list[int], since, until, bucket_s, *, times):
    """[key, bucket, *series, (t_first, t_last, n)] per key and bucket of raw samples."""
    selects = [_float(f"{agg}({col})") for agg, col, _ in series.values()]
    if times:
        selects += [_epoch("min(ts)"), _epoch("max(ts)"), "count(*)"]
    bucket = _bucket("ts", bucket_s)
    where, params = _in(key, ids)
    sql = (
        f"SELECT {key}, {bucket} AS b, {', '.join(selects)} FROM {model._meta.db_table} "
        f"WHERE {where} AND ts >= %s AND ts <= %s GROUP BY {key}, b ORDER BY {key}, b"
    )
    adapt = connection.ops.adapt_datetimefield_value
    return _fetch(sql, [*params, adapt(since), adapt(until)], 2 + len(selects))


def _rollup_rows(model, key: str, series: dict, ids: list[int], since, until, *, times):
    """The same shape from finished 5-minute rollup buckets in [since, until)."""
    selects = [_float(roll) for _, _, roll in series.values()]
    if times:
        selects += [_epoch("ts_first"), _epoch("ts_last"), "n"]
    where, params = _in(key, ids)
    sql = (
        f"SELECT {key}, {_bucket('bucket', ROLLUP_S)} AS b, {', '.join(selects)} "
        f"FROM {model._meta.db_table} WHERE {where} "
        f"AND resolution = %s AND bucket >= %s AND bucket < %s ORDER BY {key}, bucket"
    )
    adapt = connection.ops.adapt_datetimefield_value
    return _fetch(sql, [*params, ROLLUP_S, adapt(since), adapt(until)], 2 + len(selects))


def _split(matrix: np.ndarray) -> dict[int, np.ndarray]:
    """Rows sorted by key → {key: its rows}."""
    if not matrix.shape[0]:
        return {}
    keys = matrix[:, 0]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], keys.size]
    return {int(keys[a]): matrix[a:b] for a, b in zip(starts, ends)}


def read_buckets(
    per_process: bool, series: dict, ids, owner, since, now, bucket_s, *, times, tail: timedelta
) -> dict[int, np.ndarray]:
    """{key: rows [key, bucket number, *series, (t_first, t_last, n)]} of a fleet chunk in
    `bucket_s` buckets: finished 5-minute buckets from rollups before `raw_from`, the rest
    aggregated from raw samples; `series` maps names to (aggregate, raw column, rollup column)
    (`catalog.detection_series`). Keys are gopls lifetimes (per_process) or machines.

    `owner` maps each key to its machine: a machine reads raw samples from the end of its
    rolled-up history (or from `since` when it has none), so lagging rollups cost speed only.
    Rollups are read only before now - `tail` (longer than the rollup task's re-roll period),
    so about `tail` of raw samples is read per machine whatever the window."""
    if not ids:
        return {}
    rollup, model = _models(per_process)
    key = "process_id" if per_process else "machine_id"
    cut = now - tail
    cut = cut - timedelta(seconds=cut.timestamp() % ROLLUP_S)
    rolled: dict[int, np.ndarray] = {}
    start_of: dict[int, datetime] = {}
    if bucket_s == ROLLUP_S and now - since > 2 * tail:  # short windows stay raw
        rolled = _split(_rollup_rows(rollup, key, series, ids, since, cut, times=times))
        # Keys of machines with compacted rollup periods there: chunk and rows together.
        rolled.update(chunk_bucket_rows(per_process, series, ids, owner, since, cut, times=times))
        newest: dict[int, float] = {}
        for k, rows in rolled.items():
            m = owner[k]
            newest[m] = max(newest.get(m, 0.0), float(rows[-1, 1]) * ROLLUP_S)
        # Samples not yet rolled up (a backfill whose range task has not run) are read raw;
        # the newest bucket is complete when it ends at the cut (the tail is longer than the
        # rollup task's re-roll period), else it may be partial and is read raw again.
        behind = pending_since(set(owner.values()), ROLLUP_S)
        for k in ids:
            end = newest.get(owner[k])
            start_of[k] = raw_from(
                since,
                None if end is None else datetime.fromtimestamp(end, tz=now.tzinfo),
                behind.get(owner[k]),
                ROLLUP_S,
                complete_before=cut,
            )
    else:
        start_of = dict.fromkeys(ids, since)
    groups: dict[datetime, list[int]] = defaultdict(list)
    for k, start in start_of.items():
        groups[start].append(k)
    out: dict[int, np.ndarray] = {}
    for start, keys in groups.items():
        # Keys with compacted hours in the range are aggregated over raw rows and chunks.
        chunked = keys_with_chunks(per_process, keys, start, now)
        plain = [k for k in keys if k not in chunked]
        raw = (
            _split(_raw_rows(model, key, series, plain, start, now, bucket_s, times=times))
            if plain
            else {}
        )
        if chunked:
            raw.update(
                _split(bucket_rows(per_process, series, chunked, start, now, bucket_s, times=times))
            )
        limit = start.timestamp() / ROLLUP_S
        for k in keys:
            old = rolled.get(k)
            if old is not None:
                old = old[old[:, 1] < limit]
            parts = [p for p in (old, raw.get(k)) if p is not None and p.shape[0]]
            if parts:
                out[k] = parts[0] if len(parts) == 1 else np.vstack(parts)
    return out
