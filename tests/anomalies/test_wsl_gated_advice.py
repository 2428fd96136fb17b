"""#12.8: fixes gated on the WSL package version follow the machine's reported version
everywhere advice renders: evaluation (and the alerts that send its advice), rule pages and
/api/v1/check; and the host RAM the agent reports bounds the suggested cap (#12.2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse

from apps.alerts.render import first_step
from apps.anomalies import fix_actions
from apps.anomalies.evaluation import evaluate_fleet
from apps.anomalies.models import Finding
from apps.ingest.services import ingest_report
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
GIB = 2**30
NEW, OLD = "2.3.26.0", "1.2.5.0"


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


def pressured_report(wsl_version: str | None, host: int | None, at=NOW) -> dict:
    """The documented WSL2 example with its VM (15.5 GiB) nearly full."""
    report = make_report(10, start=at - timedelta(seconds=270), step_s=30, sent_at=at)
    wsl = report["machine"]["wsl"]
    wsl.pop("wsl_version", None)
    wsl.pop("host_mem_total_bytes", None)
    if wsl_version:
        wsl["wsl_version"] = wsl_version
    if host:
        wsl["host_mem_total_bytes"] = host
    start = report["samples"][0]["gopls"][0]["start_time"]
    for s in report["samples"]:
        cap = s["wsl"]["mem_total_bytes"]
        s["system"]["mem_available_bytes"] = int(0.04 * cap)
        s["gopls"][0]["start_time"] = start
    return report


def pressure_finding(wsl_version, host) -> Finding:
    machine, _ = enroll()
    ingest_report(machine, pressured_report(wsl_version, host), received_at=NOW)
    evaluate_fleet(NOW + timedelta(seconds=5))
    return Finding.objects.get(machine=machine, rule_id="wsl_memory_pressure")


def test_evaluation_and_alerts_follow_the_reported_wsl_version():
    new = pressure_finding(NEW, 32 * GIB)
    old = pressure_finding(OLD, 24 * GIB)
    assert new.machine.wsl_package_version == NEW
    assert new.machine.wsl_host_mem_total_bytes == 32 * GIB
    new_text = " ".join(s["text"] for s in new.advice["steps"])
    old_text = " ".join(s["text"] for s in old.advice["steps"])
    assert "defaults to dropCache" in new_text
    assert "predates 2.0.0" not in new_text
    assert "predates 2.0.0" in old_text
    assert "dropCache" not in old_text
    # The alert's "First fix" is the stored advice's first step: the one for this WSL.
    assert "dropCache" in first_step(new.advice)
    assert "predates 2.0.0" in first_step(old.advice)
    # Both caps are above the VM's 15.5 GiB and leave Windows its share of each host: 1.5×
    # the cap on the 32 GiB host, what Windows can spare (24 - 6 GiB) on the 24 GiB one.
    assert "memory=23GB" in first_step(new.advice)
    assert "memory=18GB" in first_step(old.advice)
    # The typed fix action (#16) takes the same computed value, never an example.
    (action,) = fix_actions.finding_actions(new.advice)
    assert action == {
        "type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory", "value": "23GB"
    }  # fmt: skip


def test_without_interop_facts_both_fixes_show_with_how_to_check_and_no_number():
    finding = pressure_finding(None, None)
    gated = [s for s in finding.advice["steps"] if "check with wsl --version" in s["text"]]
    assert len(gated) == 2
    assert all(s["setting"] is None for s in gated)
    assert "choose a value above the VM's current cap" in gated[0]["text"]
    assert not fix_actions.finding_actions(finding.advice)


def test_rule_pages_filter_by_the_wsl_version_asked_for(client, bob):
    client.force_login(bob)
    url = reverse("dashboard:rule", args=["wsl_memory_pressure"])
    new = client.get(url, {"platform": "wsl2", "wsl": NEW}).content.decode()
    old = client.get(url, {"platform": "wsl2", "wsl": OLD}).content.decode()
    unknown = client.get(url, {"platform": "wsl2", "wsl": "2.3;rm -rf"}).content.decode()
    assert "dropCache" in new
    assert "predates 2.0.0" not in new
    assert "predates 2.0.0" in old
    assert "dropCache" not in old
    assert unknown.count("check with wsl --version") == 2


def test_check_follows_the_wsl_version_in_the_report(client):
    for version, present, absent in (
        (NEW, "dropCache", "predates"),
        (OLD, "predates", "dropCache"),
    ):
        _, credential = enroll()
        response = client.post(
            "/api/v1/check",
            data=pressured_report(version, 32 * GIB),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {credential}",
        )
        assert response.status_code == 200
        (finding,) = [
            f for f in response.json()["findings"] if f["rule_id"] == "wsl_memory_pressure"
        ]
        text = " ".join(s["text"] for s in finding["advice"]["steps"])
        assert present in text
        assert absent not in text


def test_implausible_host_facts_are_stored_as_unknown():
    machine, _ = enroll()
    report = pressured_report("2.3.26.0;curl x|sh", 12)
    ingest_report(machine, report, received_at=NOW)
    machine.refresh_from_db()
    assert machine.wsl_package_version == ""
    assert machine.wsl_host_mem_total_bytes is None
