"""Snapshot loading: rolled-up history plus a raw tail reads the same series as raw samples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from apps.anomalies.loader import load_snapshots
from apps.ingest.services import ingest_report
from apps.metrics.models import GoplsRollup, GoplsSample, SystemRollup
from apps.metrics.rollups import roll_up_raw
from tests.factories import iso, make_report

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc)
START = NOW - timedelta(hours=3)


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


def _history(machine) -> None:
    """Three hours of one gopls lifetime every 45 s: heap rising, CPU and watches varying."""
    started = iso(START - timedelta(minutes=5))
    for part in range(6):
        first = START + timedelta(minutes=30 * part)
        report = make_report(40, start=first, step_s=45, sent_at=first + timedelta(minutes=30))
        for k, s in enumerate(report["samples"]):
            i = part * 40 + k
            s["gopls"][0]["start_time"] = started
            s["gopls"][0]["rss_bytes"] = 600_000_000 + i * 2_000_000 + (i % 7) * 9_000_000
            s["gopls"][0]["cpu_percent"] = float((i * 13) % 40)
            s["gopls"][0]["debug"]["heap_inuse_bytes"] = 300_000_000 + i * 1_500_000
            s["inotify"]["watches_used"] = 1000 + (i * 37) % 500
        ingest_report(machine, report, received_at=first + timedelta(minutes=30))


def _series(snapshot) -> dict[str, np.ndarray]:
    proc = snapshot.processes[0]
    out = {"gopls.t": proc.t, "system.t": snapshot.system.t}
    out |= {f"gopls.{k}": v for k, v in proc.series.items()}
    out |= {f"system.{k}": v for k, v in snapshot.system.series.items()}
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape, name
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1.0, err_msg=name)


def test_rolled_up_history_gives_the_same_series_as_raw_samples(enrolled):
    machine, _ = enrolled
    _history(machine)
    raw_only = _series(load_snapshots([machine.pk], NOW, hours=6)[0])
    assert raw_only["gopls.t"].size >= 35  # 3 h of 5-minute buckets
    roll_up_raw(START - timedelta(minutes=10), NOW)
    assert GoplsRollup.objects.exists()
    assert SystemRollup.objects.exists()
    _assert_same(raw_only, _series(load_snapshots([machine.pk], NOW, hours=6)[0]))


def test_the_rollups_really_replace_old_raw_samples(enrolled):
    machine, _ = enrolled
    _history(machine)
    roll_up_raw(START - timedelta(minutes=10), NOW)
    GoplsSample.objects.filter(ts__lt=NOW - timedelta(hours=1)).delete()
    snap = load_snapshots([machine.pk], NOW, hours=6)[0]
    assert snap.processes[0].t[0] < (NOW - timedelta(hours=2)).timestamp()


def test_lagging_rollups_are_completed_from_raw_samples(enrolled):
    machine, _ = enrolled
    _history(machine)
    raw_only = _series(load_snapshots([machine.pk], NOW, hours=6)[0])
    # The rollup task stopped mid-bucket 2 hours ago: the newest rolled bucket is partial.
    roll_up_raw(START - timedelta(minutes=10), NOW - timedelta(hours=2, minutes=2))
    GoplsRollup.objects.filter(bucket__gte=NOW - timedelta(hours=2, minutes=5)).update(
        n=1, rss_min=1, heap_inuse_min=1
    )
    _assert_same(raw_only, _series(load_snapshots([machine.pk], NOW, hours=6)[0]))


def test_a_backfill_not_yet_rolled_up_is_read_raw_not_left_as_a_hole(enrolled):
    # The demo's leak findings resolved: the minute pass had rolled up the newest minutes of
    # a backfilled history, the backfill's own range was never rolled up, and detection read
    # rollups (only those minutes) before a short raw tail.
    from apps.metrics.pending import merge_pending

    machine, _ = enrolled
    _history(machine)
    raw_only = _series(load_snapshots([machine.pk], NOW, hours=6)[0])
    roll_up_raw(NOW - timedelta(minutes=40), NOW)  # only the minute pass ran
    merge_pending(machine.pk, START, NOW, NOW)  # what the ingest hook recorded
    _assert_same(raw_only, _series(load_snapshots([machine.pk], NOW, hours=6)[0]))


def test_a_short_window_reads_raw_samples_only(enrolled):
    machine, _ = enrolled
    _history(machine)
    before = _series(load_snapshots([machine.pk], NOW, hours=0.5)[0])
    roll_up_raw(START - timedelta(minutes=10), NOW)
    GoplsRollup.objects.update(rss_min=1)  # would show if the short window read rollups
    _assert_same(before, _series(load_snapshots([machine.pk], NOW, hours=0.5)[0]))


def test_inotify_top_consumers_come_from_the_newest_sample_summary(enrolled):
    machine, _ = enrolled
    report = make_report(3, start=NOW - timedelta(minutes=1), step_s=15, sent_at=NOW)
    report["samples"][-1]["inotify"]["top"] = [{"pid": 7, "name": "code", "watches": 99_000}]
    ingest_report(machine, report, received_at=NOW)
    machine.refresh_from_db()
    assert machine.latest["inotify_top"][0]["watches"] == 99_000
    snap = load_snapshots([machine.pk], NOW, hours=0.5)[0]
    assert snap.inotify_top == [{"pid": 7, "name": "code", "watches": 99_000}]


@pytest.mark.django_db(transaction=True)
def test_a_fleet_pass_in_chunks_finds_the_same_outside_a_transaction(settings):
    """On PostgreSQL outside a transaction, evaluate_fleet loads the next chunk on a second
    connection while the current one is evaluated: the findings are the same."""
    from apps.anomalies.evaluation import evaluate_fleet
    from apps.anomalies.models import Finding
    from tests.factories import enroll

    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machines = [enroll()[0] for _ in range(3)]
    for machine in machines:
        report = make_report(10, start=NOW - timedelta(minutes=5), step_s=30, sent_at=NOW)
        for s in report["samples"]:
            s["inotify"]["watches_used"] = int(0.95 * s["inotify"]["max_user_watches"])
        ingest_report(machine, report, received_at=NOW)
    stats = evaluate_fleet(NOW, chunk_size=1)
    assert stats.chunks == 3
    found = Finding.objects.filter(rule_id="inotify_watches")
    assert sorted(f.machine_id for f in found) == sorted(m.pk for m in machines)
    assert evaluate_fleet(NOW, chunk_size=1).outcome.opened == []
