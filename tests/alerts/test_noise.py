"""Noise control: rate limit, cause chains, developer opt-in, escalation, outbox atomicity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Channel, Notification, Route
from apps.anomalies.chains import link_causes
from apps.anomalies.lifecycle import change_severity, resolve_finding
from apps.anomalies.models import Finding
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


def test_a_channel_sends_at_most_the_rate_limit_per_minute_and_the_rest_wait(
    wired, receiver, settings
):
    settings.ALERTS_RATE_PER_MINUTE = 2
    m = machine()
    for i in range(4):
        leak(m, rule=f"rule_{i}", title=f"Problem {i}")
    flush_outbox(NOW)
    assert len(receiver.posts("/slack")) == 2
    assert Notification.objects.filter(channel=wired[1]["slack"], status="pending").count() == 2
    flush_outbox(NOW + timedelta(seconds=61))
    assert len(receiver.posts("/slack")) == 4


def test_a_cause_chain_sends_one_message_naming_the_root_cause(wired, smtp, settings):
    settings.ALERTS_GROUP_WAIT_S = 30
    m = machine()
    root = leak(m, rule="wsl_memory_pressure", title="WSL is out of memory", severity="critical")
    leak(m, rule="gopls_memory_high", title="gopls uses too much memory")
    leak(m, rule="gopls_crash_loop", title="gopls keeps crashing")
    link_causes(list(Finding.objects.open()), NOW)
    flush_outbox(NOW + timedelta(minutes=1))
    assert len(smtp.messages) == 1
    assert "WSL is out of memory (root cause of 2 more)" in smtp.messages[0]["Subject"]
    body = smtp.bodies()[0]
    assert "gopls uses too much memory" in body
    assert "gopls keeps crashing" in body
    explained = Notification.objects.filter(channel=wired[1]["email"]).exclude(finding=root)
    assert {n.status for n in explained} == {"suppressed"}


def test_a_developer_who_opted_in_hears_about_their_own_machine_only(db, smtp, bob, carol):
    from apps.fleet.models import Team

    team = Team.objects.create(name="Platform")
    Channel.objects.create(team=team, kind="email", target="bob@example.com", owner=bob)
    leak(machine(owner="bob"))
    leak(machine(owner="carol"), rule="other_rule")
    flush_outbox(NOW)
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]


def test_a_route_for_another_rule_or_a_higher_severity_sends_nothing(db, smtp, team):
    channel = Channel.objects.create(team=team, kind="email", target="x@example.com")
    Route.objects.create(team=team, rule_id="gopls_crash_loop").channels.add(channel)
    Route.objects.create(team=team, min_severity="critical").channels.add(channel)
    finding = leak(machine())
    flush_outbox(NOW)
    assert smtp.messages == []
    change_severity(finding, "critical", NOW + timedelta(minutes=1))
    flush_outbox(NOW + timedelta(minutes=1))
    assert smtp.messages[0]["Subject"].endswith("Escalated: gopls memory grows")


def test_the_outbox_row_rolls_back_with_the_finding_change(wired):
    m = machine()
    written = []

    def transition_then_fail():
        with transaction.atomic():
            leak(m)
            written.append(Notification.objects.count())
            raise RuntimeError("evaluation failed after the transition")

    with pytest.raises(RuntimeError):
        transition_then_fail()
    assert written == [4]
    assert not Finding.objects.exists()
    assert not Notification.objects.exists()


def test_a_finding_that_resolves_within_the_group_wait_sends_nothing(wired, smtp, settings):
    settings.ALERTS_GROUP_WAIT_S = 30
    finding = leak(machine())
    resolve_finding(finding, NOW + timedelta(seconds=10))
    flush_outbox(NOW + timedelta(minutes=1))
    assert smtp.messages == []
    statuses = set(Notification.objects.values_list("status", flat=True))
    assert statuses == {"suppressed"}


def test_a_developer_opts_in_on_the_my_alerts_page(client, bob, smtp):
    m = machine(owner="bob")
    client.force_login(bob)
    client.post(
        "/alerts/me/", {"kind": "email", "target": "bob@home.example", "min_severity": "info"}
    )
    channel = Channel.objects.get(owner=bob)
    assert channel.team == m.team
    leak(m)
    flush_outbox(NOW)
    assert [msg["To"] for msg in smtp.messages] == ["bob@home.example"]
    client.post("/alerts/me/", {"delete": channel.pk})
    assert not Channel.objects.filter(owner=bob).exists()
