"""Late uploads are rolled up even when PostgreSQL or Redis fail under them (bench/soak.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from celery.exceptions import Retry
from django.core.cache import cache
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.ingest.services import ingest_report
from apps.metrics import tasks
from apps.metrics.models import Resolution, SystemRollup
from tests.factories import make_report

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def late_upload(machine, hours_ago: float = 2.0) -> None:
    """One upload of 20 samples (five minutes) collected `hours_ago`, as a draining agent's."""
    start = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    ingest_report(machine, make_report(20, start=start))


def five_minute_rows(machine) -> int:
    return SystemRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES).count()


def test_it_rolls_up_a_late_upload(enrolled, django_capture_on_commit_callbacks):
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine)
    assert five_minute_rows(machine) >= 1
    assert cache.get(tasks._late_key(machine.pk)) is None


@pytest.fixture
def queued(monkeypatch):
    """Late-rollup tasks queued instead of run, as (args, options)."""
    out = []
    monkeypatch.setattr(tasks.roll_up_late_task, "apply_async", lambda args, **kw: out.append(args))
    return out


def run_queued(args) -> None:
    tasks.roll_up_late_task.apply(args=args, throw=True)


def test_a_database_error_retries_with_the_whole_range(
    enrolled, django_capture_on_commit_callbacks, monkeypatch, queued
):
    # The soak found 5-minute buckets missing for good: the task took the range out of the
    # cache, then PostgreSQL restarted under it and the range was forgotten.
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=3)
    monkeypatch.setattr(cache, "add", lambda *a, **kw: False)  # coalesced into that task
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=1)
    assert len(queued) == 1

    def restarting(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(tasks, "roll_up_raw", restarting)
    with pytest.raises(Retry) as retry:
        tasks.roll_up_late_task.apply(args=queued[0])
    retry_args = retry.value.sig.args
    assert datetime.fromisoformat(retry_args[1]) < datetime.now(timezone.utc) - timedelta(hours=2.5)
    assert datetime.fromisoformat(retry_args[2]) > datetime.now(timezone.utc) - timedelta(hours=1)
    assert cache.get(tasks._late_key(machine.pk)) is not None  # still known
    monkeypatch.undo()
    run_queued(retry_args)
    assert five_minute_rows(machine) >= 2
    assert cache.get(tasks._late_key(machine.pk)) is None


def test_a_range_survives_a_task_that_never_ran(
    enrolled, django_capture_on_commit_callbacks, queued
):
    # A worker SIGKILLed mid-task: its message may come back only much later, so the range
    # stays in the cache and the machine's next late upload queues a task that covers both.
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=3)
    queued.clear()  # that task is lost
    cache.delete(tasks._late_key(machine.pk) + ":queued")  # its coalescing window is over
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=1)
    run_queued(queued[0])
    rows = SystemRollup.objects.filter(machine=machine, resolution=Resolution.FIVE_MINUTES)
    oldest = min(rows.values_list("bucket", flat=True))
    assert oldest < datetime.now(timezone.utc) - timedelta(hours=2.5)  # the lost range too


def test_an_upload_stored_while_redis_is_down_is_answered_and_rolled_up(
    enrolled, django_capture_on_commit_callbacks, monkeypatch, queued
):
    machine, _ = enrolled

    def down(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in ("get", "add", "set", "incr"):
        monkeypatch.setattr(cache, name, down)
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine)  # must not raise: the samples are stored
    monkeypatch.undo()
    run_queued(queued[0])  # the task runs once Redis is back
    assert five_minute_rows(machine) >= 1


def test_the_minute_pass_requeues_a_range_whose_task_was_lost(
    enrolled, django_capture_on_commit_callbacks, queued
):
    # The soak: the worker crashed on a Redis crash while holding the countdown tasks of the
    # last late uploads; no late upload came after, so nothing queued those ranges again.
    machine, _ = enrolled
    with django_capture_on_commit_callbacks(execute=True):
        late_upload(machine, hours_ago=1)
    queued.clear()  # held by the worker that crashed
    now = datetime.now(timezone.utc)
    assert tasks.requeue_lost_late_rollups(now) == 0  # its marker says it is still queued
    cache.delete(tasks._late_key(machine.pk) + ":queued")  # the marker expires
    assert tasks.requeue_lost_late_rollups(now) == 1
    assert tasks.requeue_lost_late_rollups(now) == 0  # once
    run_queued(queued[0])
    assert five_minute_rows(machine) >= 1
    assert cache.get(tasks._late_key(machine.pk)) is None
    assert tasks.requeue_lost_late_rollups(now) == 0
