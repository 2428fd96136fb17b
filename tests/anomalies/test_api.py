"""Findings and rules API, the agent's POST /api/v1/check, and their OpenAPI entries."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from apps.anomalies.models import Finding
from apps.api.openapi import openapi_document
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def make_finding(machine, rule_id="gopls_invalid_flags", state="open", **kw) -> Finding:
    return Finding.objects.create(
        machine=machine,
        rule_id=rule_id,
        subject=kw.pop("subject", "flags"),
        severity=kw.pop("severity", "critical"),
        state=state,
        title="t",
        summary="s",
        evidence={"flags": ["-max-parallel"]},
        advice={"summary": "x", "steps": [], "sources": []},
        first_seen=NOW,
        last_seen=NOW,
        **kw,
    )


def test_findings_list_filters_by_machine_and_state(client, alice):
    m1, _ = enroll()
    m2, _ = enroll()
    make_finding(m1)
    make_finding(m1, rule_id="oom_kill", subject="oom", state="resolved")
    make_finding(m2)
    client.force_login(alice)
    body = client.get(f"/api/v1/findings/?machine={m1.machine_id}&state=open").json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["rule_id"] == "gopls_invalid_flags"
    assert item["severity"] == "critical"
    assert item["evidence"] == {"flags": ["-max-parallel"]}
    assert "steps" in item["advice"]
    assert client.get("/api/v1/findings/?state=all").json()["count"] == 3
    assert client.get("/api/v1/findings/?state=bogus").status_code == 400


def test_developers_see_only_findings_of_machines_they_may_see(client, bob, carol):
    mine, _ = enroll(owner="bob")
    mine.owner = bob
    mine.save()
    other, _ = enroll()
    make_finding(mine)
    hidden = make_finding(other)
    client.force_login(bob)
    assert client.get("/api/v1/findings/").json()["count"] == 1
    assert client.get(f"/api/v1/findings/{hidden.pk}/").status_code == 404
    client.force_login(carol)
    assert client.get("/api/v1/findings/").json()["count"] == 0


def test_finding_detail_has_history(client, alice):
    machine, _ = enroll()
    finding = make_finding(machine)
    finding.events.create(kind="opened", at=NOW, severity="critical")
    client.force_login(alice)
    body = client.get(f"/api/v1/findings/{finding.pk}/").json()
    assert [e["kind"] for e in body["events"]] == ["opened"]


def test_the_api_needs_a_login(client):
    assert client.get("/api/v1/findings/").status_code == 401
    assert client.get("/api/v1/rules/").status_code == 401


def test_rules_list_is_the_knowledge_base(client, alice):
    client.force_login(alice)
    body = client.get("/api/v1/rules/").json()
    ids = {r["rule_id"] for r in body["results"]}
    assert {"gopls_memory_leak", "gopls_invalid_flags", "wsl_conf_misplaced_keys"} <= ids
    leak = next(r for r in body["results"] if r["rule_id"] == "gopls_memory_leak")
    assert leak["fixes"]
    assert leak["sources"]
    assert leak["meaning"]


def test_check_returns_findings_with_advice_without_storing(client, enrolled):
    machine, credential = enrolled
    report = make_report(3)
    report["inventory"]["editor_settings"][0]["settings"]["go.languageServerFlags"] = [
        "-skip-mod-download"
    ]
    report["inventory"]["editor_settings"][0]["settings"]["go.toolsEnvVars"] = {"GOMEMLIMIT": "4GB"}
    response = client.post(
        "/api/v1/check",
        data=report,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["worst_severity"] == "critical"
    rules = {f["rule_id"]: f for f in body["findings"]}
    assert {"gopls_invalid_flags", "gomemlimit_bad_suffix"} <= set(rules)
    advice = rules["gomemlimit_bad_suffix"]["advice"]
    # The value is this machine's safe computation (suggest.gomemlimit), not a fixed example.
    setting = advice["steps"][0]["setting"]
    assert re.fullmatch(r'"go.toolsEnvVars": \{"GOMEMLIMIT": "[1-9][0-9]*(MiB|GiB)"\}', setting)
    assert "× the" in advice["steps"][0]["text"]
    assert {"summary", "steps", "sources"} <= set(advice)
    # The typed fix (#16) sets the same computed value as the snippet shows.
    assert advice["actions"]
    assert all(f'"{a["action"]["value"]}"' in setting for a in advice["actions"])
    assert set(advice["steps"][0]) == {"text", "command", "setting"}
    assert not Finding.objects.exists()
    machine.refresh_from_db()
    assert machine.last_sample_at is None


def test_check_of_a_healthy_report_is_ok(client, enrolled):
    _, credential = enrolled
    response = client.post(
        "/api/v1/check",
        data=make_report(3),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )
    assert response.json() == {"worst_severity": "ok", "findings": []}


def test_check_authenticates_and_validates_like_reports(client, enrolled):
    _, credential = enrolled
    assert (
        client.post(
            "/api/v1/check", data=make_report(1), content_type="application/json"
        ).status_code
        == 401
    )
    response = client.post(
        "/api/v1/check",
        data={"schema_version": 1},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_report"


def test_openapi_documents_findings_rules_and_check():
    doc = openapi_document()
    for path in ("/api/v1/findings/", "/api/v1/rules/", "/api/v1/check"):
        assert path in doc["paths"]
    for name in ("Finding", "Rule", "CheckResponse", "Advice"):
        assert name in doc["components"]["schemas"]
