"""A `manage.py maintain_storage` process SIGKILLed in the middle of compaction loses nothing and
duplicates nothing, and the next run completes the work.

The data is committed (transactional test database) so the child process sees it: on SQLite
the test database file, on PostgreSQL the run's test database. The child stops at a known
place through the compaction pause hook (`DEVFLEET_COMPACTION_PAUSE`, off unless set; see
apps/metrics/chunks/store.py) and is killed there with SIGKILL: on PostgreSQL its backend
rolls the open transaction back when the connection drops, on SQLite the uncommitted WAL
frames are ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.metrics.chunks import codec
from apps.metrics.chunks.store import GOPLS_FIELDS, PAUSE_ENV, SYSTEM_FIELDS, decode_rows
from apps.metrics.models import (
    GoplsChunk,
    GoplsRollup,
    GoplsSample,
    PendingRollup,
    SystemChunk,
    SystemRollup,
    SystemSample,
)
from apps.metrics.rollups import floor_time, roll_up_hours, roll_up_raw
from tests.conftest import REPO_ROOT
from tests.metrics.test_compaction import gopls_rows, ingest, system_rows
from tests.test_worker_integration import subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOUR = timedelta(hours=1)


@pytest.fixture
def history(enrolled, settings):
    """Five hours of samples ending 1 h 38 min before the hour now: a partial first hour, a gap
    of 40 minutes, an upload from a clock 20 minutes slow, an upload sent twice. Compaction
    (after 2 hours) folds four hours; the newest samples stay raw."""
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled
    now = timezone.now()
    base = floor_time(now, 3600) - 6 * HOUR + timedelta(minutes=17, seconds=30)
    ingest(machine, base, 120)
    ingest(machine, base + timedelta(minutes=130), 60)
    ingest(machine, base + timedelta(minutes=175), 50, skew=-timedelta(minutes=20))
    again = ingest(machine, base + timedelta(minutes=215), 40)
    from apps.ingest.services import ingest_report

    ingest_report(machine, again, received_at=base + timedelta(minutes=246))  # a retry
    assert not PendingRollup.objects.exists()  # late rollups ran (report_stored, eager)
    cutoff = floor_time(now - timedelta(hours=2), 3600)
    roll_up_raw(base - HOUR, now)
    roll_up_hours(base - HOUR, now)
    reference = rollups(machine, cutoff)
    # Rollups may lag behind compaction (a stopped beat): compaction itself must make them.
    SystemRollup.objects.all().delete()
    GoplsRollup.objects.all().delete()
    return machine, cutoff, reference


def rollups(machine, cutoff) -> list[tuple]:
    out = []
    for model in (SystemRollup, GoplsRollup):
        names = [f.column for f in model._meta.concrete_fields if f.column != "id"]
        rows = model.objects.filter(machine=machine, bucket__lt=cutoff).values_list(*names)
        out += sorted((model.__name__, *(str(v) for v in row[:4]), *row[4:]) for row in rows)
    return out


def assert_same_rollups(got: list[tuple], want: list[tuple]) -> None:
    """Equal rollups; averages may differ in the last bit (PostgreSQL sums in row order)."""
    assert [r[:5] for r in got] == [r[:5] for r in want]
    for mine, theirs in zip(got, want):
        assert [v is None for v in mine] == [v is None for v in theirs], mine
        pairs = list(zip(mine[5:], theirs[5:]))
        numbers = [(a, b) for a, b in pairs if isinstance(b, float)]
        assert [a for a, b in pairs if not isinstance(b, float)] == [
            b for _, b in pairs if not isinstance(b, float)
        ], mine
        assert [a for a, _ in numbers] == pytest.approx([b for _, b in numbers], rel=1e-12), mine


def run_maintain(tmp_path, pause: str | None = None) -> subprocess.Popen:
    env = subprocess_env(tmp_path)
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(
        [sys.executable, "manage.py", "maintain_storage"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_at(tmp_path, point: str, count: int) -> None:
    """Start maintain_storage, wait until it pauses at the `count`-th pass through `point`
    and SIGKILL it there."""
    marker = tmp_path / f"paused-{point}-{count}"
    child = run_maintain(tmp_path, f"{point}:{count}:{marker}")
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"maintain_storage ended before {point}:{count}: {out!r} {err!r}")
        assert time.monotonic() < deadline, f"maintain_storage never reached {point}:{count}"
        time.sleep(0.05)
    assert int(marker.read_text()) == child.pid
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    child.stdout.close()
    child.stderr.close()


def complete(tmp_path) -> str:
    child = run_maintain(tmp_path)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    return out.decode()


def assert_consistent(machine, cutoff, before) -> None:
    """Every sample once with every column equal; compacted hours hold no raw rows, each chunk
    holds its hour's samples and its agent-time range, and no sample is in two chunks."""
    assert (system_rows(machine), gopls_rows(machine)) == before
    for model, chunk_model, spec, key in (
        (SystemSample, SystemChunk, SYSTEM_FIELDS, ("sample_uid", "collected_at")),
        (GoplsSample, GoplsChunk, GOPLS_FIELDS, ("collected_at",)),
    ):
        names = [n for n, _ in spec]
        ts, at = names.index("ts"), names.index("collected_at")
        seen = set()
        for chunk in chunk_model.objects.filter(machine=machine):
            assert chunk.hour < cutoff
            rows = decode_rows(chunk.data, spec)
            assert chunk.n == len(rows) > 0
            assert all(chunk.hour <= r[ts] < chunk.hour + HOUR for r in rows)
            assert chunk.collected_lo == min(r[at] for r in rows)
            assert chunk.collected_hi == max(r[at] for r in rows)
            owner = getattr(chunk, "process_id", None) if model is GoplsSample else None
            for r in rows:
                identity = (owner, *(codec.to_micros(r[names.index(k)]) if k == "collected_at"
                                     else r[names.index(k)] for k in key))  # fmt: skip
                assert identity not in seen
                seen.add(identity)
            assert not model.objects.filter(
                machine=machine, ts__gte=chunk.hour, ts__lt=chunk.hour + HOUR
            ).exists()


@pytest.mark.parametrize(
    ("point", "count", "committed"),
    [
        ("written", 2, 1),  # inside the second hour: its chunk written, raw rows still there
        ("deleted", 1, 0),  # inside the first hour: raw rows deleted, not committed
        ("committed", 2, 2),  # between hours: two hours done, two not started
    ],
)
def test_a_compaction_killed_at_any_point_is_completed_by_the_next_run(
    history, tmp_path, point, count, committed
):
    machine, cutoff, reference = history
    before = system_rows(machine), gopls_rows(machine)
    assert len(before[0]) == 270  # 120 + 60 + 50 + 40: the retried upload stored once

    kill_at(tmp_path, point, count)
    assert SystemChunk.objects.filter(machine=machine).count() == committed
    assert (system_rows(machine), gopls_rows(machine)) == before

    out = complete(tmp_path)
    assert f"compacted {4 - committed} machine hours" in out
    assert SystemChunk.objects.filter(machine=machine).count() == 4
    assert not SystemSample.objects.filter(machine=machine, ts__lt=cutoff).exists()
    assert SystemSample.objects.filter(machine=machine, ts__gte=cutoff).exists()
    assert_consistent(machine, cutoff, before)
    assert_same_rollups(rollups(machine, cutoff), reference)
    assert "compacted 0 machine hours" in complete(tmp_path)
