"""Acceptance A end to end: simulate_fleet → evaluate_fleet → the right findings, and no more."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from apps.anomalies.models import Finding
from apps.fleet.models import Machine
from apps.ingest.services import ingest_report
from tests.anomalies.acceptance import SCENARIO_RULES, compare
from tests.factories import make_report

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
END = "2026-11-23T12:00:00Z"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def simulate(tmp_path, name: str, **opts) -> dict:
    path = tmp_path / f"{name}.json"
    call_command(
        "simulate_fleet",
        hours=3,
        end=END,
        interval=30,
        batch=20,
        manifest=str(path),
        progress_every=1e9,
        **opts,
    )
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def fleet(django_db_setup, django_db_blocker, tmp_path_factory):
    """A realistic mix plus one machine for each scenario the mix left out (kept for the module)."""
    tmp = tmp_path_factory.mktemp("sim")
    with django_db_blocker.unblock():
        manifest = simulate(tmp, "mix", machines=24, seed=21)
        covered = set(manifest["scenarios"])
        index = 24
        for scenario in sorted(set(SCENARIO_RULES) - covered):
            extra = simulate(
                tmp, scenario, machines=1, seed=21, start_index=index, scenario=[scenario]
            )
            manifest["machines"] += extra["machines"]
            index += 1
        first = call_command_stats()
        second = call_command_stats()
        yield manifest, first, second
        # Everything the simulation made (teams, tokens, users, projects, audit rows) goes, not
        # only the machines: later tests expect an empty database.
        call_command("flush", interactive=False, verbosity=0)


def call_command_stats() -> dict:
    from io import StringIO

    out = StringIO()
    call_command("evaluate_fleet", at=END, json=True, stdout=out)
    return json.loads(out.getvalue())


def findings_by_machine() -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for machine_id, rule_id in Finding.objects.open().values_list("machine__machine_id", "rule_id"):
        got.setdefault(machine_id, set()).add(rule_id)
    return got


def test_every_scenario_is_in_the_simulated_fleet(fleet):
    manifest, _, _ = fleet
    injected = {p["scenario"] for m in manifest["machines"] for p in m["problems"]}
    assert injected == set(SCENARIO_RULES)


def test_every_injected_problem_gives_its_finding_and_healthy_machines_none(fleet):
    manifest, first, _ = fleet
    assert first["opened"] > 0
    assert compare(manifest, findings_by_machine()) == []
    healthy = [m["machine_id"] for m in manifest["machines"] if m["healthy"]]
    assert healthy
    assert not Finding.objects.filter(machine__machine_id__in=healthy).exists()


def test_findings_carry_evidence_and_advice(fleet):
    for finding in Finding.objects.open():
        assert finding.evidence, finding.rule_id
        assert finding.advice["steps"], finding.rule_id
        assert finding.advice["sources"], finding.rule_id


def test_running_again_adds_nothing(fleet):
    _, _, second = fleet
    assert second["opened"] == second["reopened"] == second["resolved"] == 0


def test_removing_the_cause_resolves_the_finding(fleet):
    manifest, _, _ = fleet
    machine_id = next(
        m["machine_id"]
        for m in manifest["machines"]
        if any(p["scenario"] == "invented_flags" for p in m["problems"])
    )
    machine = Machine.objects.get(machine_id=machine_id)
    finding = Finding.objects.open().get(machine=machine, rule_id="gopls_invalid_flags")
    for minutes in (2, 15):
        at = AT + timedelta(minutes=minutes)
        report = make_report(4, start=at - timedelta(minutes=1), step_s=15, sent_at=at)
        report["inventory"]["editor_settings"] = [
            {
                "editor": "vscode",
                "scope": "user",
                "path": "settings.json",
                "settings": {"go.languageServerFlags": ["-debug=localhost:0"]},
                "has_go_goplsArgs": False,
                "error": None,
            }
        ]
        ingest_report(machine, report, received_at=at)
        call_command("evaluate_fleet", at=at.isoformat(), stdout=None)
    finding.refresh_from_db()
    assert finding.state == "resolved"
    assert list(finding.events.values_list("kind", flat=True))[-1] == "resolved"
