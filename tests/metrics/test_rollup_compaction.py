"""Rollup compaction: every rollup column round-trips through rollup chunks; rows written later
win over a chunk's bucket and are merged by the next run; late samples are rolled up over
chunk and rows; an aborted compaction leaves a state the next run completes; chunks follow
their tier's retention; every reader (series API, charts, detection, the 1-hour roll-up)
reads chunk and rows with each bucket once and gives the same points as before compaction."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from apps.anomalies.evaluation import _hour_means
from apps.anomalies.loader import load_snapshots
from apps.dashboard.services.series import read_gopls, read_system
from apps.fleet.models import GoplsProcess
from apps.metrics.chunks import rollup_store
from apps.metrics.chunks.rollup_store import (
    GOPLS_SPEC,
    SYSTEM_SPEC,
    compact_rollups,
    entries,
)
from apps.metrics.chunks.store import decode_rows
from apps.metrics.columns import system_row
from apps.metrics.models import (
    GoplsRollup,
    GoplsRollupChunk,
    Resolution,
    SystemRollup,
    SystemRollupChunk,
)
from apps.metrics.pending import merge_pending, roll_up_all_pending
from apps.metrics.reader import read_columns
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours
from apps.metrics.writer import insert_system_samples
from tests.factories import make_report

NOW = datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc)
DAYS = 31
FIVE, HOUR = int(Resolution.FIVE_MINUTES), int(Resolution.ONE_HOUR)
AFTER = timedelta(hours=24)
SYSTEM_NAMES = [n for n, _ in SYSTEM_SPEC]
GOPLS_NAMES = [n for n, _ in GOPLS_SPEC]


def _value(rng: random.Random, field, i: int):
    """A value for a rollup column: nulls now and then, large integers, fractional floats."""
    if field.null and rng.random() < 0.07:
        return None
    kind = field.get_internal_type()
    if kind == "FloatField":
        return rng.random() * 10 ** rng.randint(0, 10)
    if kind == "DateTimeField":
        return None  # set by the caller
    if kind in ("SmallIntegerField",):
        return rng.randint(0, 300)
    if kind == "IntegerField":
        return rng.randint(0, 2_000_000)
    return 16_000_000_000 - i * 4096 + rng.randint(-(2**20), 2**20)  # bytes


def _fill(model, rng, i: int, **fixed):
    values = {}
    for f in model._meta.concrete_fields:
        if f.column in ("id", "machine_id", "process_id", "resolution", "bucket", "n"):
            continue
        values[f.attname] = _value(rng, f, i)
    return model(**fixed, **values)


@pytest.fixture
def history(enrolled):
    """31 days of 5-minute rollups (a gap of half a day, a gopls lifetime of three days in the
    middle, one that spans everything) and the hourly rollups computed from them."""
    machine, _ = enrolled
    rng = random.Random(15)
    start = NOW - timedelta(days=DAYS)
    long = GoplsProcess.objects.create(
        machine=machine, pid=100, start_time=start, first_seen=start, last_seen=NOW
    )
    short_start = NOW - timedelta(days=12)
    short = GoplsProcess.objects.create(
        machine=machine, pid=200, start_time=short_start, first_seen=short_start,
        last_seen=short_start + timedelta(days=3),
    )  # fmt: skip
    system, gopls = [], []
    gap = (NOW - timedelta(days=20), NOW - timedelta(days=19, hours=12))
    for i in range(DAYS * 288):
        bucket = start - timedelta(seconds=start.timestamp() % FIVE) + timedelta(minutes=5 * i)
        if bucket > NOW or gap[0] <= bucket < gap[1]:
            continue
        common = {"machine": machine, "resolution": FIVE, "bucket": bucket}
        system.append(_fill(SystemRollup, rng, i, n=rng.randint(1, 20), **common))
        for proc in (long, short):
            if proc.first_seen <= bucket <= proc.last_seen:
                row = _fill(GoplsRollup, rng, i, process=proc, n=rng.randint(1, 20), **common)
                row.ts_first = bucket + timedelta(seconds=rng.randint(0, 30), microseconds=7)
                row.ts_last = bucket + timedelta(seconds=rng.randint(200, 299), microseconds=3)
                gopls.append(row)
    SystemRollup.objects.bulk_create(system, batch_size=2000)
    GoplsRollup.objects.bulk_create(gopls, batch_size=2000)
    roll_up_hours(start - timedelta(hours=1), NOW)
    return machine


def stored(per_process: bool) -> dict:
    """{(resolution, [process,] bucket): every column} from rows and chunks; a row wins."""
    rollup, chunk_model, spec = rollup_store.models_for(per_process)
    names = [n for n, _ in spec]
    out = {}
    for chunk in chunk_model.objects.all():
        for row in decode_rows(chunk.data, spec):
            d = dict(zip(names, row))
            key = (chunk.resolution, d.get("process_id"), d["bucket"])
            assert key not in out, "a bucket stored twice in chunks"
            out[key] = d
    for row in rollup.objects.values("resolution", *names):
        d = dict(row)
        out[(d.pop("resolution"), d.get("process_id"), d["bucket"])] = d
    return out


def rows_left() -> int:
    return SystemRollup.objects.count() + GoplsRollup.objects.count()


def reads(machine, until=NOW) -> dict:
    """What the series API, the charts and detection's reads see over 1, 7 and 30 days."""
    out = {}
    for days in (1, 7, 30):
        since = until - timedelta(days=days)
        out[days] = (
            read_columns(machine.pk, ["mem_available_bytes", "cpu_percent"], since, until,
                         per_process=False),
            read_columns(machine.pk, ["rss_bytes", "heap_inuse_bytes"], since, until,
                         per_process=True),
        )  # fmt: skip
    return out


@pytest.mark.django_db
def test_every_rollup_column_round_trips_exactly_through_chunks(history):
    before = stored(False), stored(True)
    done = compact_rollups(NOW, AFTER)
    assert done["periods"] >= 30
    assert SystemRollupChunk.objects.filter(resolution=FIVE).count() >= 29
    assert SystemRollupChunk.objects.filter(resolution=HOUR).count() >= 4
    assert GoplsRollupChunk.objects.filter(resolution=FIVE).exists()
    # Only recent periods (the last day or two of 5-minute, the current week of hourly) stay.
    assert not SystemRollup.objects.filter(resolution=FIVE, bucket__lt=NOW - 2 * AFTER).exists()
    assert not GoplsRollup.objects.filter(
        resolution=HOUR, bucket__lt=NOW - timedelta(days=8)
    ).exists()
    after = stored(False), stored(True)
    assert after == before  # every column, floats and times exactly


@pytest.mark.django_db
def test_compaction_is_idempotent(history):
    compact_rollups(NOW, AFTER)
    blobs = sorted(bytes(b) for b in SystemRollupChunk.objects.values_list("data", flat=True))
    left = rows_left()
    assert compact_rollups(NOW, AFTER) == {"periods": 0, "rows": 0, "conflicts": 0}
    assert sorted(bytes(b) for b in SystemRollupChunk.objects.values_list("data", flat=True)) == (
        blobs
    )
    assert rows_left() == left


@pytest.mark.django_db
def test_a_row_written_later_wins_over_the_chunk_and_the_next_compaction_merges_it(history):
    compact_rollups(NOW, AFTER)
    bucket = datetime(2026, 11, 10, 8, 5, tzinfo=timezone.utc)
    old = entries(False, [history.pk], FIVE, bucket, bucket, ["n", "mem_available_min"])
    assert len(old) == 1
    SystemRollup.objects.create(
        machine=history, resolution=FIVE, bucket=bucket, n=99, mem_available_min=123
    )
    day = entries(False, [history.pk], FIVE, bucket - timedelta(hours=8), bucket + timedelta(
        hours=8), ["n", "mem_available_min"])  # fmt: skip
    assert [e[1] for e in day] == sorted({e[1] for e in day})  # each bucket once
    assert [e[2:] for e in day if e[1] == bucket] == [(99, 123)]
    assert compact_rollups(NOW, AFTER)["rows"] == 1
    assert not SystemRollup.objects.filter(bucket=bucket).exists()
    again = entries(False, [history.pk], FIVE, bucket, bucket, ["n", "mem_available_min"])
    assert [e[2:] for e in again] == [(99, 123)]
    assert stored(False)[(FIVE, None, bucket)]["n"] == 99


@pytest.mark.django_db
def test_late_samples_after_compaction_are_rolled_up_over_chunk_and_rows(history, settings):
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    compact_rollups(NOW, AFTER)
    hour = datetime(2026, 11, 6, 14, 0, tzinfo=timezone.utc)
    before = {e[1]: e for e in entries(False, [history.pk], FIVE, hour, hour + timedelta(
        minutes=55), ["n", "mem_available_min", "cpu_percent_avg"])}  # fmt: skip
    assert len(before) == 12
    late = make_report(3, start=hour + timedelta(minutes=21), step_s=20)["samples"]
    rows = []
    for i, sample in enumerate(late):
        sample["system"]["mem_available_bytes"] = 1000 + i
        columns, detail = system_row(sample)
        ts = hour + timedelta(minutes=21, seconds=20 * i)
        columns.update(machine_id=history.pk, sample_uid=sample["id"], collected_at=ts, ts=ts,
                       received_at=NOW, clock_skew_s=None, detail=detail)  # fmt: skip
        rows.append(columns)
    insert_system_samples(rows)
    merge_pending(history.pk, hour + timedelta(minutes=21), hour + timedelta(minutes=22), NOW)
    roll_up_all_pending()  # the range task: 5-minute rows from raw, hours from chunk + rows
    bucket = hour + timedelta(minutes=20)
    now = {e[1]: e for e in entries(False, [history.pk], FIVE, hour, hour + timedelta(
        minutes=55), ["n", "mem_available_min", "cpu_percent_avg"])}  # fmt: skip
    assert now.keys() == before.keys()
    assert now[bucket][2:4] == (3, 1000)
    assert {b: e for b, e in now.items() if b != bucket} == {
        b: e for b, e in before.items() if b != bucket
    }
    (hourly,) = entries(False, [history.pk], HOUR, hour, hour, ["n", "mem_available_min"])
    assert hourly[2] == sum(e[2] for e in now.values())
    assert hourly[3] == min(e[3] for e in now.values() if e[3] is not None) == 1000
    cpu = [(e[4], e[2]) for e in now.values() if e[4] is not None]
    avg = entries(False, [history.pk], HOUR, hour, hour, ["cpu_percent_avg"])[0][2]
    assert avg == pytest.approx(sum(v * n for v, n in cpu) / sum(n for _, n in cpu), rel=1e-12)
    # The next compaction folds the late rows into the chunks.
    compact_rollups(NOW, AFTER)
    assert not SystemRollup.objects.filter(resolution=FIVE, bucket__lt=NOW - 2 * AFTER).exists()
    assert not SystemRollup.objects.filter(resolution=HOUR, bucket__lt=NOW - 8 * AFTER).exists()
    assert stored(False)[(FIVE, None, bucket)]["mem_available_min"] == 1000
    assert stored(False)[(HOUR, None, hour)]["mem_available_min"] == 1000


@pytest.mark.django_db
def test_a_range_task_rolls_up_its_hours_even_when_a_compaction_folded_its_rows_first(history):
    compact_rollups(NOW, AFTER)
    hour = datetime(2026, 11, 6, 14, 0, tzinfo=timezone.utc)
    bucket = hour + timedelta(minutes=20)
    SystemRollup.objects.create(
        machine=history, resolution=FIVE, bucket=bucket, n=1000, mem_available_min=7
    )  # the range task's 5-minute statement …
    compact_rollups(NOW, AFTER)  # … a compaction commits before its hourly one …
    assert not SystemRollup.objects.filter(resolution=FIVE, bucket=bucket).exists()
    roll_up_hours(hour, hour + timedelta(minutes=59), machine_ids=[history.pk])  # … which runs
    (hourly,) = entries(False, [history.pk], HOUR, hour, hour, ["n", "mem_available_min"])
    assert hourly[3] == 7
    assert hourly[2] == sum(e[2] for e in entries(False, [history.pk], FIVE, hour, hour + timedelta(
        minutes=55), ["n"]))  # fmt: skip


@pytest.mark.django_db
def test_an_aborted_compaction_loses_and_duplicates_nothing_and_the_next_run_completes(
    history, monkeypatch
):
    before = stored(False), stored(True)
    real_delete = rollup_store._delete
    calls = []

    def delete_then_die(model, ids):
        calls.append(model)
        if len(calls) == 4:  # the second period's chunks are written, its rows not deleted
            raise RuntimeError("killed between chunk write and delete")
        real_delete(model, ids)

    monkeypatch.setattr(rollup_store, "_delete", delete_then_die)
    with pytest.raises(RuntimeError):
        compact_rollups(NOW, AFTER)
    assert (stored(False), stored(True)) == before
    assert SystemRollupChunk.objects.count() == 1  # the period committed before the failure
    monkeypatch.setattr(rollup_store, "_delete", real_delete)
    assert compact_rollups(NOW, AFTER)["periods"] >= 30
    assert (stored(False), stored(True)) == before


@pytest.mark.django_db
def test_rollup_chunks_follow_their_tiers_retention(history, settings):
    compact_rollups(NOW, AFTER)
    settings.RETENTION_5M_DAYS, settings.RETENTION_1H_DAYS = 10, 20
    deleted = prune(NOW)
    assert deleted["system_rollup_chunks_5m"] >= 20
    assert deleted["system_rollup_chunks_1h"] >= 1
    assert deleted["gopls_rollup_chunks_5m"] >= 1
    five_cutoff, hour_cutoff = NOW - timedelta(days=10), NOW - timedelta(days=20)
    for model in (SystemRollupChunk, GoplsRollupChunk):
        # Whole periods past the limit are gone; the one straddling it stays until it passes.
        assert not model.objects.filter(
            resolution=FIVE, start__lte=five_cutoff - timedelta(days=1)
        ).exists()
        assert not model.objects.filter(
            resolution=HOUR, start__lte=hour_cutoff - timedelta(days=7)
        ).exists()
    assert SystemRollupChunk.objects.filter(resolution=FIVE, start__gt=five_cutoff).exists()
    kept = entries(False, [history.pk], FIVE, NOW - timedelta(days=10), NOW, ["n"])
    assert len(kept) == 10 * 288 - 1  # every 5-minute bucket within the limit is still read


@pytest.mark.django_db
def test_readers_spanning_rows_and_chunks_return_each_bucket_once(history):
    compact_rollups(NOW, AFTER)
    assert SystemRollup.objects.filter(resolution=FIVE).exists()  # recent periods are rows
    for days, resolution in ((7, FIVE), (30, HOUR)):
        since = NOW - timedelta(days=days)
        found = entries(False, [history.pk], resolution, since, NOW, ["mem_available_min"])
        points = read_columns(history.pk, ["mem_available_bytes"], since, NOW, per_process=False)
        times = [t for t, _ in points[None]["mem_available_bytes"]]
        assert times == sorted(set(times))
        # Every bucket with a value once; the newest one is read raw (it may be partial).
        newest = found[-1][1]
        assert times == [e[1] for e in found if e[2] is not None and e[1] < newest]
        gopls = read_columns(history.pk, ["rss_bytes"], since, NOW, per_process=True)
        for per in gopls.values():
            times = [t for t, _ in per["rss_bytes"]]
            assert times == sorted(set(times))


@pytest.mark.django_db
def test_series_api_charts_and_detection_are_the_same_before_and_after_compaction(
    history, client, alice
):
    client.force_login(alice)
    since = (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    until = NOW.isoformat().replace("+00:00", "Z")

    def api() -> list:
        out = []
        for metric in ("system.mem_available_bytes", "gopls.rss_bytes", "system.cpu_percent"):
            for frm in (since, (NOW - timedelta(days=7)).isoformat().replace("+00:00", "Z")):
                response = client.get(
                    f"/api/v1/machines/{history.machine_id}/series/",
                    {"metric": metric, "since": frm, "until": until},
                )
                assert response.status_code == 200, response.content
                out.append(response.json())
        return out

    def charts() -> list:
        out = []
        for days in (1, 7, 30):
            window = (NOW - timedelta(days=days), NOW)
            out.append(read_system(history.pk, ["mem_available_bytes", "cpu_percent"], *window))
            out.append(read_gopls(history.pk, ["rss_bytes", "heap_inuse_bytes"], *window))
        return out

    def detection(now: datetime) -> dict:
        snap = load_snapshots([history.pk], now, hours=6)[0]
        out = {k: v.tolist() for k, v in snap.system.series.items()}
        for proc in snap.processes:
            out.update({f"{proc.pid}.{k}": v.tolist() for k, v in proc.series.items()})
        out["peers"] = _hour_means([history.pk], now)
        return out

    past = datetime(2026, 11, 12, 12, 0, tzinfo=timezone.utc)  # a replay inside the short life
    before = api(), charts(), reads(history), detection(past)
    assert sum(len(s["points"]) for s in before[0][0]["series"]) > 600
    assert compact_rollups(NOW, AFTER)["periods"] >= 30
    after = api(), charts(), reads(history), detection(past)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert after[3].keys() == before[3].keys()
    assert after[3].pop("peers") == before[3].pop("peers")
    for name, values in before[3].items():
        assert after[3][name] == pytest.approx(values, rel=1e-12, nan_ok=True), name


@pytest.mark.django_db
def test_maintain_storage_compacts_rollups(history, capsys):
    call_command("maintain_storage")
    assert "rollup periods" in capsys.readouterr().out
    # November 2026 has ended more than a day before this runs: every period is compacted.
    assert not SystemRollup.objects.exists()
    assert not GoplsRollup.objects.exists()
    assert SystemRollupChunk.objects.exists()


KILLED_MID_COMPACTION = """
import pathlib, sys, time
import django
django.setup()
from datetime import datetime, timedelta, timezone
from apps.metrics.chunks import rollup_store

real, calls = rollup_store._delete, []


def stall(model, ids):
    calls.append(model)
    if len(calls) == 5:  # the third period's chunk is written, its rows not yet deleted
        pathlib.Path(sys.argv[1]).write_text("inside the transaction")
        time.sleep(600)
    real(model, ids)


rollup_store._delete = stall
rollup_store.compact_rollups(datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc),
                             timedelta(hours=24))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_compaction_killed_with_sigkill_loses_nothing_and_the_next_run_completes(
    history, tmp_path
):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT
    from tests.test_worker_integration import subprocess_env

    before = stored(False), stored(True)
    flag = tmp_path / "inside"
    env = {**subprocess_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_COMPACTION, str(flag)], cwd=REPO_ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), f"the compaction never reached its third period ({child.poll()})"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    # Two periods committed before the kill; the third rolled back with the process.
    assert SystemRollupChunk.objects.count() == 2
    assert (stored(False), stored(True)) == before
    assert compact_rollups(NOW, AFTER)["periods"] >= 30
    assert (stored(False), stored(True)) == before
    assert compact_rollups(NOW, AFTER)["periods"] == 0
