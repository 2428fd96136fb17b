"""Ingest throughput counters: counted in memory, written to the cache within a second, read by
`rates()` per minute (what `/metrics` exports)."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

from django.core.cache import cache

from apps.metrics import counters
from apps.metrics.counters import _key, count_upload, flush_counts, rates


def a_minute() -> datetime:
    """A minute no other test (or earlier run against the same Redis) counted in."""
    start = datetime(2031, 1, 1, tzinfo=timezone.utc)
    return start + timedelta(minutes=random.randrange(10**6))


def test_uploads_and_samples_are_counted_per_minute_and_read_as_rates():
    minute = a_minute()
    for samples in (4, 4, 3):
        count_upload(samples, now=minute + timedelta(seconds=20))
    count_upload(5, now=minute + timedelta(minutes=1, seconds=1))  # the next minute
    got = rates(now=minute + timedelta(minutes=1, seconds=30))  # complete minutes only
    assert got == {"uploads": 3 / 300, "samples": 11 / 300}
    flush_counts()
    assert cache.get(_key("uploads", minute + timedelta(minutes=1))) == 1
    assert cache.get(_key("samples", minute + timedelta(minutes=1))) == 5


def test_counts_reach_the_cache_without_another_upload_or_read():
    minute = a_minute()
    count_upload(4, now=minute)
    assert cache.get(_key("uploads", minute)) is None  # no cache round trip per upload
    deadline = time.monotonic() + 10 * counters.FLUSH_AFTER_S
    while cache.get(_key("uploads", minute)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get(_key("uploads", minute)) == 1, "the timer did not write the counts"
    assert cache.get(_key("samples", minute)) == 4


def test_counts_add_to_what_other_processes_wrote():
    minute = a_minute()
    count_upload(2, now=minute)
    flush_counts()
    count_upload(3, now=minute)
    flush_counts()
    assert cache.get(_key("uploads", minute)) == 2
    assert cache.get(_key("samples", minute)) == 5


def test_a_cache_that_is_down_loses_the_counts_not_the_upload(monkeypatch, caplog):
    def down(counts):
        raise ConnectionError("redis is down")

    minute = a_minute()
    monkeypatch.setattr(counters, "_write", down)
    count_upload(4, now=minute)
    flush_counts()
    assert "could not write the ingest counters" in caplog.text
    monkeypatch.undo()
    flush_counts()
    assert cache.get(_key("uploads", minute)) is None
