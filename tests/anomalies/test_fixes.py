"""Typed fix actions on the server: templates, safe values, the agent's endpoint, reports."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies import fix_actions
from apps.anomalies.advice import render_advice
from apps.anomalies.fixes import counts, status_of
from apps.anomalies.models import AppliedFix, Finding, FindingEvent
from tests.factories import enroll, iso, make_report

SETTINGS = "/home/dev/.config/Code/User/settings.json"
GIB = 1024**3


def test_goplsargs_advice_carries_one_remove_action_per_settings_file():
    evidence = {"files": [SETTINGS, "/w/.vscode/settings.json", SETTINGS, "gopls pid 3 argv",
                          "/etc/passwd", "rm -rf ~; /x/settings.json\n"]}
    advice = render_advice("go_goplsargs_setting", platform="linux", editor="vscode",
                           evidence=evidence)
    assert [a["action"] for a in advice["actions"]] == [
        {"type": "vscode_setting", "op": "remove", "path": SETTINGS, "key": ["go.goplsArgs"]},
        {"type": "vscode_setting", "op": "remove", "path": "/w/.vscode/settings.json",
         "key": ["go.goplsArgs"]},
    ]
    assert advice["action_steps"] == [0]
    assert all(set(step) == {"text", "command", "setting"} for step in advice["steps"])


def test_editors_other_than_vscode_get_no_action():
    advice = render_advice("go_goplsargs_setting", platform="linux", editor="neovim",
                           evidence={"files": [SETTINGS]})
    assert "actions" not in advice


@pytest.mark.parametrize(("suggested", "expected"), [
    ("23GB", "23GB"),
    (None, None),  # host RAM unknown: suggest.wsl_memory gives no number, advice text only
    ("16GB\nkernel=/evil", None),
    ("16 GB", None),
    ("512MB", None),  # devfleet suggests whole GB only
])
def test_wsl_memory_action_takes_only_a_computed_value_of_the_right_shape(suggested, expected):
    for rule_id in ("wsl_memory_pressure", "wsl_default_cap_large_gopls"):
        advice = render_advice(rule_id, platform="wsl2", facts={"suggested_wsl_memory": suggested})
        got = [a["action"]["value"] for a in advice.get("actions", [])]
        assert got == ([expected] if expected else [])


@pytest.mark.parametrize(("cap_gib", "host_gib"), [(15.6, 32), (11.7, 24), (31.2, 64)])
def test_wsl_memory_action_follows_the_hosts_ram(cap_gib, host_gib):
    """Machines that differ in host RAM get different caps, each leaving Windows its share."""
    from apps.anomalies import suggest

    s = suggest.wsl_memory(cap_gib * GIB, host_gib * GIB)
    advice = render_advice("wsl_memory_pressure", platform="wsl2",
                           facts={"suggested_wsl_memory": s.value})
    [action] = [a["action"] for a in advice["actions"]]
    assert action["value"] == s.value
    assert cap_gib < int(action["value"][:-2]) <= 0.75 * host_gib


def test_stop_process_takes_pid_and_start_from_the_finding_subject():
    advice = render_advice("gopls_orphan", platform="linux", subject="gopls:4242@1764800000")
    assert advice["actions"][0]["action"] == {"type": "stop_process", "pid": 4242,
                                              "start_time": 1764800000}
    assert "actions" not in render_advice("gopls_orphan", platform="windows",
                                          subject="gopls:4242@1764800000")
    assert "actions" not in render_advice("gopls_orphan", platform="linux", subject="gopls:1@5")
    assert "actions" not in render_advice("gopls_orphan", platform="linux", subject="x;kill")


def test_misplaced_wslconfig_keys_become_removals_and_wsl_conf_keys_do_not():
    evidence = {"keys": ["wsl2.memory", ".wslconfig wsl2.autoMemoryReclaim",
                         ".wslconfig wsl2.sparseVhd", ".wslconfig wsl2.kernel"]}
    advice = render_advice("wsl_conf_misplaced_keys", platform="wsl2", evidence=evidence)
    assert [a["action"]["key"] for a in advice["actions"]] == ["autoMemoryReclaim", "sparseVhd"]


@pytest.mark.parametrize("template", [
    {"type": "shell", "command": "rm -rf /"},
    {"type": "go_clean", "target": "/"},
    {"type": "vscode_setting", "op": "remove", "key": ["a"]},
    {"type": "wslconfig", "op": "set", "section": "boot", "key": "command"},
    {"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory", "value": "16GB"},
    {"type": "go_clean", "target": "cache", "command": "go clean -cache"},
])
def test_the_knowledge_loader_refuses_bad_action_templates(template):
    with pytest.raises(fix_actions.ActionTemplateError):
        fix_actions.check_template(template)


def _finding(machine, rule_id="go_goplsargs_setting", files=(SETTINGS,)) -> Finding:
    now = datetime.now(timezone.utc)
    advice = render_advice(rule_id, platform="linux", editor="vscode",
                           evidence={"files": list(files)})
    return Finding.objects.create(machine=machine, rule_id=rule_id, subject="settings",
                                  severity="warning", title="go.goplsArgs does nothing",
                                  evidence={"files": list(files)}, advice=advice,
                                  first_seen=now, last_seen=now)


@pytest.mark.django_db
def test_the_fixes_endpoint_answers_only_for_the_credentials_machine(client):
    mine, cred = enroll()
    other, other_cred = enroll()
    f = _finding(mine)
    _finding(other, files=["/home/eve/.config/Code/User/settings.json"])
    body = client.get("/api/v1/fixes", HTTP_AUTHORIZATION=f"Bearer {cred}").json()
    assert [x["id"] for x in body["findings"]] == [f.pk]
    assert body["findings"][0]["command"] == f"devfleet-agent fix {f.pk}"
    assert body["findings"][0]["actions"][0]["path"] == SETTINGS
    theirs = client.get("/api/v1/fixes", HTTP_AUTHORIZATION=f"Bearer {other_cred}").json()
    assert f.pk not in [x["id"] for x in theirs["findings"]]
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_AUTHORIZATION": "Basic x"}):
        assert client.get("/api/v1/fixes", **header).status_code == 401
    assert client.post("/api/v1/fixes", HTTP_AUTHORIZATION=f"Bearer {cred}").status_code == 405


def _fix_item(finding_id: int, outcome="applied", at=None) -> dict:
    return {"id": uuid.uuid4().hex, "finding_id": finding_id, "rule_id": "go_goplsargs_setting",
            "action": {"type": "vscode_setting", "op": "remove", "key": "go.goplsArgs"},
            "applied_at": iso(at or datetime.now(timezone.utc)), "outcome": outcome,
            "detail": "remove go.goplsArgs"}


@pytest.mark.django_db
def test_an_upload_records_applied_fixes_once_and_only_for_its_own_findings(client):
    mine, cred = enroll()
    other, _ = enroll()
    f, foreign = _finding(mine), _finding(other)
    report = make_report(2)
    item = _fix_item(f.pk)
    report["fixes"] = [item, _fix_item(foreign.pk)]
    for _ in range(2):  # a resent report stores nothing twice
        resp = client.post("/api/v1/reports", report, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {cred}")
        assert resp.status_code == 200, resp.content
        report["samples"][0]["id"] = str(uuid.uuid4())
    [fix] = AppliedFix.objects.all()
    assert (fix.finding_id, fix.machine_id, fix.entry_id) == (f.pk, mine.pk, item["id"])
    assert FindingEvent.objects.filter(finding=f, kind="fix").count() == 1
    assert not FindingEvent.objects.filter(finding=foreign, kind="fix").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [
    {"outcome": "exploded"},
    {"action": {"type": "shell", "op": "remove"}},
    {"applied_at": "2026-02-30T10:00:00Z"},
    {"finding_id": "7; drop table"},
    {"id": "../../etc"},
    {"detail": "x" * 501},
])
def test_a_malformed_fixes_section_is_a_400_naming_the_field(client, bad):
    _machine, cred = enroll()
    report = make_report(1)
    report["fixes"] = [{**_fix_item(1), **bad}]
    resp = client.post("/api/v1/reports", report, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {cred}")
    assert resp.status_code == 400
    assert any(e["path"].startswith("$.fixes") for e in resp.json()["errors"])


@pytest.mark.django_db
def test_fix_status_says_helped_pending_or_did_not_help():
    machine, _ = enroll()
    f = _finding(machine)
    now = datetime.now(timezone.utc)
    fix = AppliedFix(machine=machine, finding=f, entry_id="e", rule_id=f.rule_id,
                     action_type="vscode_setting", outcome="applied", applied_at=now,
                     received_at=now)
    assert status_of(f, fix, now + timedelta(minutes=5)).state == "pending"
    late = status_of(f, fix, now + timedelta(hours=2))
    assert late.state == "did_not_help"
    assert "the fix did not help" in late.message
    f.state, f.resolved_at = "resolved", now + timedelta(minutes=12)
    assert status_of(f, fix, now + timedelta(hours=2)).state == "helped"
    fix.save()
    f.save()
    assert counts(AppliedFix.objects.all()) == {"applied": 1, "resolved": 1}


@pytest.mark.parametrize(("facts", "expected"), [
    ({"gomemlimit": "2GiB"}, "2GiB"),
    ({"gomemlimit": "1536MiB"}, "1536MiB"),
    ({}, None),  # no safe value computed: the knowledge base's example is never applied
    ({"gomemlimit": "4GB"}, None),
    ({"gomemlimit": "2GiB; rm -rf ~"}, None),
    ({"gomemlimit": 2147483648}, None),
])
def test_gomemlimit_set_action_only_with_a_computed_value_of_the_right_shape(facts, expected):
    evidence = {"values": [{"where": SETTINGS, "value": "4GB"},
                           {"where": "gopls pid 7 environment", "value": "4GB"}]}
    advice = render_advice("gomemlimit_bad_suffix", platform="linux", editor="vscode",
                           facts=facts, evidence=evidence)
    actions = [a["action"] for a in advice.get("actions", [])]
    if expected is None:
        assert actions == []
    else:
        assert actions == [{"type": "vscode_setting", "op": "set", "path": SETTINGS,
                            "key": ["go.toolsEnvVars", "GOMEMLIMIT"], "value": expected}]
