"""Late uploads are rolled up: their ranges are kept in the database until rolled up, so no
process restart, per-process cache or failing database loses them (bench/soak.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from apps.ingest.services import ingest_report
from apps.metrics import pending, tasks
from apps.metrics.models import PendingRollup, Resolution, SystemRollup
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


def late_upload(machine, hours_ago: float = 2.0) -> None:
    """One upload of 20 samples (five minutes) collected `hours_ago`, as a draining agent's."""
    start = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    ingest_report(machine, make_report(20, start=start))


def five_minute_rows(machine) -> int:
    return SystemRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES).count()


def oldest_bucket(machine) -> datetime:
    rows = SystemRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES)
    return min(rows.values_list("bucket", flat=True))


def test_it_rolls_up_a_late_upload(enrolled, django_capture_on_commit_callbacks):
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine)
    assert five_minute_rows(machine) >= 1
    assert not PendingRollup.objects.filter(machine=machine).exists()


@pytest.fixture
def queued(monkeypatch):
    """Late-rollup tasks queued instead of run, as their args."""
    out = []
    monkeypatch.setattr(tasks.roll_up_late_task, "apply_async", lambda args, **kw: out.append(args))
    return out


def run_queued(args) -> None:
    tasks.roll_up_late_task.apply(args=args, throw=True)


def test_ranges_of_many_uploads_merge_into_one_durable_range_and_one_task(
    enrolled, django_capture_on_commit_callbacks, queued
):
    # Each upload of a draining spool may land on another web process: the range is merged
    # in the database, not a per-process cache, so the one task rolls up all of them.
    machine, _ = enrolled
    for hours in (5, 3, 1):
        with django_capture_on_commit_callbacks(execute=True):
            late_upload(machine, hours_ago=hours)
    assert queued == [(machine.pk,)]
    row = PendingRollup.objects.get(machine=machine)
    now = datetime.now(timezone.utc)
    assert row.lo < now - timedelta(hours=4.9)
    assert row.hi > now - timedelta(hours=1)
    assert row.generation == 3
    run_queued(queued[0])
    assert oldest_bucket(machine) < now - timedelta(hours=4.9)
    assert five_minute_rows(machine) >= 3
    assert not PendingRollup.objects.exists()


def test_a_database_error_retries_and_keeps_the_range(
    enrolled, django_capture_on_commit_callbacks, monkeypatch, queued
):
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=3)

    def restarting(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(pending, "roll_up_raw", restarting)
    with pytest.raises(Retry) as retry:
        tasks.roll_up_late_task.apply(args=queued[0])
    assert PendingRollup.objects.filter(machine=machine).exists()  # still known
    monkeypatch.undo()
    run_queued(retry.value.sig.args)
    assert oldest_bucket(machine) < datetime.now(timezone.utc) - timedelta(hours=2.5)
    assert not PendingRollup.objects.exists()


def test_a_range_merged_while_rolling_up_gets_a_pass_of_its_own(
    enrolled, django_capture_on_commit_callbacks, monkeypatch, queued
):
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=3)
    real = pending.roll_up_raw

    def with_upload_meanwhile(*args, **kwargs):
        monkeypatch.setattr(pending, "roll_up_raw", real)
        late_upload(machine, hours_ago=6)  # its hook sees a task queued and adds none
        pending.merge_pending(
            machine.pk,
            datetime.now(timezone.utc) - timedelta(hours=6),
            datetime.now(timezone.utc) - timedelta(hours=5.9),
            datetime.now(timezone.utc),
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(pending, "roll_up_raw", with_upload_meanwhile)
    run_queued(queued.pop())
    assert PendingRollup.objects.filter(machine=machine).exists()
    assert queued == [(machine.pk,)]  # queued again
    run_queued(queued.pop())
    assert oldest_bucket(machine) < datetime.now(timezone.utc) - timedelta(hours=5.8)
    assert not PendingRollup.objects.exists()


def test_the_minute_pass_requeues_a_range_whose_task_was_lost(
    enrolled, django_capture_on_commit_callbacks, queued
):
    # The soak: the worker crashed while holding the countdown tasks of the last late
    # uploads; no late upload came after, so only the minute pass can queue them again.
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=1)
    queued.clear()  # held by the worker that crashed
    now = datetime.now(timezone.utc)
    assert tasks.requeue_lost_late_rollups(now) == 0  # just queued: not lost yet
    later = now + tasks.LOST_AFTER + timedelta(seconds=1)
    assert tasks.requeue_lost_late_rollups(later) == 1
    assert tasks.requeue_lost_late_rollups(later) == 0  # once
    run_queued(queued[0])
    assert five_minute_rows(machine) >= 1
    assert tasks.requeue_lost_late_rollups(later + timedelta(hours=1)) == 0


def test_a_message_from_an_older_version_still_rolls_up_its_range(enrolled):
    machine, _ = enrolled
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    ingest_report(machine, make_report(20, start=start))  # hooks not run: outside on_commit
    run_queued((machine.pk, start.isoformat(), (start + timedelta(minutes=5)).isoformat()))
    assert five_minute_rows(machine) >= 1


def test_roll_up_all_pending_drains_every_machine(enrolled, queued):
    second_machine, _ = enroll("Platform")
    for machine in (enrolled[0], second_machine):
        start = datetime.now(timezone.utc) - timedelta(hours=2)
        ingest_report(machine, make_report(20, start=start))
        pending.merge_pending(
            machine.pk, start, start + timedelta(minutes=5), datetime.now(timezone.utc)
        )
    assert pending.roll_up_all_pending() == 2
    assert five_minute_rows(enrolled[0]) >= 1
    assert five_minute_rows(second_machine) >= 1
    assert not PendingRollup.objects.exists()
