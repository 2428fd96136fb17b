"""The one place charts read time series from: raw samples or rollups, by range length.

Like the series API (`apps.metrics.series`): raw samples up to 6 hours, 5-minute rollups up
to 7 days, hourly rollups beyond. The newest rollup bucket may be partial, so raw samples
redraw it and the tail after it; a range with no rollups at all falls back to raw samples.
Reads go through the (machine, ts/bucket) indexes and fetch only the needed columns; each
trace is then downsampled with LTTB to at most `max_points`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from django.db import connection

from apps.dashboard.chart_parts import join_runs, split_at_gaps
from apps.dashboard.constants import MAX_POINTS
from apps.dashboard.downsample import lttb_indices
from apps.metrics.catalog import GOPLS_ROLLUP_COLUMNS, ROLLUP_COLUMNS
from apps.metrics.models import GoplsRollup, GoplsSample, Resolution, SystemRollup, SystemSample
from apps.metrics.pending import pending_since
from apps.metrics.series import FIVE_MINUTES_UP_TO, RAW_UP_TO

Point = tuple[datetime, float]
CHART_BUDGET = 6000
MIN_TRACE_POINTS = 150


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


def _rollup_columns(model, mapping: dict[str, str], columns: list[str]) -> dict[str, str]:
    """raw column → rollup column, for the columns the rollup table has."""
    fields = {f.attname for f in model._meta.concrete_fields}
    out = {}
    for column in columns:
        rolled = mapping.get(column) or f"{column.removesuffix('_bytes')}_max"
        if rolled in fields:
            out[column] = rolled
    return out


def thin(points: list[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """At most about max_points points; a gap in the data (several typical steps without a
    point, see chart_parts.split_at_gaps) becomes a None break before downsampling, where
    the step is still the data's own, so the chart breaks the line there."""
    runs = split_at_gaps(points)
    if len(points) <= max_points:
        return join_runs(runs)
    out = []
    for run in runs:
        share = max(3, round(max_points * len(run) / len(points)))
        if len(run) <= share:
            out.append(run)
            continue
        keep = lttb_indices([t.timestamp() for t, _ in run], [v for _, v in run], share)
        out.append([run[i] for i in keep])
    return join_runs(out)


def _read_series(
    rollup, rollup_columns, sample_model, machine_pk, columns, since, until, *, by_process
) -> dict:
    """{process pk, or None: {column: [(ts, value)]}}; nulls skipped. Rollups cover the range up
    to their newest bucket, which may be partial, so raw samples redraw it and what follows."""
    keys = ("process_id",) if by_process else ()
    out: dict = defaultdict(lambda: {c: [] for c in columns})
    raw_since = since
    resolution = resolution_for(since, until)
    if resolution:
        rolled = _rollup_columns(rollup, rollup_columns, columns)
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


def read_system(
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    max_points: int | None = MAX_POINTS,
) -> dict[str, list[Point]]:
    """{column: [(ts, value)]} for one machine's system samples; nulls skipped."""
    out = _read_series(
        SystemRollup,
        ROLLUP_COLUMNS,
        SystemSample,
        machine_pk,
        columns,
        since,
        until,
        by_process=False,
    )[None]
    if max_points is None:  # the caller derives a series first, then thins it
        return out
    return {c: thin(points, max_points) for c, points in out.items()}


def read_gopls(
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    max_points: int = MAX_POINTS,
) -> dict[int, dict[str, list[Point]]]:
    """{process pk: {column: [(ts, value)]}} for one machine's gopls samples; nulls skipped."""
    out = _read_series(
        GoplsRollup,
        GOPLS_ROLLUP_COLUMNS,
        GoplsSample,
        machine_pk,
        columns,
        since,
        until,
        by_process=True,
    )
    # Each trace keeps ≤ max_points, and a chart with many lifetimes shares a budget of
    # CHART_BUDGET points so that 30 days of restarts stay a few hundred kilobytes.
    traces = max(1, sum(1 for per in out.values() for points in per.values() if points))
    limit = max(MIN_TRACE_POINTS, min(max_points, CHART_BUDGET // traces))
    return {pid: {c: thin(points, limit) for c, points in per.items()} for pid, per in out.items()}
