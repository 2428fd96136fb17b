"""Rollups: 5-minute aggregates from raw samples and 1-hour aggregates from 5-minute ones.

Each pass recomputes whole buckets with one INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE
statement per table, so it is idempotent and a late sample is folded in by re-running the
pass over its time range.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from apps.metrics.catalog import rollup_aggregates
from apps.metrics.models import (
    GoplsRollup,
    GoplsSample,
    Resolution,
    SystemRollup,
    SystemSample,
)

# (rollup column, aggregate, raw column), from the catalogue; gopls buckets also keep their
# exact first and last sample times (detection's sustained-CPU rules read them).
SYSTEM_AGGREGATES = rollup_aggregates(per_process=False)
GOPLS_AGGREGATES = [
    *rollup_aggregates(per_process=True),
    ("ts_first", "min", "ts"),
    ("ts_last", "max", "ts"),
]


def bucket_sql(column: str, seconds: int) -> str:
    if connection.vendor == "postgresql":
        return f"date_bin(INTERVAL '{seconds} seconds', {column}, TIMESTAMPTZ '2000-01-01')"
    epoch = f"CAST(strftime('%%s', {column}) AS INTEGER)"
    return f"datetime(({epoch} / {seconds}) * {seconds}, 'unixepoch')"


def floor_time(value: datetime, seconds: int) -> datetime:
    epoch = int(value.timestamp())
    return value - timedelta(seconds=epoch % seconds, microseconds=value.microsecond)


def _upsert(target, keys: list[str], aggregates, source_sql: str, params: list) -> int:
    columns = [*keys, "resolution", "bucket", "n", *[a[0] for a in aggregates]]
    conflict = (
        ", ".join(k for k in keys if k != "machine_id") if "process_id" in keys else "machine_id"
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[len(keys) + 2 :])
    sql = (
        f"INSERT INTO {target._meta.db_table} ({', '.join(columns)}) {source_sql} "
        f"ON CONFLICT ({conflict}, resolution, bucket) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _range_params(since: datetime, until: datetime) -> list:
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(since), adapt(until)]


def roll_up_raw(since: datetime, until: datetime, machine_ids: list[int] | None = None) -> int:
    """Recompute the 5-minute buckets touching [since, until) from raw samples."""
    step = Resolution.FIVE_MINUTES
    since, until = floor_time(since, step), floor_time(until, step) + timedelta(seconds=step)
    params = _range_params(since, until)
    only = ""
    if machine_ids:
        only = f" AND machine_id IN ({', '.join(['%s'] * len(machine_ids))})"
        params += list(machine_ids)
    written = 0
    for target, source, keys, aggregates in (
        (SystemRollup, SystemSample, ["machine_id"], SYSTEM_AGGREGATES),
        (GoplsRollup, GoplsSample, ["machine_id", "process_id"], GOPLS_AGGREGATES),
    ):
        bucket = bucket_sql("ts", step)
        selects = ", ".join(f"{agg}({col})" for _, agg, col in aggregates)
        group = ", ".join(keys)
        source_sql = (
            f"SELECT {group}, {int(step)}, {bucket}, count(*), {selects} "
            f"FROM {source._meta.db_table} WHERE ts >= %s AND ts < %s{only} "
            f"GROUP BY {group}, {bucket}"
        )
        written += _upsert(target, keys, aggregates, source_sql, params)
    return written


def _merge(agg: str, column: str) -> str:
    if agg == "avg":
        return f"sum({column} * n) / nullif(sum(CASE WHEN {column} IS NULL THEN 0 ELSE n END), 0)"
    return f"{agg}({column})"


def _only(column: str, ids, negate: bool = False) -> tuple[str, list]:
    """` AND column [NOT] IN (…)` and its params (one array parameter on PostgreSQL)."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return (f" AND {column} <> ALL(%s)" if negate else f" AND {column} = ANY(%s)"), [ids]
    marks = ", ".join(["%s"] * len(ids))
    return f" AND {column} {'NOT IN' if negate else 'IN'} ({marks})", ids


def roll_up_hours(since: datetime, until: datetime, machine_ids: list[int] | None = None) -> int:
    """Recompute the 1-hour buckets touching [since, until) from the 5-minute rollups.

    Machines whose 5-minute rollups there are partly compacted into chunks
    (`apps.metrics.chunks.rollup_store`) are recomputed from chunks and rows together; the
    others in one statement per table."""
    from apps.metrics.chunks.rollup_store import chunked_machines, roll_up_hours_merged

    step = Resolution.ONE_HOUR
    since, until = floor_time(since, step), floor_time(until, step) + timedelta(seconds=step)
    written = 0
    for target, keys, aggregates in (
        (SystemRollup, ["machine_id"], SYSTEM_AGGREGATES),
        (GoplsRollup, ["machine_id", "process_id"], GOPLS_AGGREGATES),
    ):
        per_process = target is GoplsRollup
        chunked = chunked_machines(
            per_process, Resolution.FIVE_MINUTES, since, until - timedelta(microseconds=1),
            machine_ids,
        )  # fmt: skip
        params = [int(Resolution.FIVE_MINUTES), *_range_params(since, until)]
        only = ""
        if machine_ids:
            sql, extra = _only("machine_id", machine_ids)
            only, params = only + sql, params + extra
        if chunked:
            sql, extra = _only("machine_id", chunked, negate=True)
            only, params = only + sql, params + extra
        bucket = bucket_sql("bucket", step)
        selects = ", ".join(_merge(agg, col) for col, agg, _ in aggregates)
        group = ", ".join(keys)
        source_sql = (
            f"SELECT {group}, {int(step)}, {bucket}, sum(n), {selects} "
            f"FROM {target._meta.db_table} WHERE resolution = %s AND bucket >= %s AND bucket < %s"
            f"{only} GROUP BY {group}, {bucket}"
        )
        written += _upsert(target, keys, aggregates, source_sql, params)
        if chunked:
            written += roll_up_hours_merged(
                per_process, chunked, since, until, every_hour=bool(machine_ids)
            )
    return written


def upsert_values(target, keys: list[str], aggregates, values: list[list], batch: int = 500) -> int:
    """Upsert rollup rows given as [*keys, resolution, bucket, n, *aggregates] value lists."""
    adapt = connection.ops.adapt_datetimefield_value
    written = 0
    for start in range(0, len(values), batch):
        part = values[start : start + batch]
        width = len(part[0])
        marks = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(part))
        params = [adapt(v) if isinstance(v, datetime) else v for row in part for v in row]
        written += _upsert(target, keys, aggregates, f"VALUES {marks}", params)
    return written
