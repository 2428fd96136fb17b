"""add_channel, the staff pages with the test button, the admin, ack links, the weekly digest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from apps.alerts.delivery import flush_outbox
from apps.alerts.digest import send_digests
from apps.alerts.models import Channel, Notification, Route
from apps.alerts.tokens import ack_token
from apps.anomalies.lifecycle import resolve_finding
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


def test_add_channel_creates_a_channel_with_a_catch_all_route(team, capsys):
    call_command("add_channel", team="Platform", kind="email", target="oncall@example.com")
    channel = Channel.objects.get()
    assert (channel.team, channel.kind, channel.target) == (team, "email", "oncall@example.com")
    assert list(Route.objects.get().channels.all()) == [channel]
    assert f"channel {channel.pk} (email)" in capsys.readouterr().out


def test_add_channel_refuses_bad_targets_and_unknown_teams(team):
    with pytest.raises(CommandError, match="invalid address"):
        call_command("add_channel", team="Platform", kind="email", target="nope")
    with pytest.raises(CommandError, match="http"):
        call_command("add_channel", team="Platform", kind="slack", target="ftp://x")
    with pytest.raises(CommandError, match="no team"):
        call_command("add_channel", team="Nobody", kind="webhook", target="http://x/")
    assert not Channel.objects.exists()


def test_staff_edit_a_channel_and_send_a_test_message(client, alice, team, receiver):
    client.force_login(alice)
    response = client.post(
        "/alerts/channels/new/",
        {"team": team.pk, "name": "ops", "kind": "slack", "target": receiver.url + "/t",
         "min_severity": "warning", "enabled": "on"},
    )  # fmt: skip
    channel = Channel.objects.get(name="ops")
    assert response.status_code == 302
    client.post(f"/alerts/channels/{channel.pk}/test/")
    flush_outbox()
    assert "devfleet test message" in receiver.posts("/t")[0]["json"]["text"]
    page = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    assert "Send test message" in page
    assert "sent" in page


def test_staff_add_a_route(client, alice, team):
    channel = Channel.objects.create(team=team, kind="email", target="a@example.com")
    client.force_login(alice)
    client.post(
        "/alerts/routes/new/",
        {"team": team.pk, "rule_id": "gopls_memory_leak", "min_severity": "critical",
         "channels": [channel.pk], "enabled": "on"},
    )  # fmt: skip
    route = Route.objects.get()
    assert (route.rule_id, route.min_severity) == ("gopls_memory_leak", "critical")


def test_channel_pages_are_for_staff_only(client, bob):
    client.force_login(bob)
    assert client.get("/alerts/channels/").status_code == 302


@pytest.mark.parametrize(
    "model", ["channel", "route", "silence", "notification", "deliveryattempt"]
)
def test_the_admin_lists_every_alerts_model(client, django_user_model, model):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    assert client.get(f"/admin/alerts/{model}/").status_code == 200


def test_an_expired_or_forged_ack_link_acknowledges_nothing(client, settings, team):
    finding = leak(machine())
    assert client.get("/alerts/ack/forged/").status_code == 400
    settings.ALERTS_ACK_MAX_AGE_S = -1
    assert client.post(f"/alerts/ack/{ack_token(finding.pk)}/").status_code == 400
    finding.refresh_from_db()
    assert finding.acknowledged_at is None


def test_the_ack_link_requires_the_csrf_token(team):
    from django.test import Client

    finding = leak(machine())
    response = Client(enforce_csrf_checks=True).post(f"/alerts/ack/{ack_token(finding.pk)}/")
    assert response.status_code == 403


def test_the_weekly_digest_emails_each_team_once_per_week(team, smtp):
    Channel.objects.create(team=team, kind="email", target="leads@example.com")
    m = machine()
    leak(m, NOW - timedelta(days=2))
    resolve_finding(leak(m, NOW - timedelta(days=3), rule="gopls_crash_loop"), NOW)
    assert send_digests(NOW) == 1
    assert send_digests(NOW + timedelta(hours=1)) == 0
    Notification.objects.filter(kind="digest").update(not_before=NOW)
    flush_outbox(NOW + timedelta(minutes=1))
    digest = [m for m in smtp.messages if "Weekly devfleet digest" in m["Subject"]]
    assert len(digest) == 1
    body = smtp.bodies()[smtp.messages.index(digest[0])]
    assert "Findings opened this week: 2 (previous week: 0); resolved: 1." in body
    assert "1 x gopls memory grows (gopls_memory_leak)" in body
