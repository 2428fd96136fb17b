"""The stored health level: live signals, open findings, evaluation and finding events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.evaluation import evaluate_machines
from apps.anomalies.health import CRITICAL, OK, WARNING
from apps.anomalies.machine_health import refresh_health
from apps.anomalies.models import Finding, FindingEvent
from apps.fleet.models import Machine
from apps.ingest.services import ingest_report
from tests.factories import make_report

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
GIB = 1024**3


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


def huge_gopls(sample):
    """gopls at 12 GiB of a 16 GiB machine: critical from live signals alone."""
    sample["system"]["mem_total_bytes"] = 16 * GIB
    sample["gopls"][0]["rss_bytes"] = 12 * GIB


def upload(machine, at: datetime, edit=None) -> None:
    report = make_report(4, start=at - timedelta(seconds=45), sent_at=at)
    for sample in report["samples"]:
        if edit:
            edit(sample)
    ingest_report(machine, report, received_at=at)


def open_finding(machine, severity: str, **kw) -> Finding:
    finding = Finding.objects.create(
        machine=machine,
        rule_id=kw.pop("rule_id", "inotify_watches"),
        severity=severity,
        title="t",
        first_seen=NOW,
        last_seen=NOW,
        **kw,
    )
    FindingEvent.objects.create(finding=finding, kind="opened", at=NOW, severity=severity)
    return finding


def test_live_readings_alone_never_set_the_level(enrolled):
    # Issue 13.7: a machine was Critical for 1 % of RAM free, with no finding or advice.
    def starved(sample):
        huge_gopls(sample)
        sample["system"]["mem_available_bytes"] = GIB // 100
        sample["system"]["oom_kill_count"] = 3

    machine, _ = enrolled
    upload(machine, NOW, starved)
    refresh_health([machine.pk], NOW)
    assert Machine.objects.get(pk=machine.pk).health == OK


def test_refresh_stores_the_findings_level_and_only_writes_changes(enrolled):
    machine, _ = enrolled
    upload(machine, NOW)
    open_finding(machine, "critical", rule_id="oom_kill")
    assert refresh_health([machine.pk], NOW) == 1
    machine.refresh_from_db()
    assert (machine.health, machine.health_changed_at) == (CRITICAL, NOW)
    assert refresh_health([machine.pk], NOW + timedelta(minutes=1)) == 0
    machine.refresh_from_db()
    assert machine.health_changed_at == NOW


def test_open_findings_raise_the_level_and_resolving_lowers_it(
    enrolled, django_capture_on_commit_callbacks
):
    machine, _ = enrolled
    upload(machine, NOW)
    with django_capture_on_commit_callbacks(execute=True):
        finding = open_finding(machine, "warning")
    assert Machine.objects.get(pk=machine.pk).health == WARNING
    with django_capture_on_commit_callbacks(execute=True):
        Finding.objects.filter(pk=finding.pk).update(state="resolved", resolved_at=NOW)
        FindingEvent.objects.create(finding=finding, kind="resolved", at=NOW)
    assert Machine.objects.get(pk=machine.pk).health == OK


def test_info_and_snoozed_findings_leave_a_machine_healthy(enrolled):
    machine, _ = enrolled
    upload(machine, NOW)
    open_finding(machine, "info")
    open_finding(machine, "critical", rule_id="oom_kill", snoozed_until=NOW + timedelta(hours=1))
    refresh_health([machine.pk], NOW)
    assert Machine.objects.get(pk=machine.pk).health == OK
    refresh_health([machine.pk], NOW + timedelta(hours=2))  # the snooze ran out
    assert Machine.objects.get(pk=machine.pk).health == CRITICAL


def test_evaluation_stores_each_evaluated_machines_level(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, huge_gopls)
    assert Machine.objects.get(pk=machine.pk).health == OK  # ingest never writes it
    evaluate_machines([machine.pk], NOW)
    assert Machine.objects.get(pk=machine.pk).health == CRITICAL
