"""The machine page and the weekly digest show what fixes from the agent did."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.alerts.digest import build_digest
from apps.anomalies.advice import render_advice
from apps.anomalies.lifecycle import resolve_finding
from apps.anomalies.models import AppliedFix, Finding
from tests.factories import enroll

pytestmark = pytest.mark.django_db
SETTINGS = "/home/dev/.config/Code/User/settings.json"


def _finding(machine, first_seen: datetime) -> Finding:
    advice = render_advice(
        "go_goplsargs_setting", platform="linux", editor="vscode", evidence={"files": [SETTINGS]}
    )
    return Finding.objects.create(
        machine=machine,
        rule_id="go_goplsargs_setting",
        subject="settings",
        severity="warning",
        title="go.goplsArgs does nothing",
        evidence={"files": [SETTINGS]},
        advice=advice,
        first_seen=first_seen,
        last_seen=first_seen,
    )


def _fix(finding: Finding, at: datetime, entry: str = "e1") -> AppliedFix:
    return AppliedFix.objects.create(
        machine=finding.machine,
        finding=finding,
        entry_id=entry,
        rule_id=finding.rule_id,
        action_type="vscode_setting",
        action={"type": "vscode_setting"},
        outcome="applied",
        applied_at=at,
        received_at=at,
    )


def test_a_fix_that_did_not_resolve_its_finding_in_the_rules_window_says_so(admin_client):
    machine, _ = enroll()
    now = datetime.now(timezone.utc)
    finding = _finding(machine, now - timedelta(hours=3))
    _fix(finding, now - timedelta(hours=2))
    page = admin_client.get(f"/machines/{machine.machine_id}/").content.decode()
    assert "the fix did not help" in page
    assert f"devfleet-agent undo {finding.pk}" in page
    assert f"devfleet-agent fix {finding.pk}" in page


def test_a_fresh_fix_is_waiting_for_samples(admin_client):
    machine, _ = enroll()
    now = datetime.now(timezone.utc)
    finding = _finding(machine, now - timedelta(hours=1))
    _fix(finding, now - timedelta(minutes=2))
    page = admin_client.get(f"/machines/{machine.machine_id}/").content.decode()
    assert "fix applied at" in page
    assert "waiting for new samples to confirm" in page
    assert "did not help" not in page


def test_a_finding_without_an_applicable_action_shows_no_fix_command(admin_client):
    machine, _ = enroll()
    now = datetime.now(timezone.utc)
    advice = render_advice(
        "go_goplsargs_setting", platform="linux", editor="neovim", evidence={"files": [SETTINGS]}
    )
    f = Finding.objects.create(
        machine=machine,
        rule_id="go_goplsargs_setting",
        subject="settings",
        severity="warning",
        title="t",
        evidence={},
        advice=advice,
        first_seen=now,
        last_seen=now,
    )
    page = admin_client.get(f"/machines/{machine.machine_id}/").content.decode()
    assert f"devfleet-agent fix {f.pk}" not in page


def test_the_digest_counts_fixes_applied_and_the_findings_they_resolved():
    machine, _ = enroll()
    now = datetime.now(timezone.utc)
    helped = _finding(machine, now - timedelta(days=2))
    _fix(helped, now - timedelta(days=2), "a")
    resolve_finding(helped, now - timedelta(days=1))
    stuck = _finding(machine, now - timedelta(days=1))
    stuck.subject = "other"
    stuck.save()
    _fix(stuck, now - timedelta(hours=20), "b")
    old = _finding(machine, now - timedelta(days=20))
    old.subject = "old"
    old.save()
    _fix(old, now - timedelta(days=20), "c")
    data = build_digest(machine.team, now)
    assert (data["fixes_applied"], data["fixes_resolved"]) == (2, 1)
