"""Reading one machine's series over a time range, from raw samples or rollups, downsampled."""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.metrics.catalog import METRICS, Metric
from apps.metrics.downsample import minmax_buckets
from apps.metrics.models import GoplsRollup, GoplsSample, Resolution, SystemRollup, SystemSample

MAX_POINTS = 2000
RAW_UP_TO = timedelta(hours=6)
FIVE_MINUTES_UP_TO = timedelta(days=7)


def resolution_for(since: datetime, until: datetime, metric: Metric) -> int | None:
    """None (raw) for short ranges, else the rollup resolution in seconds."""
    span = until - since
    if span <= RAW_UP_TO or metric.rollup_column is None:
        return None
    return Resolution.FIVE_MINUTES if span <= FIVE_MINUTES_UP_TO else Resolution.ONE_HOUR


def _rows(machine, metric: Metric, since, until, resolution):
    if resolution is None:
        model = GoplsSample if metric.per_process else SystemSample
        time_field, column = "ts", metric.column
        qs = model.objects.filter(machine=machine, ts__gte=since, ts__lte=until)
    else:
        model = GoplsRollup if metric.per_process else SystemRollup
        time_field, column = "bucket", metric.rollup_column
        qs = model.objects.filter(
            machine=machine, resolution=resolution, bucket__gte=since, bucket__lte=until
        )
    qs = qs.exclude(**{f"{column}__isnull": True})
    if metric.per_process:
        return qs.order_by("process_id", time_field).values_list("process_id", time_field, column)
    return qs.order_by(time_field).values_list(time_field, column)


def read_series(
    machine, metric: Metric, since: datetime, until: datetime, max_points: int = MAX_POINTS
) -> list[dict]:
    """Return [{name, process_id, points: [[iso ts, value], …]}].

    Reads raw samples for short ranges and rollups for long ones (`resolution_for` says
    which); every trace has at most max_points points (min/max buckets keep spikes and the
    lows of a GC sawtooth).
    """
    resolution = resolution_for(since, until, metric)
    rows = _rows(machine, metric, since, until, resolution)
    if not metric.per_process:
        points = _points(list(rows), max_points)
        return [{"name": metric.name, "process_id": None, "points": points}]
    traces: dict[int, list] = {}
    for process_id, ts, value in rows.iterator(chunk_size=5000):
        traces.setdefault(process_id, []).append((ts, value))
    return [
        {"name": f"gopls {pid}", "process_id": pid, "points": _points(points, max_points)}
        for pid, points in traces.items()
    ]


def _points(points: list[tuple[datetime, float]], max_points: int) -> list[list]:
    kept = minmax_buckets(points, max_points)
    return [[ts.isoformat().replace("+00:00", "Z"), value] for ts, value in kept]


def metric_named(name: str) -> Metric | None:
    return METRICS.get(name)
