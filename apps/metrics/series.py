"""The series API's read: one machine's metric over a range through the one reader, downsampled."""

from __future__ import annotations

from datetime import datetime

from apps.metrics.catalog import Metric
from apps.metrics.downsample import downsample
from apps.metrics.reader import read_columns
from apps.metrics.reader import resolution_for as _resolution_for

MAX_POINTS = 2000


def resolution_for(since: datetime, until: datetime, metric: Metric) -> int | None:
    """The rollup resolution a range of this metric is read at; None: raw samples (short
    ranges, and metrics without a rollup)."""
    return _resolution_for(since, until) if metric.rollup_column else None


def read_series(
    machine, metric: Metric, since: datetime, until: datetime, max_points: int = MAX_POINTS
) -> list[dict]:
    """Return [{name, process_id, points: [[iso ts, value], …]}].

    Reads through `apps.metrics.reader` (rollups for long ranges, raw samples for the newest
    bucket, the tail and pending ranges); every trace has at most max_points points."""
    read = read_columns(machine.pk, [metric.column], since, until, per_process=metric.per_process)
    if not metric.per_process:
        points = read[None][metric.column] if None in read else []
        return [{"name": metric.name, "process_id": None, "points": _points(points, max_points)}]
    return [
        {"name": f"gopls {pid}", "process_id": pid, "points": _points(points, max_points)}
        for pid, per in sorted(read.items())
        if (points := per[metric.column])
    ]


def _points(points: list[tuple[datetime, float]], max_points: int) -> list[list]:
    return [
        [ts.isoformat().replace("+00:00", "Z"), value]
        for ts, value in downsample(points, max_points)
    ]
