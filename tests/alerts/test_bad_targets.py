"""Acceptance C: unreachable hosts, 500s, 410 Gone and invalid addresses show in channel health."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.alerts.delivery import deliver, flush_outbox
from apps.alerts.models import Channel, DeliveryAttempt, Notification, Route
from tests.alerts.helpers import NOW, leak, machine
from tests.alerts.receivers import free_port

pytestmark = pytest.mark.django_db


def only(team, kind, target, **kw) -> Channel:
    channel = Channel.objects.create(team=team, kind=kind, target=target, **kw)
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    return channel


def test_a_500_is_retried_with_backoff_and_the_same_key_until_it_succeeds(team, receiver):
    channel = only(team, "webhook", receiver.url + "/flaky")
    receiver.statuses["/flaky"] = 500
    leak(machine())
    row = Notification.objects.get()
    assert deliver(row.pk, NOW) == "retry"  # the outbox owns the retry, nothing is raised
    row.refresh_from_db()
    assert row.status == "pending"
    assert row.not_before > NOW
    assert deliver(row.pk, NOW) == "skipped"  # not due yet: backoff
    channel.refresh_from_db()
    assert channel.enabled
    assert channel.last_error.startswith("HTTP 500")
    receiver.statuses["/flaky"] = 200
    assert flush_outbox(NOW + timedelta(minutes=1)) == {"sent": 1}
    channel.refresh_from_db()
    assert channel.last_success_at is not None
    assert channel.healthy
    assert len(receiver.distinct_keys("/flaky")) == 1
    assert len(receiver.posts("/flaky")) == 2


def test_an_unreachable_host_is_retried_then_given_up_without_disabling(team, settings):
    settings.ALERTS_MAX_ATTEMPTS = 3
    channel = only(team, "slack", f"http://127.0.0.1:{free_port()}/nobody")
    leak(machine())
    for minute in range(1, 20):
        flush_outbox(NOW + timedelta(minutes=minute * 10))
    row = Notification.objects.get()
    assert row.status == "failed"
    assert row.attempts == 3
    assert "gave up after 3 attempts" in row.last_error
    channel.refresh_from_db()
    assert channel.enabled
    assert "cannot reach" in channel.last_error
    assert DeliveryAttempt.objects.filter(ok=False, permanent=False).count() == 3


def test_410_gone_disables_the_channel_and_tells_the_team_through_another(team, receiver, smtp):
    gone = only(team, "teams", receiver.url + "/gone")
    only(team, "email", "leads@example.com")
    receiver.statuses["/gone"] = 410
    leak(machine())
    flush_outbox(NOW)
    gone.refresh_from_db()
    assert not gone.enabled
    assert gone.disabled_reason.startswith("HTTP 410")
    flush_outbox(NOW + timedelta(seconds=1))
    subjects = [m["Subject"] for m in smtp.messages]
    assert any("Alert channel disabled" in s for s in subjects)
    assert Notification.objects.get(channel=gone, kind="opened").status == "failed"
    leak(machine())  # a disabled channel gets no new rows
    assert Notification.objects.filter(channel=gone).count() == 1


def test_a_refused_recipient_disables_an_email_channel(team, smtp):
    channel = only(team, "email", "bounce@example.com")
    leak(machine())
    flush_outbox(NOW)
    channel.refresh_from_db()
    assert not channel.enabled
    assert "refused" in channel.last_error
    assert DeliveryAttempt.objects.get().permanent


def test_an_invalid_address_fails_permanently_without_a_connection(team, smtp):
    channel = only(team, "email", "not an address")
    leak(machine())
    flush_outbox(NOW)
    channel.refresh_from_db()
    assert not channel.enabled
    assert "invalid address" in channel.disabled_reason
    assert smtp.messages == []


def test_the_channel_page_shows_health(team, receiver, client, alice):
    channel = only(team, "webhook", receiver.url + "/gone")
    receiver.statuses["/gone"] = 410
    leak(machine())
    flush_outbox(NOW)
    client.force_login(alice)
    page = client.get("/alerts/channels/").content.decode()
    assert "disabled" in page
    assert "HTTP 410" in page
    detail = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    assert "Last error" in detail
