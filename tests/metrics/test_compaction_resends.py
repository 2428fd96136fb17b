"""A sample resent after its hour was compacted: every reader returns it once, and compaction
folds it away, also when the resend's clock-skew correction puts it into another hour than the
stored original (which is kept: the first stored copy of a sample wins, as at ingest).

A sample's identity is (sample id, agent time) for system samples and (gopls lifetime, agent
time) for gopls samples; `ts` (the server's corrected time) may differ between copies."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from apps.anomalies.loader import _oom_victims, load_snapshots
from apps.ingest.services import ingest_report
from apps.metrics.chunks.store import compact
from apps.metrics.models import (
    GoplsChunk,
    GoplsRollup,
    GoplsSample,
    SystemChunk,
    SystemRollup,
    SystemSample,
)
from apps.metrics.pending import roll_up_all_pending
from apps.metrics.reader import read_columns
from apps.metrics.rollups import roll_up_hours, roll_up_raw
from tests.metrics.test_compaction import AFTER, NOW, START, gopls_rows, ingest, system_rows

HOUR = timedelta(hours=1)
VICTIM = {"pid": 4242, "name": "gopls", "rss_bytes": 9_000_000_000, "at": "x"}
# The skewed upload: collected 09:40:30–10:17:15 by a clock two hours fast, so stored at
# 07:40:30–08:17:15; resent by a corrected clock, the copies land at 09:40:30–10:17:15.
SKEWED_AT = START + timedelta(minutes=175)
FAST = timedelta(hours=2)


def _victim(i, s):
    if i == 30:
        s["system"]["oom_victims"] = [VICTIM]


@pytest.fixture
def history(enrolled, settings):
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled
    ingest(machine, START, 120)  # 06:45:30–08:14:45
    skewed = ingest(machine, SKEWED_AT, 50, skew=-FAST, tweak=_victim)
    ingest(machine, START + timedelta(minutes=215), 140)  # 10:20:30–12:04:45
    roll_up_raw(START - HOUR, NOW)
    roll_up_hours(START - HOUR, NOW)
    compact(NOW, AFTER)
    assert SystemChunk.objects.filter(
        machine=machine, hour=START.replace(minute=0, second=0) + HOUR
    ).exists()
    machine.skewed_report = skewed
    return machine


def resend(machine, report, captured=None):
    """The agent missed the acknowledgement and sends the upload again, its clock now right."""
    again = copy.deepcopy(report)
    sent = report["samples"][-1]["collected_at"]
    from apps.common.timestamps import parse_timestamp

    received = parse_timestamp(sent) + timedelta(seconds=45)
    again["sent_at"] = sent
    if captured is None:
        result = ingest_report(machine, again, received_at=received)
    else:
        with captured(execute=True):  # report_stored → the late rollup range, as in production
            result = ingest_report(machine, again, received_at=received)
    assert result.accepted == 50  # the raw table no longer knows them: stored again
    assert result.clock_skew_s is None


def points(machine, since, until) -> tuple[list, list]:
    system = read_columns(
        machine.pk, ["mem_available_bytes", "cpu_percent"], since, until, per_process=False
    )
    gopls = read_columns(machine.pk, ["rss_bytes", "threads"], since, until, per_process=True)
    return (
        {c: sorted(p) for c, p in system[None].items()},
        {(k, c): sorted(p) for k, per in gopls.items() for c, p in per.items()},
    )


def detection(machine) -> dict:
    """Detection's series over the last 6 hours, aggregated from raw rows and chunks."""
    snap = load_snapshots([machine.pk], NOW, hours=6)[0]
    out = {k: v.tolist() for k, v in snap.system.series.items()}
    out["t"] = snap.system.t.tolist()
    for proc in snap.processes:
        out.update({f"{proc.pid}.{k}": v.tolist() for k, v in proc.series.items()})
        out[f"{proc.pid}.t"] = proc.t.tolist()
    return out


def assert_same(after: dict, before: dict) -> None:
    assert after.keys() == before.keys()
    for name, values in before.items():
        assert after[name] == pytest.approx(values, rel=1e-12, nan_ok=True), name


@pytest.mark.django_db
def test_every_reader_returns_a_resent_sample_once_while_it_is_both_raw_and_compacted(history):
    span = (START, NOW)
    before_points = points(history, *span)
    SystemRollup.objects.all().delete()  # detection aggregates raw rows and chunks only
    GoplsRollup.objects.all().delete()
    before_detection = detection(history)
    before_victims = _oom_victims([history.pk], NOW)[history.pk]
    assert before_victims == [VICTIM]

    resend(history, history.skewed_report)  # no range task ran: the copies sit in raw
    assert (
        SystemSample.objects.filter(
            machine=history, ts__lt=NOW.replace(minute=0, second=0) - AFTER
        ).count()
        == 26
    )

    assert points(history, *span) == before_points
    assert_same(detection(history), before_detection)
    assert _oom_victims([history.pk], NOW)[history.pk] == [VICTIM]


@pytest.mark.django_db
def test_a_resend_whose_skew_correction_moves_it_into_another_hour_is_stored_once(
    history, django_capture_on_commit_callbacks
):
    """The range task of the late copies expands only the hours of the copies (09:00, 10:00);
    the originals sit in the 07:00 and 08:00 chunks. Compaction drops the copies, keeps the
    originals and re-rolls the hours the copies had been rolled up into."""
    later = NOW + 2 * HOUR
    roll_up_raw(START - HOUR, later)
    roll_up_hours(START - HOUR, later)
    before = system_rows(history), gopls_rows(history)
    points_before, rollups_before = points(history, START, NOW), rollup_counts(history)

    resend(history, history.skewed_report, django_capture_on_commit_callbacks)
    roll_up_all_pending()
    assert points(history, START, NOW) == points_before

    compact(NOW, AFTER)
    compact(later, AFTER)  # the 10:00 hour is due too
    roll_up_hours(START - HOUR, later)
    assert (system_rows(history), gopls_rows(history)) == before
    assert rollup_counts(history) == rollups_before
    assert points(history, START, NOW) == points_before


def rollup_counts(machine) -> dict:
    """Samples per rollup bucket, system and gopls, 5-minute and hourly."""
    out = {}
    for model in (SystemRollup, GoplsRollup):
        for resolution, bucket, n in model.objects.filter(machine=machine).values_list(
            "resolution", "bucket", "n"
        ):
            key = (model.__name__, resolution, bucket)
            out[key] = out.get(key, 0) + n
    return out


@pytest.mark.django_db
def test_compaction_folds_a_resent_sample_into_the_chunk_that_holds_it_without_duplicating(
    history,
):
    before = system_rows(history), gopls_rows(history)
    resend(history, history.skewed_report)  # nothing rolled up: compaction meets the copies
    assert len(system_rows(history)) == len(before[0]) + 50
    compact(NOW + 2 * HOUR, AFTER)
    assert (system_rows(history), gopls_rows(history)) == before
    assert not SystemSample.objects.filter(
        machine=history, ts__lt=NOW.replace(minute=0, second=0)
    ).exists()
    for chunk, raw, rows in (
        (SystemChunk, SystemSample, before[0]),
        (GoplsChunk, GoplsSample, before[1]),
    ):
        compacted = sum(chunk.objects.filter(machine=history).values_list("n", flat=True))
        assert compacted + raw.objects.filter(machine=history).count() == len(rows)


@pytest.mark.django_db
def test_chunks_written_before_their_agent_time_range_was_kept_get_it_from_their_data(history):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("apps.metrics.migrations.0007_chunk_collected_range")
    want = {
        model: sorted(model.objects.values_list("pk", "collected_lo", "collected_hi"))
        for model in (SystemChunk, GoplsChunk)
    }
    for model in want:
        model.objects.update(collected_lo=None, collected_hi=None)
    migration.fill_collected_range(apps, None)
    for model, rows in want.items():
        assert rows
        assert sorted(model.objects.values_list("pk", "collected_lo", "collected_hi")) == rows
