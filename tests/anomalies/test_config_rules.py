"""Configuration lint and version rules against what real gopls accepts."""

from __future__ import annotations

import pytest

from apps.anomalies.detectors import REGISTRY, run_machine_rules
from apps.anomalies.detectors.config_lint import flag_names, rejected_flags
from apps.anomalies.detectors.facts import gomemlimit_valid, gopls_version, iec
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, settings_entry


def fired(snapshot) -> dict:
    return {d.rule_id: d for d in run_machine_rules(snapshot, thresholds()) if d.fired}


@pytest.mark.parametrize(
    "flag",
    ["-no-load-full-workspace", "-skip-mod-download", "-max-parallel=4", "-memory-threshold=2048"],
)
def test_invented_flags_are_critical_because_gopls_will_not_start(flag):
    snapshot = machine(
        proc(rss=3e8),
        inventory={
            "editor_settings": [settings_entry({"go.languageServerFlags": ["-rpc.trace", flag]})]
        },
    )
    finding = fired(snapshot)["gopls_invalid_flags"]
    assert finding.severity == "critical"
    assert finding.evidence["invented"] == [flag.split("=")[0]]


def test_real_flags_pass_and_version_bound_flags_follow_the_version():
    assert rejected_flags(["-debug", "localhost:0", "-logfile=auto", "serve"], (0, 20, 0)) == []
    assert rejected_flags(["-port=6060"], (0, 22, 0)) == ["-port"]
    assert rejected_flags(["-port=6060"], (0, 21, 0)) == []
    assert rejected_flags(["-otel=http://x"], (0, 21, 0)) == ["-otel"]
    assert flag_names(["-debug", "localhost:0", "-rpc.trace", "serve"]) == ["debug", "rpc.trace"]


def test_go_goplsargs_is_flagged_as_doing_nothing():
    snapshot = machine(inventory={"editor_settings": [settings_entry({}, has_args=True)]})
    assert fired(snapshot)["go_goplsargs_setting"].severity == "warning"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("4GB", False),
        ("4G", False),
        ("3GiB", True),
        ("3221225472", True),
        ("off", True),
        ("512MiB", True),
    ],
)
def test_gomemlimit_syntax_matches_the_go_runtime(value, ok):
    assert gomemlimit_valid(value) is ok


def test_gomemlimit_with_si_suffix_in_tools_env_is_critical():
    snapshot = machine(
        inventory={"editor_settings": [settings_entry({"go.toolsEnvVars": {"GOMEMLIMIT": "4GB"}})]}
    )
    assert fired(snapshot)["gomemlimit_bad_suffix"].severity == "critical"


def test_gomemlimit_in_build_env_is_flagged():
    snapshot = machine(
        inventory={
            "editor_settings": [settings_entry({"gopls": {"build.env": {"GOMEMLIMIT": "3GiB"}}})]
        }
    )
    assert "gomemlimit_in_build_env" in fired(snapshot)


def test_memory_mode_is_an_obsolete_setting_and_rpc_trace_is_noticed():
    snapshot = machine(
        inventory={
            "editor_settings": [
                settings_entry(
                    {
                        "gopls": {"build.memoryMode": "DegradeClosed"},
                        "go.languageServerFlags": ["-rpc.trace"],
                    }
                )
            ]
        }
    )
    result = fired(snapshot)
    assert "memoryMode" in result["gopls_obsolete_setting"].evidence["settings"]
    assert "gopls_rpc_trace_on" in result


@pytest.mark.parametrize(
    ("version", "bad"),
    [
        ("v0.11.0", True),
        ("v0.12.4", True),
        ("v0.15.1", True),
        ("v0.15.3", False),
        ("v0.16.2", False),
    ],
)
def test_known_bad_gopls_versions(version, bad):
    snapshot = machine(proc(version=version, rss=3e8))
    assert ("gopls_version_known_bad" in fired(snapshot)) is bad


def test_team_minimum_and_go_support_window():
    snapshot = machine(
        proc(version="v0.19.0", rss=3e8),
        team_min_gopls="v0.20.0",
        inventory={"go_env": {"GOVERSION": "go1.22.3"}},
    )
    result = fired(snapshot)
    assert result["gopls_below_team_minimum"].evidence["minimum"] == "v0.20.0"
    assert result["gopls_go_unsupported"].evidence["go_installed"] == "go1.22"


def test_devel_builds_are_placed_by_their_x_tools_version():
    assert gopls_version("(devel)", "golang.org/x/tools v0.1.11-0.2022")[0] < (0, 12, 0)
    assert gopls_version("(devel)", "") == (None, False)


def test_goroot_inconsistency():
    snapshot = machine(inventory={"goroot_check": {"consistent": False, "problems": ["x"]}})
    assert "goroot_inconsistent" in fired(snapshot)


def test_iec_formatting_never_uses_si_suffixes():
    assert iec(3 * 2**30) == "3GiB"
    assert iec(1536 * 2**20) == "1536MiB"


def test_every_rule_is_registered_once_with_a_category():
    assert len(REGISTRY) >= 30
    assert all(r.category for r in REGISTRY.values())
