"""Reading one machine's series over a time range, downsampled for charts."""

from __future__ import annotations

from datetime import datetime

from apps.metrics.catalog import METRICS, Metric
from apps.metrics.downsample import minmax_buckets
from apps.metrics.models import GoplsSample, SystemSample

MAX_POINTS = 2000


def read_series(
    machine, metric: Metric, since: datetime, until: datetime, max_points: int = MAX_POINTS
) -> list[dict]:
    """Return [{name, process_id, points: [[iso ts, value], …]}], each trace ≤ max_points."""
    if metric.per_process:
        rows = (
            GoplsSample.objects.filter(machine=machine, ts__gte=since, ts__lte=until)
            .exclude(**{f"{metric.column}__isnull": True})
            .order_by("process_id", "ts")
            .values_list("process_id", "ts", metric.column)
        )
        traces: dict[int, list] = {}
        for process_id, ts, value in rows.iterator(chunk_size=5000):
            traces.setdefault(process_id, []).append((ts, value))
        return [
            {
                "name": f"gopls {process_id}",
                "process_id": process_id,
                "points": _points(points, max_points),
            }
            for process_id, points in traces.items()
        ]
    rows = (
        SystemSample.objects.filter(machine=machine, ts__gte=since, ts__lte=until)
        .exclude(**{f"{metric.column}__isnull": True})
        .order_by("ts")
        .values_list("ts", metric.column)
    )
    return [{"name": metric.name, "process_id": None, "points": _points(list(rows), max_points)}]


def _points(points: list[tuple[datetime, float]], max_points: int) -> list[list]:
    return [
        [ts.isoformat().replace("+00:00", "Z"), value]
        for ts, value in minmax_buckets(points, max_points)
    ]


def metric_named(name: str) -> Metric | None:
    return METRICS.get(name)
