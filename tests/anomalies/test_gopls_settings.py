"""gopls settings lint against the per-release settings table (and the table's generator)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from apps.anomalies.advice import render_advice
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.detectors.gopls_settings import check, table
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, settings_entry

ROOT = Path(__file__).resolve().parents[2]


def lint(gopls: dict, version="v0.23.0", source=""):
    p = proc(rss=3e8, version=version)
    p.version_source = source
    snap = machine(p, inventory={"editor_settings": [settings_entry({"gopls": gopls})]})
    dets = run_machine_rules(snap, thresholds(), {"gopls_unknown_setting"})
    return {x["setting"]: x for x in dets[0].evidence["problems"]} if dets else {}, dets


def test_the_table_says_where_it_comes_from_and_covers_every_release():
    data = table()
    assert data["source"] == "https://github.com/golang/tools"
    assert len(data["snapshot"]["commit"]) == 40
    assert data["releases"][0] == "v0.6.0"
    assert {"v0.12.0", "v0.19.1", "v0.23.0"} <= set(data["releases"])
    assert data["unreleased"]["release"] == data["releases"][-1] == "v0.24.0"
    assert "tools/gen_gopls_settings.py" in data["about"]
    assert (ROOT / "tools" / "gen_gopls_settings.py").exists()


@pytest.mark.parametrize("version", ["v0.11.0", "v0.16.2", "v0.23.0", "v0.24.1"])
@pytest.mark.parametrize("name", ["memoryThreshold", "noLoadFullWorkspace", "build.maxParallel"])
def test_invented_settings_are_unknown_on_every_version(name, version):
    found, _ = lint({name: True}, version)
    assert found[name]["problem"] == "unknown"
    assert "unexpected setting" in found[name]["text"]


def test_memory_limit_as_a_string_before_and_after_v024():
    before, (det,) = lint({"memoryLimit": "2G"}, "v0.23.0")
    assert before["memoryLimit"]["problem"] == "not_yet"
    assert "v0.24.0" in before["memoryLimit"]["text"]
    assert "whole number" in before["memoryLimit"]["text"]
    after, _ = lint({"memoryLimit": "2G"}, "v0.24.1")
    assert after["memoryLimit"]["problem"] == "type"
    assert '"2G"' in after["memoryLimit"]["text"]
    ok, _ = lint({"memoryLimit": 3 * 2**30}, "v0.24.1")
    assert ok == {}
    advice = render_advice(det.rule_id, platform="linux", editor="vscode", facts=det.facts)
    assert "v0.23.0" in advice["summary"]
    assert "memoryLimit" in advice["summary"]


@pytest.mark.parametrize(
    ("setting", "value", "old", "new", "old_problem"),
    [
        ("fileWatcher", "poll", "v0.21.1", "v0.22.0", "not_yet"),
        ("maxFileCacheBytes", 2 * 10**9, "v0.21.0", "v0.22.0", "not_yet"),
        ("ui.diagnostic.diagnosticsTrigger", "Save", "v0.14.2", "v0.15.0", "not_yet"),
        ("build.experimentalPackageCacheKey", True, "v0.11.0", "v0.12.0", None),
    ],
)
def test_settings_follow_the_release_that_added_or_removed_them(
    setting, value, old, new, old_problem
):
    before, _ = lint({setting: value}, old)
    after, _ = lint({setting: value}, new)
    if old_problem:
        assert before[setting]["problem"] == old_problem
        assert after == {}
    else:  # removed in v0.12: accepted before, answered with a deprecation warning after
        assert before == {}
        assert after == {}  # deprecated names are gopls_obsolete_setting's findings


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("ui.diagnostic.staticcheck", "true"),
        ("ui.diagnostic.vulncheck", "Always"),
        ("ui.diagnostic.diagnosticsDelay", "2 seconds"),
        ("build.directoryFilters", "-**/node_modules"),
        ("ui.diagnostic.analyses", ["unusedparams"]),
        ("build.env", ["GOFLAGS=-mod=mod"]),
    ],
)
def test_wrongly_typed_values_are_flagged(setting, value):
    found, _ = lint({setting: value}, "v0.21.0")
    assert found[setting]["problem"] == "type"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("ui.diagnostic.staticcheck", False),
        ("ui.diagnostic.vulncheck", "imports"),  # enums are matched ignoring case
        ("ui.diagnostic.diagnosticsDelay", "1.5s"),
        ("build.directoryFilters", ["-**/node_modules"]),
        ("ui.semanticTokens", True),
        ("completeUnimported", True),  # accepted though not documented
        ("ui", {"semanticTokens": True}),  # a client's grouping object is not judged
    ],
)
def test_well_formed_settings_pass(setting, value):
    assert lint({setting: value}, "v0.21.0")[0] == {}


def test_versions_newer_than_the_table_check_types_only_and_devel_builds_only_names():
    newer, _ = lint({"someFutureSetting": 1, "staticcheck": "yes"}, "v0.26.0")
    assert set(newer) == {"staticcheck"}
    devel, _ = lint(
        {"fileWatcher": "poll", "memoryThreshold": 1},
        "(devel)",
        "golang.org/x/tools v0.5.0",
    )
    assert set(devel) == {"memoryThreshold"}  # its estimated version is too rough for dates


def test_check_takes_the_last_segment_like_gopls():
    assert check("gopls.ui.diagnostic.staticcheck", True, (0, 20, 0)) is None
    assert check("x.y.memoryThreshold", 1, (0, 20, 0)).kind == "unknown"


# ---- the generator, on a small golang/tools-shaped repository -------------------------------

SETTINGS_GO = """package settings

func (o *Options) setOne(name string, value any) (applied []CounterPath, _ error) {
\tswitch name {
\tcase "staticcheck":
\t\treturn setBool(&o.Staticcheck, value)
\tcase "hidden": // not documented
\t\treturn nil, setStringSlice(&o.Hidden, value)
%s\tcase "memoryMode":
\t\treturn nil, deprecatedError("")
\tdefault:
\t\treturn nil, fmt.Errorf("unexpected setting")
\t}
}
"""
NEW_CASE = '\tcase "memoryLimit":\n\t\treturn setInt64(&o.MemoryLimit, value)\n'


def _api(*options):
    return json.dumps({"Options": {"User": [
        {"Name": n, "Type": t, "EnumValues": None, "Status": ""} for n, t in options
    ]}})  # fmt: skip


def _commit(repo: Path, files: dict, tag: str | None):
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", tag or "head"], check=True)
    if tag:
        subprocess.run([*git, "tag", tag], check=True)


def test_the_generator_reads_names_types_and_deprecations_per_release(tmp_path):
    spec = importlib.util.spec_from_file_location("gen", ROOT / "tools" / "gen_gopls_settings.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    repo = tmp_path / "tools"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    settings, api = "gopls/internal/settings/settings.go", "gopls/internal/doc/api.json"
    _commit(repo, {settings: SETTINGS_GO % "", api: _api(("staticcheck", "bool"))}, "gopls/v0.1.0")
    _commit(repo, {settings: SETTINGS_GO % NEW_CASE,
                   api: _api(("staticcheck", "bool"), ("memoryLimit", "int64"))}, None)  # fmt: skip
    data = gen.table(str(repo / ".git"), (0, 0, 0))
    assert data["releases"] == ["v0.1.0", "v0.2.0"]
    assert data["settings"]["staticcheck"] == [[0, 1, "bool", None, ""]]
    assert data["settings"]["hidden"] == [[0, 1, "array", None, ""]]
    assert data["settings"]["memoryLimit"] == [[1, 1, "integer", None, ""]]
    assert data["settings"]["memoryMode"] == [[0, 1, None, None, "deprecated"]]


# ---- obsolete settings follow the table too -------------------------------------------------


def obsolete(gopls: dict, version: str):
    p = proc(rss=3e8, version=version)
    snap = machine(p, inventory={"editor_settings": [settings_entry({"gopls": gopls})]})
    dets = run_machine_rules(snap, thresholds(), {"gopls_obsolete_setting"})
    return set(dets[0].evidence["settings"]) if dets else set()


@pytest.mark.parametrize(
    ("gopls", "old", "new"),
    [
        ({"build.memoryMode": "DegradeClosed"}, "v0.11.0", "v0.12.0"),  # no effect from v0.12
        ({"build.allowImplicitNetworkAccess": True}, "v0.15.3", "v0.16.0"),
        ({"tempModFile": True}, "v0.14.2", "v0.15.0"),
        ({"build.experimentalWorkspaceModule": True}, "v0.8.0", "v0.14.0"),
    ],
)
def test_obsolete_settings_follow_the_machine_release(gopls, old, new):
    assert obsolete(gopls, old) == set()
    assert obsolete(gopls, new) == {next(iter(gopls)).rsplit(".", 1)[-1]}


def test_current_settings_are_not_obsolete():
    assert obsolete({"ui.diagnostic.staticcheck": True, "build.env": {}}, "v0.23.0") == set()
