"""Chart series: one machine's columns through the one reader (`apps.metrics.reader`), thinned.

Each trace is split at gaps (so the chart breaks the line there) and downsampled with the one
downsampler (`apps.metrics.downsample`, LTTB) to at most `max_points`; a chart of many gopls
lifetimes shares CHART_BUDGET points.
"""

from __future__ import annotations

from datetime import datetime

from apps.dashboard.chart_parts import join_runs, split_at_gaps
from apps.dashboard.constants import MAX_POINTS
from apps.metrics.downsample import lttb_indices
from apps.metrics.reader import read_columns

Point = tuple[datetime, float]
CHART_BUDGET = 6000
MIN_TRACE_POINTS = 150


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


def read_system(
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    max_points: int | None = MAX_POINTS,
) -> dict[str, list[Point]]:
    """{column: [(ts, value)]} for one machine's system samples; nulls skipped."""
    read = read_columns(machine_pk, columns, since, until, per_process=False)
    out = read[None] if None in read else {c: [] for c in columns}
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
    out = read_columns(machine_pk, columns, since, until, per_process=True)
    # Each trace keeps ≤ max_points, and a chart with many lifetimes shares a budget of
    # CHART_BUDGET points so that 30 days of restarts stay a few hundred kilobytes.
    traces = max(1, sum(1 for per in out.values() for points in per.values() if points))
    limit = max(MIN_TRACE_POINTS, min(max_points, CHART_BUDGET // traces))
    return {pid: {c: thin(points, limit) for c, points in per.items()} for pid, per in out.items()}
