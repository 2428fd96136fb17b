"""The one place charts read time series from: raw samples now, rollup tables later.

Reads go through the (machine, ts) indexes and fetch only the needed columns; each trace is
then downsampled with LTTB to at most `max_points`. When rollup tables land, `read_system`
and `read_gopls` choose the table by range length and nothing above them changes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from apps.dashboard.constants import MAX_POINTS
from apps.dashboard.downsample import lttb_indices
from apps.metrics.models import GoplsSample, SystemSample

Point = tuple[datetime, float]
CHART_BUDGET = 6000
MIN_TRACE_POINTS = 150


def _thin(points: list[Point], max_points: int) -> list[Point]:
    if len(points) <= max_points:
        return points
    keep = lttb_indices([t.timestamp() for t, _ in points], [v for _, v in points], max_points)
    return [points[i] for i in keep]


def read_system(
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    max_points: int = MAX_POINTS,
) -> dict[str, list[Point]]:
    """{column: [(ts, value)]} for one machine's system samples; nulls skipped."""
    rows = (
        SystemSample.objects.filter(machine_id=machine_pk, ts__gte=since, ts__lte=until)
        .order_by("ts")
        .values_list("ts", *columns)
    )
    out: dict[str, list[Point]] = {c: [] for c in columns}
    for row in rows.iterator(chunk_size=5000):
        t = row[0]
        for column, value in zip(columns, row[1:]):
            if value is not None:
                out[column].append((t, value))
    return {c: _thin(points, max_points) for c, points in out.items()}


def read_gopls(
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    max_points: int = MAX_POINTS,
) -> dict[int, dict[str, list[Point]]]:
    """{process pk: {column: [(ts, value)]}} for one machine's gopls samples; nulls skipped."""
    rows = (
        GoplsSample.objects.filter(machine_id=machine_pk, ts__gte=since, ts__lte=until)
        .order_by("process_id", "ts")
        .values_list("process_id", "ts", *columns)
    )
    out: dict[int, dict[str, list[Point]]] = defaultdict(lambda: {c: [] for c in columns})
    for row in rows.iterator(chunk_size=5000):
        per = out[row[0]]
        for column, value in zip(columns, row[2:]):
            if value is not None:
                per[column].append((row[1], value))
    # Each trace keeps ≤ max_points, and a chart with many lifetimes shares a budget of
    # CHART_BUDGET points so that 30 days of restarts stay a few hundred kilobytes.
    traces = max(1, sum(1 for per in out.values() for points in per.values() if points))
    limit = max(MIN_TRACE_POINTS, min(max_points, CHART_BUDGET // traces))
    return {pid: {c: _thin(points, limit) for c, points in per.items()} for pid, per in out.items()}
