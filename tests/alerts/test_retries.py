"""One owner of retries (#14 point 7) and no endless retry of any error (#11 point 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.alerts.delivery import deliver, flush_outbox, release_stuck
from apps.alerts.models import Channel, DeliveryAttempt, Notification, Route
from apps.alerts.outbox import queue_message
from apps.alerts.tasks import deliver_notification_task
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


def routed(team, kind, target) -> Channel:
    channel = Channel.objects.create(team=team, kind=kind, target=target)
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    return channel


def flush_for(minutes: int) -> None:
    for minute in range(1, minutes):
        flush_outbox(NOW + timedelta(minutes=minute * 10))


def test_a_delivery_that_raises_any_error_ends_as_failed_after_max_attempts(team, settings):
    settings.ALERTS_MAX_ATTEMPTS = 3
    channel = Channel.objects.create(team=team, kind="email", target="ops@example.com")
    # A row whose context is not a mapping makes rendering raise AttributeError, not a
    # TransportError: before, the row stayed 'sending', was handed back, and looped forever.
    pk = queue_message(channel, "test", "broken", ["not", "a", "mapping"], NOW)
    flush_for(20)
    row = Notification.objects.get(pk=pk)
    assert row.status == "failed"
    assert row.attempts == 3
    assert row.last_error == "gave up after 3 attempts: internal error (AttributeError)"
    assert DeliveryAttempt.objects.filter(notification=row, ok=False).count() == 3


def test_a_stored_webhook_url_with_a_space_fails_once_and_disables_the_channel(team, receiver):
    channel = routed(team, "webhook", receiver.url + "/a b")  # saved before save-time checks
    leak(machine())
    flush_for(5)
    row = Notification.objects.get(channel=channel)
    assert (row.status, row.attempts) == ("failed", 1)
    channel.refresh_from_db()
    assert not channel.enabled
    assert "spaces" in channel.disabled_reason
    assert receiver.requests == []


def test_a_row_whose_worker_keeps_dying_ends_as_failed(team, settings):
    settings.ALERTS_MAX_ATTEMPTS = 2
    channel = Channel.objects.create(team=team, kind="email", target="ops@example.com")
    pk = queue_message(channel, "test", "dies", {"title": "t"}, NOW)
    stale = NOW - timedelta(hours=1)
    Notification.objects.filter(pk=pk).update(status="sending", claimed_at=stale, attempts=1)
    assert release_stuck(NOW) == 1  # one attempt left: handed back
    assert Notification.objects.get(pk=pk).status == "pending"
    Notification.objects.filter(pk=pk).update(status="sending", claimed_at=stale, attempts=2)
    assert release_stuck(NOW) == 0
    row = Notification.objects.get(pk=pk)
    assert row.status == "failed"
    assert "the sending worker did not finish" in row.last_error


def test_a_transient_failure_is_retried_by_the_outbox_not_by_celery(team, receiver):
    routed(team, "webhook", receiver.url + "/down")
    receiver.statuses["/down"] = 503
    leak(machine())
    row = Notification.objects.get()
    Notification.objects.filter(pk=row.pk).update(not_before=NOW - timedelta(minutes=1))
    result = deliver_notification_task.apply(args=(row.pk,))
    assert result.state == "SUCCESS"  # an autoretrying task would end in RETRY
    assert result.result == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.not_before > NOW  # the outbox's backoff decides when it is tried again
    assert len(receiver.posts("/down")) == 1


def test_backoff_grows_and_the_same_key_is_kept_until_given_up(team, receiver, settings):
    settings.ALERTS_MAX_ATTEMPTS = 4
    routed(team, "webhook", receiver.url + "/down")
    receiver.statuses["/down"] = 500
    leak(machine())
    row = Notification.objects.get()
    waits, now = [], NOW
    while True:
        outcome = deliver(row.pk, now)
        row.refresh_from_db()
        if outcome != "retry":
            break
        waits.append((row.not_before - now).total_seconds())
        now = row.not_before
    assert outcome == "failed"
    assert waits == [5, 10, 20]
    assert len(receiver.posts("/down")) == 4
    assert len(receiver.distinct_keys("/down")) == 1
