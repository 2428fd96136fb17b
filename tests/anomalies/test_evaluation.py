"""Evaluation over stored samples and the finding lifecycle: idempotent, hysteresis, history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.evaluation import evaluate_fleet, evaluate_machines
from apps.anomalies.lifecycle import acknowledge, snooze
from apps.anomalies.models import Finding
from apps.ingest.services import ingest_report
from tests.factories import make_report

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6
    settings.DETECTION_RESOLVE_AFTER_S = 600


def upload(machine, at: datetime, *, n=10, step=30, sample=None, inventory=None):
    """Store n samples ending at `at`; `sample(s)` and `inventory(inv)` edit the example."""
    report = make_report(n, start=at - timedelta(seconds=step * (n - 1)), step_s=step, sent_at=at)
    start_time = report["samples"][0]["gopls"][0]["start_time"]
    for s in report["samples"]:
        s["gopls"][0]["start_time"] = start_time
        if sample:
            sample(s)
    if inventory:
        inventory(report["inventory"])
    ingest_report(machine, report, received_at=at)
    return report


def bad_flags(inv):
    inv["editor_settings"][0]["settings"]["go.languageServerFlags"] = ["-no-load-full-workspace"]


def inotify(used):
    def edit(s):
        s["inotify"]["watches_used"] = used

    return edit


def events(finding) -> list[str]:
    return list(finding.events.values_list("kind", flat=True))


def test_a_healthy_machine_has_no_findings(enrolled):
    machine, _ = enrolled
    upload(machine, NOW)
    stats = evaluate_fleet(NOW)
    assert stats.machines == 1
    assert not Finding.objects.exists()


def test_a_finding_opens_with_evidence_and_advice_and_a_rerun_adds_nothing(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, inventory=bad_flags)
    evaluate_fleet(NOW)
    finding = Finding.objects.get(rule_id="gopls_invalid_flags")
    assert finding.severity == "critical"
    assert finding.evidence["invented"] == ["-no-load-full-workspace"]
    assert finding.advice["steps"]
    assert finding.advice["sources"][0].startswith("https://")
    assert events(finding) == ["opened"]
    evaluate_fleet(NOW + timedelta(minutes=1))
    evaluate_fleet(NOW + timedelta(minutes=2))
    assert Finding.objects.count() == 1
    assert events(Finding.objects.get()) == ["opened"]
    assert Finding.objects.get().last_seen == NOW + timedelta(minutes=2)


def test_removing_the_cause_resolves_after_the_clear_period_and_a_return_reopens(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, inventory=bad_flags)
    evaluate_fleet(NOW)
    upload(machine, NOW + timedelta(minutes=2), inventory=lambda inv: None)
    evaluate_fleet(NOW + timedelta(minutes=2))
    finding = Finding.objects.get()
    assert finding.state == "open"
    assert finding.clear_since == NOW + timedelta(minutes=2)
    upload(machine, NOW + timedelta(minutes=13))
    evaluate_fleet(NOW + timedelta(minutes=13))
    finding.refresh_from_db()
    assert finding.state == "resolved"
    upload(machine, NOW + timedelta(minutes=20), inventory=bad_flags)
    evaluate_fleet(NOW + timedelta(minutes=20))
    finding.refresh_from_db()
    assert finding.state == "open"
    assert Finding.objects.count() == 1
    assert events(finding) == ["opened", "resolved", "reopened"]


def test_hysteresis_keeps_a_finding_between_the_thresholds_open(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, sample=inotify(170_000))  # 88 % of 192,536
    evaluate_fleet(NOW)
    finding = Finding.objects.get(rule_id="inotify_watches")
    later = NOW + timedelta(minutes=30)
    upload(machine, later, n=20, sample=inotify(150_000))  # 78 %: below fire, above clear
    evaluate_fleet(later)
    finding.refresh_from_db()
    assert finding.state == "open"
    assert finding.clear_since is None
    assert not Finding.objects.filter(rule_id="inotify_watches", state="resolved").exists()


def test_severity_changes_in_place_with_history(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, sample=inotify(160_000))
    evaluate_fleet(NOW)
    later = NOW + timedelta(minutes=30)
    upload(machine, later, n=20, sample=inotify(190_000))
    evaluate_fleet(later)
    finding = Finding.objects.get(rule_id="inotify_watches")
    assert finding.severity == "critical"
    assert events(finding) == ["opened", "escalated"]


def test_acknowledge_and_snooze_are_recorded(enrolled, alice):
    machine, _ = enrolled
    upload(machine, NOW, inventory=bad_flags)
    evaluate_fleet(NOW)
    finding = Finding.objects.get()
    acknowledge(finding, alice, NOW)
    snooze(finding, NOW + timedelta(hours=4), alice, NOW)
    finding.refresh_from_db()
    assert finding.acknowledged_by == alice
    assert finding.snoozed_until == NOW + timedelta(hours=4)
    assert events(finding) == ["opened", "acknowledged", "snoozed"]
    assert not Finding.objects.not_snoozed(NOW).exists()


def test_machines_that_went_silent_are_neither_evaluated_nor_resolved(enrolled):
    machine, _ = enrolled
    upload(machine, NOW, inventory=bad_flags)
    evaluate_fleet(NOW)
    assert evaluate_fleet(NOW + timedelta(hours=3)).machines == 0
    assert Finding.objects.get().state == "open"


def test_wsl_memory_pressure_explains_gopls_memory_findings(enrolled):
    machine, _ = enrolled

    def pressure(s):
        s["system"]["mem_total_bytes"] = 8 * 2**30
        s["system"]["mem_available_bytes"] = int(0.03 * 8 * 2**30)
        s.setdefault("wsl", {})["mem_total_bytes"] = 8 * 2**30
        s["gopls"][0]["rss_bytes"] = 5 * 2**30
        s["gopls"][0]["debug"] = {"heap_inuse_bytes": 4 * 2**30}

    upload(machine, NOW, sample=pressure)
    evaluate_fleet(NOW)
    root = Finding.objects.get(rule_id="wsl_memory_pressure")
    high = Finding.objects.get(rule_id="gopls_memory_high")
    assert high.caused_by == root
    assert high.pk in root.evidence["explains"]
    assert "linked" in events(high)
    evaluate_fleet(NOW + timedelta(minutes=1))
    root.refresh_from_db()
    assert high.pk in root.evidence["explains"]
    assert events(Finding.objects.get(pk=high.pk)).count("linked") == 1


def test_an_oom_kill_in_an_upload_triggers_evaluation_at_once(
    enrolled, client, django_capture_on_commit_callbacks
):
    _, credential = enrolled
    report = make_report(2)
    report["samples"][-1]["system"]["oom_kill_count"] = 1
    report["samples"][-1]["system"]["oom_victims"] = [
        {"pid": 17452, "name": "gopls", "rss_bytes": 6 * 2**30, "at": "now"}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/reports",
            data=report,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {credential}",
        )
    assert response.status_code == 200
    finding = Finding.objects.get(rule_id="oom_kill")
    assert finding.evidence["gopls_killed"] is True


def test_team_overrides_change_thresholds(enrolled):
    machine, _ = enrolled
    machine.team.detector_overrides = {"inotify_watches": {"ratio": 0.005, "clear_ratio": 0.004}}
    machine.team.save()
    upload(machine, NOW)
    evaluate_machines([machine.pk], NOW)
    assert Finding.objects.filter(rule_id="inotify_watches").exists()
