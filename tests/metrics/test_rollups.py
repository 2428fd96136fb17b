"""Rollups (5 min from raw, 1 h from 5 min), long-range series reads, retention tiers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.ingest.services import ingest_report
from apps.metrics.catalog import METRICS
from apps.metrics.models import GoplsRollup, GoplsSample, Resolution, SystemRollup, SystemSample
from apps.metrics.partitions import ensure_partitions
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours, roll_up_raw
from apps.metrics.series import read_series, resolution_for
from tests.factories import make_report

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def load(machine, minutes: int, start: datetime = T0):
    """One sample every 15 s; available memory and gopls RSS rise 1 MiB per sample."""
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        report = make_report(4, start=at, sent_at=at + timedelta(minutes=1))
        for i, sample in enumerate(report["samples"]):
            step = minute * 4 + i
            sample["system"]["mem_available_bytes"] = 1_000_000_000 + step * 2**20
            sample["gopls"][0]["rss_bytes"] = 300_000_000 + step * 2**20
        ingest_report(machine, report, received_at=at + timedelta(minutes=1))


def test_five_minute_buckets_aggregate_raw_samples(enrolled):
    machine, _ = enrolled
    load(machine, 30)
    roll_up_raw(T0, T0 + timedelta(minutes=30))
    buckets = SystemRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES)
    assert buckets.count() == 6
    first = buckets.order_by("bucket").first()
    assert first.bucket == T0
    assert first.n == 20
    assert first.mem_available_min == 1_000_000_000
    assert first.mem_available_avg == pytest.approx(1_000_000_000 + 9.5 * 2**20)
    gopls = GoplsRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES)
    assert gopls.count() == 6
    last = gopls.order_by("bucket").last()
    assert last.rss_max == 300_000_000 + 119 * 2**20
    assert last.rss_min == 300_000_000 + 100 * 2**20


def test_rolling_up_twice_changes_nothing_and_late_samples_are_folded_in(enrolled):
    machine, _ = enrolled
    load(machine, 10)
    roll_up_raw(T0, T0 + timedelta(minutes=10))
    roll_up_raw(T0, T0 + timedelta(minutes=10))
    assert SystemRollup.objects.count() == 2
    assert SystemRollup.objects.order_by("bucket").first().n == 20
    late = make_report(
        1, start=T0 + timedelta(minutes=2, seconds=7), sent_at=T0 + timedelta(hours=1)
    )
    ingest_report(machine, late, received_at=T0 + timedelta(hours=1))
    roll_up_raw(T0, T0 + timedelta(minutes=10), machine_ids=[machine.pk])
    assert SystemRollup.objects.order_by("bucket").first().n == 21


def test_hour_buckets_merge_five_minute_buckets(enrolled):
    machine, _ = enrolled
    load(machine, 60)
    roll_up_raw(T0, T0 + timedelta(hours=1))
    roll_up_hours(T0, T0 + timedelta(hours=1))
    hour = SystemRollup.objects.get(machine=machine, resolution=Resolution.ONE_HOUR)
    assert hour.n == 240
    assert hour.mem_available_min == 1_000_000_000
    assert hour.mem_available_avg == pytest.approx(1_000_000_000 + 119.5 * 2**20)
    gopls_hour = GoplsRollup.objects.get(machine=machine, resolution=Resolution.ONE_HOUR)
    assert gopls_hour.rss_max == 300_000_000 + 239 * 2**20


def test_long_ranges_read_rollups_and_short_ones_raw(enrolled):
    machine, _ = enrolled
    load(machine, 60)
    roll_up_raw(T0, T0 + timedelta(hours=1))
    roll_up_hours(T0, T0 + timedelta(hours=1))
    metric = METRICS["gopls.rss_bytes"]
    assert resolution_for(T0, T0 + timedelta(hours=1), metric) is None
    assert resolution_for(T0, T0 + timedelta(days=2), metric) == Resolution.FIVE_MINUTES
    assert resolution_for(T0, T0 + timedelta(days=30), metric) == Resolution.ONE_HOUR
    raw = read_series(machine, metric, T0, T0 + timedelta(hours=1))
    assert len(raw[0]["points"]) == 240
    # Rollup buckets up to the newest one, which may be partial, so raw samples redraw it.
    five = read_series(machine, metric, T0 - timedelta(days=1), T0 + timedelta(days=1))
    points = five[0]["points"]
    assert [p[0] for p in points[:11]] == [
        (T0 + timedelta(minutes=5 * i)).isoformat().replace("+00:00", "Z") for i in range(11)
    ]
    assert [p[1] for p in points[:11]] == [300_000_000 + (20 * i + 19) * 2**20 for i in range(11)]
    assert len(points) == 11 + 20  # the newest bucket's 20 raw samples
    month = read_series(machine, metric, T0 - timedelta(days=29), T0 + timedelta(days=1))
    assert len(month[0]["points"]) == 240  # the one hour bucket is the newest: read raw
    assert month[0]["points"][-1][1] == 300_000_000 + 239 * 2**20


@pytest.mark.django_db(transaction=True)  # on PostgreSQL retention drops whole partitions
def test_retention_drops_each_tier_at_its_own_age(enrolled, settings):
    machine, _ = enrolled
    load(machine, 10)
    roll_up_raw(T0, T0 + timedelta(minutes=10))
    roll_up_hours(T0, T0 + timedelta(minutes=10))
    prune(T0 + timedelta(days=settings.RETENTION_RAW_DAYS + 1, hours=1))  # whole days go
    assert SystemSample.objects.count() == 0
    assert GoplsSample.objects.count() == 0
    assert SystemRollup.objects.count() == 3  # both 5-minute buckets and the hour remain
    prune(T0 + timedelta(days=settings.RETENTION_5M_DAYS, hours=1))
    assert list(SystemRollup.objects.values_list("resolution", flat=True)) == [3600]
    prune(T0 + timedelta(days=settings.RETENTION_1H_DAYS, hours=1))
    assert SystemRollup.objects.count() == 0
    ensure_partitions(datetime.now(timezone.utc).date())  # put back what the test dropped


@pytest.mark.django_db(transaction=True)
def test_late_uploads_are_rolled_up_by_the_after_ingest_hook(enrolled):
    machine, _ = enrolled
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    report = make_report(40, start=old, sent_at=datetime.now(timezone.utc))
    ingest_report(machine, report)  # eager Celery in tests: the hook's task runs at commit
    assert SystemRollup.objects.filter(machine=machine, resolution=300).count() >= 2
    assert SystemRollup.objects.filter(machine=machine, resolution=3600).exists()
