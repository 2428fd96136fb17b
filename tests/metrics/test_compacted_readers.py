"""Readers besides the series reader see compacted history: detection's OOM victims of the
last day, the machine page's "Right now" fallbacks and its empty-chart reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.anomalies.loader import _oom_victims
from apps.dashboard.services.machine import empty_reason, right_now
from apps.metrics.chunks.store import compact
from apps.metrics.models import SystemChunk, SystemSample
from tests.metrics.test_compaction import AFTER, NOW, START, ingest

VICTIM = {"pid": 4242, "name": "gopls", "rss_bytes": 9_000_000_000, "at": "x"}


@pytest.fixture
def compacted(enrolled, settings):
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled

    def tweak(i, s):
        if i == 3:
            s["system"]["oom_victims"] = [VICTIM]
        s["go"]["caches"]["gocache_bytes"] = 123_456 if i == 5 else None

    ingest(machine, START, 100, tweak=tweak)
    ingest(machine, NOW - timedelta(minutes=30), 20, tweak=lambda i, s: tweak(-1, s))
    done = compact(NOW, AFTER)
    assert done["hours"] >= 1
    machine.refresh_from_db()
    return machine


@pytest.mark.django_db
def test_oom_victims_of_compacted_samples_reach_detection(compacted):
    assert SystemChunk.objects.filter(machine=compacted, has_oom_victims=True).count() == 1
    assert _oom_victims([compacted.pk], NOW)[compacted.pk] == [VICTIM]


@pytest.mark.django_db
def test_right_now_falls_back_to_the_newest_compacted_value(compacted):
    assert not SystemSample.objects.filter(machine=compacted, gocache_bytes__isnull=False).exists()
    compacted.last_sample_at = NOW
    assert right_now(compacted, {"gocache_bytes": None})["gocache_bytes"] == 123_456


@pytest.mark.django_db
def test_a_range_with_only_compacted_samples_is_not_called_empty(compacted):
    compacted.last_sample_at = NOW
    old = START + timedelta(minutes=10), START + timedelta(minutes=40)
    assert not SystemSample.objects.filter(machine=compacted, ts__lte=old[1]).exists()
    assert "no reports in this range" not in empty_reason(compacted, "cpu", *old)
    gap = START - timedelta(hours=3), START - timedelta(hours=2)
    assert "no reports in this range" in empty_reason(compacted, "cpu", *gap)
