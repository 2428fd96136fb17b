"""Acceptance A: a simulated leak reaches a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Notification, Silence
from apps.alerts.repeats import queue_repeats
from apps.anomalies.evaluation import evaluate_fleet
from apps.anomalies.lifecycle import resolve_finding
from apps.anomalies.models import Finding
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


def simulate_leak():
    # Seed 19: of the machine's two leaking workspaces (restarted half a cycle apart), one has
    # leaked for almost 3 hours and the other was restarted 4 minutes ago: one leak finding.
    # (A finding about a process that has exited rightly resolves.)
    call_command(
        "simulate_fleet",
        machines=1,
        hours=3,
        seed=19,
        end="2026-11-23T12:00:00Z",
        scenario=["gopls_leak"],
        team=["Platform"],
    )
    evaluate_fleet(NOW)
    return Finding.objects.get(rule_id="gopls_memory_leak")


def test_a_simulated_leak_sends_one_email_and_one_chat_message_then_repeats_and_resolves(
    wired, smtp, receiver
):
    finding = simulate_leak()
    flush_outbox(NOW)
    flush_outbox(NOW + timedelta(seconds=5))  # nothing is sent twice
    link = f"https://devfleet.example.com/machines/{finding.machine.machine_id}/"

    assert len(smtp.messages) == 1
    mail, body = smtp.messages[0], smtp.bodies()[0]
    assert "gopls memory keeps growing" in mail["Subject"]
    assert mail["To"] == "oncall@example.com"
    assert mail["Message-ID"].startswith("<alert-")
    assert link in body
    slope = finding.evidence["slope_mb_per_hour"]
    assert f"slope mb per hour: {slope}" in body
    # The simulated gopls (v0.21.1) is newer than the v0.12.0 the leak's upgrade fix names, so
    # the first fix is the restart, not an upgrade (#12.9).
    assert "First fix: Restart the language server" in body
    assert "go install golang.org/x/tools/gopls@latest" not in body
    assert "Severity: warning" in body
    assert "Machine: " in body
    assert "Developer: " in body
    assert "https://devfleet.example.com/alerts/ack/" in body

    slack = receiver.posts("/slack")
    assert len(slack) == 1
    assert link in slack[0]["json"]["text"]
    assert str(slope) in slack[0]["json"]["text"]
    teams = receiver.posts("/teams")
    assert len(teams) == 1
    card = teams[0]["json"]["attachments"][0]["content"]
    assert card["actions"][0]["url"] == link
    hook = receiver.posts("/hook")
    assert len(hook) == 1
    expected = "sha256=" + hmac.new(b"s3cret", hook[0]["body"], hashlib.sha256).hexdigest()
    assert hook[0]["headers"]["X-Devfleet-Signature"] == expected
    assert hook[0]["headers"]["Idempotency-Key"] == hook[0]["json"]["idempotency_key"]
    assert hook[0]["json"]["link"] == link

    queue_repeats(NOW + timedelta(hours=3))
    assert flush_outbox(NOW + timedelta(hours=3)) == {}
    later = NOW + timedelta(hours=4, minutes=1)
    queue_repeats(later)
    queue_repeats(later)  # a second beat writes no second repeat
    flush_outbox(later)
    assert len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"].endswith("Still open: gopls memory keeps growing")
    assert len(receiver.posts("/slack")) == 2

    resolve_finding(finding, later + timedelta(minutes=5))
    flush_outbox(later + timedelta(minutes=5))
    assert len(smtp.messages) == 3
    assert "Resolved: gopls memory keeps growing" in smtp.messages[2]["Subject"]
    assert "Resolved" in receiver.posts("/slack")[-1]["json"]["text"]
    assert len(receiver.distinct_keys("/hook")) == 3


def test_a_silence_suppresses_the_message_and_records_why(wired, smtp, receiver):
    m = machine()
    Silence.objects.create(rule_id="gopls_memory_leak", expires_at=NOW + timedelta(hours=1))
    leak(m)
    flush_outbox(NOW)
    assert smtp.messages == []
    assert receiver.requests == []
    assert set(Notification.objects.values_list("status", flat=True)) == {"suppressed"}


def test_an_expired_silence_suppresses_nothing(wired, smtp):
    Silence.objects.create(team=wired[0], expires_at=NOW - timedelta(minutes=1))
    leak(machine())
    flush_outbox(NOW)
    assert len(smtp.messages) == 1


def test_twenty_machines_with_the_same_finding_give_one_grouped_message(
    wired, smtp, receiver, settings
):
    settings.ALERTS_GROUP_WAIT_S = 30
    machines = [machine(hostname=f"ws-{i:02d}") for i in range(20)]
    for i, m in enumerate(machines):
        leak(m, NOW + timedelta(seconds=2 * i))
    assert flush_outbox(NOW) == {}  # still inside the group wait
    flush_outbox(NOW + timedelta(minutes=2))
    assert len(smtp.messages) == 1
    assert "on 20 machines" in smtp.messages[0]["Subject"]
    body = smtp.bodies()[0]
    assert all(f"ws-{i:02d}" in body for i in range(20))
    assert len(receiver.posts("/slack")) == 1
    assert len(receiver.posts("/hook")) == 1
    assert Notification.objects.filter(status="grouped").count() == 19 * 4


def test_acknowledging_from_the_link_stops_repeats(wired, smtp, client):
    finding = leak(machine())
    flush_outbox(NOW)
    link = next(
        line for line in smtp.bodies()[0].splitlines() if line.startswith("Acknowledge: ")
    ).split(": ", 1)[1]
    path = link.replace("https://devfleet.example.com", "")
    assert "Acknowledge this finding?" in client.get(path).content.decode()
    assert Finding.objects.get(pk=finding.pk).acknowledged_at is None
    assert "Acknowledged" in client.post(path).content.decode()
    assert Finding.objects.get(pk=finding.pk).acknowledged_at is not None
    queue_repeats(NOW + timedelta(hours=9))
    flush_outbox(NOW + timedelta(hours=9))
    assert len(smtp.messages) == 1
