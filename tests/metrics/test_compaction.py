"""History compaction: every column of every sample round-trips through chunks; retries, late
samples, skewed clocks and partial hours are stored once; an aborted compaction leaves a
state the next run completes; reads over raw and compacted history return each sample once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from apps.anomalies.loader import load_snapshots
from apps.ingest.services import ingest_report
from apps.metrics.chunks import store
from apps.metrics.chunks.maintain import run_compaction
from apps.metrics.chunks.store import GOPLS_FIELDS, SYSTEM_FIELDS, compact, decode_rows
from apps.metrics.models import (
    GoplsChunk,
    GoplsSample,
    SystemChunk,
    SystemRollup,
    SystemSample,
)
from apps.metrics.pending import roll_up_all_pending
from apps.metrics.reader import read_columns
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours, roll_up_raw
from tests.factories import iso, make_report

NOW = datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc)
START = NOW - timedelta(hours=5, minutes=17)  # a partial first hour
AFTER = timedelta(hours=2)
SYSTEM_NAMES = [n for n, _ in SYSTEM_FIELDS]
GOPLS_NAMES = [n for n, _ in GOPLS_FIELDS]


def ingest(machine, start, n, step_s=45, skew=timedelta(0), tweak=None):
    report = make_report(
        n, start=start, step_s=step_s, sent_at=start + timedelta(seconds=n * step_s)
    )
    for i, s in enumerate(report["samples"]):
        s["gopls"][0]["start_time"] = iso(START - timedelta(minutes=30))
        s["system"]["mem_available_bytes"] = 4_000_000_000 - (i % 11) * 50_000_000 - i
        s["system"]["cpu_percent"] = (i * 7.3) % 100 / 3
        if i % 9 == 4:
            s["system"].pop("cpu_percent")  # a null in the middle of a column
        if tweak:
            tweak(i, s)
    received = start + timedelta(seconds=n * step_s) + skew
    ingest_report(machine, report, received_at=received)
    return report


@pytest.fixture
def history(enrolled, settings):
    """5 h 17 min of samples: a gap of 40 minutes, one upload from a clock 20 minutes fast."""
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled
    ingest(machine, START, 120)  # 90 minutes
    ingest(machine, START + timedelta(minutes=130), 60)
    ingest(machine, START + timedelta(minutes=175), 50, skew=-timedelta(minutes=20))
    ingest(machine, START + timedelta(minutes=215), 140)
    roll_up_all_pending()
    roll_up_raw(START - timedelta(hours=1), NOW)
    roll_up_hours(START - timedelta(hours=1), NOW)
    return machine


def system_rows(machine) -> list[tuple]:
    raw = list(SystemSample.objects.filter(machine=machine).values_list(*SYSTEM_NAMES))
    for chunk in SystemChunk.objects.filter(machine=machine):
        raw += decode_rows(chunk.data, SYSTEM_FIELDS)
    return sorted(raw, key=lambda r: (r[0], r[1]))


def gopls_rows(machine) -> list[tuple]:
    raw = list(GoplsSample.objects.filter(machine=machine).values_list("process_id", *GOPLS_NAMES))
    for chunk in GoplsChunk.objects.filter(machine=machine):
        raw += [(chunk.process_id, *r) for r in decode_rows(chunk.data, GOPLS_FIELDS)]
    return sorted(raw, key=lambda r: (r[0], r[1]))


def reads(machine) -> dict:
    out = {}
    for span in (timedelta(hours=6), timedelta(days=2), timedelta(days=10)):
        out[span] = (
            read_columns(
                machine.pk,
                ["mem_available_bytes", "cpu_percent", "load1"],
                NOW - span,
                NOW,
                per_process=False,
            ),
            read_columns(machine.pk, ["rss_bytes", "threads"], NOW - span, NOW, per_process=True),
        )
    return out


def assert_same_reads(after: dict, before: dict) -> None:
    """The same points; rollup averages recomputed by compaction may differ in the last bit
    (PostgreSQL sums in physical row order)."""
    assert after.keys() == before.keys()
    for span in before:
        for got, want in zip(after[span], before[span]):
            assert got.keys() == want.keys()
            for key in want:
                for column, points in want[key].items():
                    mine = got[key][column]
                    assert [t for t, _ in mine] == [t for t, _ in points]
                    assert [v for _, v in mine] == pytest.approx([v for _, v in points], rel=1e-12)


def detection(machine) -> dict:
    snap = load_snapshots([machine.pk], NOW, hours=6)[0]
    out = {k: v.tolist() for k, v in snap.system.series.items()}
    out["t"] = snap.system.t.tolist()
    return out


@pytest.mark.django_db
def test_compaction_keeps_every_column_of_every_sample_and_reads_do_not_change(history):
    before = system_rows(history), gopls_rows(history)
    read_before, detect_before = reads(history), detection(history)
    done = compact(NOW, AFTER)
    assert done["hours"] >= 3
    assert done["rows"] > 0
    assert not SystemSample.objects.filter(
        machine=history, ts__lt=NOW - AFTER - timedelta(hours=1)
    ).exists()
    assert SystemChunk.objects.filter(machine=history).exists()
    assert GoplsChunk.objects.filter(machine=history).exists()
    assert (system_rows(history), gopls_rows(history)) == before
    assert_same_reads(reads(history), read_before)
    detected = detection(history)
    assert detected.keys() == detect_before.keys()
    for name, values in detect_before.items():
        assert detected[name] == pytest.approx(values, rel=1e-12, nan_ok=True)
    six_hours = reads(history)[timedelta(hours=6)][0][None]["mem_available_bytes"]
    times = [t for t, _ in six_hours]
    assert times == sorted(set(times))  # raw and compacted: each sample once, in order
    assert len(times) == SystemSample.objects.filter(machine=history, ts__lte=NOW).count() + sum(
        SystemChunk.objects.filter(machine=history).values_list("n", flat=True)
    )


@pytest.mark.django_db
def test_compaction_is_idempotent(history):
    compact(NOW, AFTER)
    blobs = sorted(bytes(b) for b in SystemChunk.objects.values_list("data", flat=True))
    again = compact(NOW, AFTER)
    assert again["hours"] == 0
    assert again["rows"] == 0
    assert sorted(bytes(b) for b in SystemChunk.objects.values_list("data", flat=True)) == blobs


@pytest.mark.django_db
def test_a_retried_upload_after_compaction_is_stored_once(history):
    before = system_rows(history), gopls_rows(history)
    compact(NOW, AFTER)
    # The agent never saw the acknowledgement and sends the first upload again.
    report = make_report(3, start=START, step_s=45, sent_at=START + timedelta(minutes=2))
    first = SystemChunk.objects.order_by("hour").first()
    uid, collected = decode_rows(first.data, SYSTEM_FIELDS)[0][:2]
    report["samples"] = report["samples"][:1]
    report["samples"][0]["id"] = uid
    report["samples"][0]["collected_at"] = iso(collected)
    report["samples"][0]["gopls"] = []
    ingest_report(history, report, received_at=START + timedelta(minutes=2))
    roll_up_all_pending()
    compact(NOW, AFTER)
    assert system_rows(history) == before[0]
    assert gopls_rows(history) == before[1]


@pytest.mark.django_db
def test_late_samples_for_a_compacted_hour_are_merged_and_rolled_up(
    history, django_capture_on_commit_callbacks
):
    compact(NOW, AFTER)
    hour = SystemChunk.objects.filter(machine=history).order_by("hour").first().hour
    n_before = SystemChunk.objects.get(machine=history, hour=hour).n
    late_start = hour + timedelta(minutes=1, seconds=3)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(history, late_start, 4, step_s=7)  # queues the machine's late rollup range
    reads_pending = read_columns(
        history.pk,
        ["mem_available_bytes"],
        hour,
        hour + timedelta(minutes=59, seconds=59),
        per_process=False,
    )[None]["mem_available_bytes"]
    assert len(reads_pending) == n_before + 4
    roll_up_all_pending()  # expands the hour back to raw rows, rolls it up with the late samples
    buckets = SystemRollup.objects.filter(
        machine=history, resolution=300, bucket__gte=hour, bucket__lt=hour + timedelta(hours=1)
    )
    assert sum(buckets.values_list("n", flat=True)) == n_before + 4
    compact(NOW, AFTER)
    assert SystemChunk.objects.get(machine=history, hour=hour).n == n_before + 4
    assert not SystemSample.objects.filter(
        machine=history, ts__lt=hour + timedelta(hours=1)
    ).exists()
    points = read_columns(
        history.pk,
        ["mem_available_bytes"],
        hour,
        hour + timedelta(minutes=59, seconds=59),
        per_process=False,
    )[None]["mem_available_bytes"]
    assert [t for t, _ in points] == sorted({t for t, _ in points})
    assert len(points) == n_before + 4


@pytest.mark.django_db
def test_hours_of_a_pending_range_stay_raw_until_rolled_up(history):
    from apps.metrics.pending import merge_pending

    merge_pending(history.pk, START, NOW, NOW)
    assert compact(NOW, AFTER)["hours"] == 0
    assert not SystemChunk.objects.exists()


@pytest.mark.django_db
def test_an_aborted_compaction_loses_and_duplicates_nothing_and_the_next_run_completes(
    history, monkeypatch
):
    before = system_rows(history), gopls_rows(history)
    real_delete = store._delete
    calls = []

    def delete_then_die(model, ids):
        calls.append(model)
        if len(calls) == 3:  # the chunk of the second hour is written, its raw rows not deleted
            raise RuntimeError("killed between chunk write and delete")
        real_delete(model, ids)

    monkeypatch.setattr(store, "_delete", delete_then_die)
    with pytest.raises(RuntimeError):
        compact(NOW, AFTER)
    assert (system_rows(history), gopls_rows(history)) == before  # the aborted hour rolled back
    assert SystemChunk.objects.count() == 1  # the hour committed before the failure stays
    monkeypatch.setattr(store, "_delete", real_delete)
    assert compact(NOW, AFTER)["hours"] >= 2
    assert (system_rows(history), gopls_rows(history)) == before


@pytest.mark.django_db
def test_chunks_follow_the_raw_retention(history, settings):
    compact(NOW, AFTER)
    later = NOW + timedelta(days=settings.RETENTION_RAW_DAYS, hours=1)
    deleted = prune(later)
    assert deleted["system_chunks"] >= 3
    assert not SystemChunk.objects.exists()
    assert not GoplsChunk.objects.exists()


@pytest.mark.django_db
def test_maintain_storage_runs_rollups_compaction_and_retention_once(history, capsys):
    call_command("maintain_storage")
    out = capsys.readouterr().out
    assert "compacted" in out
    assert "retention deleted" in out
    # Samples from November 2026 are older than two hours whenever this runs: all compacted.
    assert not SystemSample.objects.exists()
    assert not GoplsSample.objects.exists()
    assert run_compaction(datetime.now(timezone.utc))["hours"] == 0


@pytest.mark.django_db
def test_detection_aggregates_compacted_hours_like_raw_ones(history):
    """Without rollups detection aggregates the whole window from raw rows; after compaction
    the same buckets come from chunks (numpy) and the raw tail (SQL)."""
    from apps.metrics.models import GoplsRollup

    def without_rollups() -> dict:
        SystemRollup.objects.all().delete()
        GoplsRollup.objects.all().delete()
        snap = load_snapshots([history.pk], NOW, hours=6)[0]
        out = {k: v.tolist() for k, v in snap.system.series.items()}
        out["t"] = snap.system.t.tolist()
        for proc in snap.processes:
            out.update({f"{proc.pid}.{k}": v.tolist() for k, v in proc.series.items()})
        return out

    before = without_rollups()
    compact(NOW, AFTER)
    after = without_rollups()
    assert after.keys() == before.keys()
    for name, values in before.items():
        assert after[name] == pytest.approx(values, rel=1e-12, nan_ok=True), name
