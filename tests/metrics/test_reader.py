"""The one time-series reader: where raw samples take over from rollups, each sample read once
on every path, and the series API, the charts and detection agreeing on the same window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.loader import load_snapshots
from apps.dashboard.services.series import read_gopls, read_system
from apps.ingest.services import ingest_report
from apps.metrics.catalog import METRICS
from apps.metrics.models import Resolution, SystemRollup, SystemSample
from apps.metrics.pending import merge_pending
from apps.metrics.reader import raw_from, read_columns, resolution_for
from apps.metrics.rollups import roll_up_hours, roll_up_raw
from apps.metrics.series import read_series
from tests.factories import iso, make_report

NOW = datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc)
START = NOW - timedelta(hours=3)
FIVE = int(Resolution.FIVE_MINUTES)


def at(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_raw_samples_take_over_at_the_newest_bucket_which_may_be_partial():
    since = at(600)
    assert raw_from(since, None, None, FIVE) == since  # no rollups: all raw
    assert raw_from(since, at(120), None, FIVE) == at(120)
    # Rollups read only before a cut the rollup task has passed: the bucket ending there is whole.
    assert raw_from(since, at(25), None, FIVE, complete_before=at(20)) == at(20)
    assert raw_from(since, at(60), None, FIVE, complete_before=at(20)) == at(60)


def test_a_pending_range_is_read_raw_but_never_before_the_window():
    since = at(600)
    assert raw_from(since, at(30), at(200), FIVE) == at(200)
    assert raw_from(since, at(30), at(900), FIVE) == since
    assert raw_from(since, at(30), at(10), FIVE) == at(30)  # later than the newest bucket
    assert raw_from(since, None, at(200), FIVE) == since


@pytest.fixture
def history(enrolled, settings):
    """Three hours of one gopls lifetime every 45 s, available memory and RSS varying; no
    sample falls on a bucket boundary, so a point there is a rollup's."""
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled
    started = iso(START - timedelta(minutes=5))
    for part in range(6):
        first = START + timedelta(minutes=30 * part, seconds=7)
        report = make_report(40, start=first, step_s=45, sent_at=first + timedelta(minutes=30))
        for k, s in enumerate(report["samples"]):
            i = part * 40 + k
            s["gopls"][0]["start_time"] = started
            s["gopls"][0]["rss_bytes"] = 600_000_000 + i * 2_000_000 + (i % 7) * 9_000_000
            s["system"]["mem_available_bytes"] = 4_000_000_000 - (i % 11) * 50_000_000 - i
        ingest_report(machine, report, received_at=first + timedelta(minutes=30))
    return machine


def lagging(machine) -> None:
    """The rollup task stopped mid-bucket two hours ago: the newest bucket is partial."""
    roll_up_raw(START - timedelta(minutes=10), at(122))
    roll_up_hours(START - timedelta(minutes=10), at(122))


def pending(machine) -> None:
    """Everything rolled up once, then a late range (not yet rolled up) from 150 min ago:
    its buckets are stale, here made visibly wrong."""
    roll_up_raw(START - timedelta(minutes=10), NOW)
    roll_up_hours(START - timedelta(minutes=10), NOW)
    SystemRollup.objects.filter(bucket__gte=at(150)).update(mem_available_min=1, n=1)
    merge_pending(machine.pk, at(150), NOW, NOW)


def complete(machine) -> None:
    roll_up_raw(START - timedelta(minutes=10), NOW)
    roll_up_hours(START - timedelta(minutes=10), NOW)


STATES = {"raw only": lambda m: None, "lagging": lagging, "pending": pending, "complete": complete}


@pytest.mark.django_db
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("span", [timedelta(hours=4), timedelta(days=2), timedelta(days=10)])
def test_each_path_reads_every_sample_once_across_the_raw_rollup_boundary(history, state, span):
    STATES[state](history)
    since, column = NOW - span, "mem_available_bytes"
    points = read_columns(history.pk, [column], since, NOW, per_process=False)[None][column]
    times = [t for t, _ in points]
    assert times == sorted(set(times))  # in order, none twice
    raw = dict(
        SystemSample.objects.filter(machine=history, ts__gte=since, ts__lte=NOW).values_list(
            "ts", column
        )
    )
    resolution = resolution_for(since, NOW)
    if resolution is None or state == "raw only":
        assert dict(points) == raw
        return
    # Rollup buckets before the boundary, then every raw sample from it on, and together
    # they account for each stored sample exactly once.
    boundary = min(t for t in times if t in raw and all(u in raw for u in times if u >= t))
    rolled = [t for t in times if t < boundary]
    assert all(t.timestamp() % resolution == 0 for t in rolled)
    assert dict(p for p in points if p[0] >= boundary) == {
        t: v for t, v in raw.items() if t >= boundary
    }
    counted = SystemRollup.objects.filter(
        machine=history, resolution=resolution, bucket__in=rolled
    ).values_list("n", flat=True)
    assert sum(counted) + sum(1 for t in raw if t >= boundary) == len(raw)
    assert 1 not in {v for t, v in points}  # the pending range's stale buckets are not read


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["lagging", "pending", "complete"])
def test_the_series_api_the_charts_and_detection_agree_on_one_window(history, state):
    STATES[state](history)
    since = NOW - timedelta(hours=12, minutes=2, seconds=30)  # on a bucket boundary
    column = "mem_available_bytes"
    reader = read_columns(history.pk, [column], since, NOW, per_process=False)[None][column]
    chart = read_system(history.pk, [column], since, NOW, max_points=None)[column]
    api = read_series(history, METRICS["system.mem_available_bytes"], since, NOW)
    assert chart == reader
    assert [(datetime.fromisoformat(t), v) for t, v in api[0]["points"]] == reader
    # Detection's 5-minute lows are the lows of what the charts draw, bucket by bucket.
    lows: dict[float, float] = {}
    for t, v in reader:
        b = t.timestamp() // FIVE * FIVE
        lows[b] = min(v, lows.get(b, v))
    snapshot = load_snapshots([history.pk], NOW, hours=12 + 2.5 / 60)[0]
    detected = dict(
        zip(snapshot.system.t.tolist(), snapshot.system.series["mem_available"].tolist())
    )
    assert detected == lows
    # gopls lifetimes: the API and the chart read the same points too.
    rss = read_columns(history.pk, ["rss_bytes"], since, NOW, per_process=True)
    api = read_series(history, METRICS["gopls.rss_bytes"], since, NOW)
    assert [s["process_id"] for s in api] == sorted(rss)
    for trace in api:
        points = [(datetime.fromisoformat(t), v) for t, v in trace["points"]]
        assert points == rss[trace["process_id"]]["rss_bytes"]
    assert set(read_gopls(history.pk, ["rss_bytes"], since, NOW)) == set(rss)
