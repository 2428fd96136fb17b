"""gomod_vendor_inconsistent: vendor/ out of sync with go.mod while the go command uses it."""

from __future__ import annotations

import pytest

from apps.anomalies.advice import render_advice
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.thresholds import thresholds
from apps.ingest.validation import validate_report
from tests.anomalies.helpers import machine, proc, settings_entry
from tests.factories import make_report

BROKEN = {
    "root": "/home/dev/src/app",
    "go": "1.22",
    "has_vendor_dir": True,
    "has_modules_txt": True,
    "requirements": 12,
    "workspace": False,
    "consistent": False,
    "problem_count": 2,
    "problems": [
        "github.com/google/uuid@v1.6.0: is explicitly required in go.mod, but not marked as "
        "explicit in vendor/modules.txt"
    ],
}


def snapshot(entry=None, go_env=None, env=None, settings=None):
    inventory = {"vendor": [entry or BROKEN], "go_env": go_env or {}}
    if settings is not None:
        inventory["editor_settings"] = [settings_entry(settings)]
    return machine(proc(rss=3e8, env=env or {}), inventory=inventory)


def fired(snap):
    return run_machine_rules(snap, thresholds(), {"gomod_vendor_inconsistent"})


@pytest.mark.parametrize(
    ("kw", "where"),
    [
        ({"go_env": {"GOFLAGS": "-mod=vendor"}}, "go env GOFLAGS"),
        ({"env": {"GOFLAGS": "-modcacherw -mod=vendor"}}, "gopls pid 100 environment"),
        ({"settings": {"go.toolsEnvVars": {"GOFLAGS": "-mod=vendor"}}}, "go.toolsEnvVars"),
        ({"settings": {"gopls": {"build.env": {"GOFLAGS": "-mod=vendor"}}}}, "gopls build.env"),
    ],
)
def test_mod_vendor_with_an_inconsistent_vendor_directory_is_critical(kw, where):
    (det,) = fired(snapshot(**kw))
    assert det.severity == "critical"
    assert where in det.evidence["modules"][0]["mode"]
    assert "inconsistent vendoring" in det.explanation
    advice = render_advice(det.rule_id, platform="linux", facts=det.facts)
    assert advice["steps"][0]["command"] == "go mod vendor"
    assert where in advice["summary"]


def test_vendor_mode_by_default_from_go_114_but_not_before_or_when_mod_is_forced_off():
    (default,) = fired(snapshot())
    assert default.evidence["modules"][0]["mode"] == "vendor/ (default)"
    assert fired(snapshot({**BROKEN, "go": "1.13"})) == []
    assert fired(snapshot(go_env={"GOFLAGS": "-mod=mod"})) == []
    assert fired(snapshot(env={"GOFLAGS": "-mod=vendor -mod=readonly"})) == []


def test_consistent_or_unchecked_vendor_directories_are_fine():
    ok = {**BROKEN, "consistent": True, "problems": [], "problem_count": 0}
    assert fired(snapshot(ok, go_env={"GOFLAGS": "-mod=vendor"})) == []
    ws = {**BROKEN, "workspace": True, "consistent": None}
    assert fired(snapshot(ws, go_env={"GOFLAGS": "-mod=vendor"})) == []
    assert fired(machine(proc(rss=3e8), inventory={"vendor": "nonsense"})) == []


def test_the_report_schema_takes_the_vendor_section_and_bounds_it():
    report = make_report(1)
    report["inventory"]["vendor"] = [BROKEN]
    assert validate_report(report) == []
    report["inventory"]["vendor"] = [{**BROKEN, "problems": ["x" * 600]}]
    assert validate_report(report)
    report["inventory"]["vendor"] = [{"go": "1.22"}]  # no root
    assert validate_report(report)
