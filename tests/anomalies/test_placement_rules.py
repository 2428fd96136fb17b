"""New placement and cause rules: .wslconfig ignored, Go caches on 9P/network, analysis CPU."""

from __future__ import annotations

import numpy as np
import pytest

from apps.anomalies.advice import render_advice
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, settings_entry


def fired(snapshot, rule_id):
    return [d for d in run_machine_rules(snapshot, thresholds(), {rule_id}) if d.fired]


def wsl_machine(wslconfig=None, go_env=None, disks=None, platform="wsl2"):
    inventory = {"wsl": {"wslconfig": wslconfig or {}}, "go_env": go_env or {}}
    return machine(proc(rss=3e8), platform=platform, inventory=inventory, disks=disks or [])


def cfg(encoding="utf-8", sections=None):
    return {
        "path": "/mnt/c/Users/dev/.wslconfig",
        "found": True,
        "encoding": encoding,
        "sections": sections if sections is not None else {"wsl2": {"memory": "8GB"}},
        "error": None,
    }


# ---- .wslconfig ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16-le (no BOM)"])
def test_a_utf16_wslconfig_is_reported_as_ignored(encoding):
    (det,) = fired(wsl_machine(cfg(encoding)), "wslconfig_ignored")
    assert det.evidence["utf16"] is True
    assert encoding in det.explanation
    advice = render_advice(det.rule_id, platform="wsl2", facts=det.facts)
    assert "UTF-8" in str(advice["steps"])
    assert any(s["command"] == "wsl --shutdown" for s in advice["steps"])


@pytest.mark.parametrize(
    ("sections", "stray"),
    [
        ({"": {"memory": "8GB"}, "wsl2": {}}, ["memory (before any [section] header)"]),
        ({"wsl": {"memory": "8GB", "swap": "0"}}, ["memory ([wsl])", "swap ([wsl])"]),
        ({"WSL2": {"memory": "8GB"}, "Experimental": {"sparseVhd": "true"}}, []),
    ],
)
def test_keys_outside_the_vm_sections_are_reported(sections, stray):
    dets = fired(wsl_machine(cfg(sections=sections)), "wslconfig_ignored")
    assert (dets[0].evidence["stray_keys"] if dets else []) == stray


def test_a_good_wslconfig_or_none_or_another_platform_is_fine():
    assert fired(wsl_machine(cfg()), "wslconfig_ignored") == []
    assert fired(wsl_machine({"found": False}), "wslconfig_ignored") == []
    assert fired(wsl_machine(cfg("utf-16-le"), platform="linux"), "wslconfig_ignored") == []


# ---- Go caches on /mnt/<drive> or a network filesystem --------------------------------------

LOCAL = [{"path": "/", "fstype": "ext4", "purposes": ["gocache", "gomodcache", "home"]}]


@pytest.mark.parametrize(
    ("go_env", "disks", "vars_"),
    [
        ({"GOCACHE": "/mnt/c/Users/dev/go-build", "GOPATH": "/home/dev/go"}, LOCAL, "GOCACHE"),
        ({"GOPATH": "/mnt/d/go", "GOMODCACHE": "/mnt/d/go/pkg/mod"}, LOCAL, "GOMODCACHE GOPATH"),
        (
            {"GOPATH": "/home/dev/go", "GOCACHE": "/home/dev/.cache/go-build"},
            [{"path": "/", "fstype": "ext4", "purposes": []},
             {"path": "/home", "fstype": "nfs4", "purposes": ["home"]}],
            "GOCACHE GOPATH",
        ),
        (
            {"GOCACHE": "/home/dev/.cache/go-build"},
            [{"path": "/", "fstype": "ext4", "purposes": ["gocache"]},
             {"path": "/srv/mods", "fstype": "cifs", "purposes": ["gomodcache"]}],
            "GOMODCACHE",
        ),
    ],
)  # fmt: skip
def test_caches_on_the_windows_drive_or_a_network_filesystem_are_flagged(go_env, disks, vars_):
    (det,) = fired(wsl_machine(go_env=go_env, disks=disks), "wsl_go_cache_on_drvfs")
    assert det.facts["vars"] == vars_
    advice = render_advice(det.rule_id, platform="wsl2", facts=det.facts)
    assert vars_ in advice["summary"]
    assert advice["steps"][0]["command"] == "go env -u GOCACHE GOMODCACHE GOPATH"


@pytest.mark.parametrize(
    "go_env",
    [
        {"GOCACHE": "/home/dev/.cache/go-build", "GOPATH": "/home/dev/go"},
        {"GOCACHE": "off", "GOPATH": "/mnt/data/go"},  # /mnt/data is not a drive letter
        {"GOPATH": "/mntc/go"},
    ],
)
def test_caches_on_the_distro_filesystem_are_fine(go_env):
    assert fired(wsl_machine(go_env=go_env, disks=LOCAL), "wsl_go_cache_on_drvfs") == []


def test_the_cache_rule_is_about_wsl_only():
    linux = wsl_machine(go_env={"GOCACHE": "/mnt/c/x"}, disks=LOCAL, platform="linux")
    assert fired(linux, "wsl_go_cache_on_drvfs") == []


# ---- staticcheck / vulncheck on a machine with pegged CPU -----------------------------------


def analysis_machine(gopls_settings, cpu):
    return machine(
        proc(rss=3e8, cpu=cpu, minutes=40, step=15.0),
        inventory={"editor_settings": [settings_entry({"gopls": gopls_settings})]},
    )


@pytest.mark.parametrize(
    "gopls_settings",
    [
        {"ui.diagnostic.staticcheck": True},
        {"ui.diagnostic.vulncheck": "Imports"},
        {"staticcheck": True, "vulncheck": "imports"},
    ],
)
def test_heavy_analyses_on_a_pegged_gopls_are_named_as_the_likely_cause(gopls_settings):
    (det,) = fired(analysis_machine(gopls_settings, cpu=100.0), "gopls_analysis_cpu")
    assert det.evidence["cpu_rule"] == "gopls_cpu_pegged"
    assert det.evidence["minutes"] >= 5
    advice = render_advice(det.rule_id, platform="linux", editor="vscode", gopls=(0, 20, 0))
    settings = [s["setting"] for s in advice["steps"] if s["setting"]]
    assert '"gopls": {"ui.diagnostic.staticcheck": false}' in settings
    assert not any("Prompt" in s for s in settings)  # Prompt exists from v0.21 only
    newer = render_advice(det.rule_id, platform="linux", editor="vscode", gopls=(0, 21, 0))
    assert any("Prompt" in (s["setting"] or "") for s in newer["steps"])


def test_the_same_settings_with_an_idle_gopls_or_a_busy_gopls_without_them_are_not_flagged():
    assert fired(analysis_machine({"staticcheck": True}, cpu=3.0), "gopls_analysis_cpu") == []
    assert fired(analysis_machine({"staticcheck": False}, cpu=100.0), "gopls_analysis_cpu") == []
    assert fired(analysis_machine({"vulncheck": "Off"}, cpu=100.0), "gopls_analysis_cpu") == []
    busy = np.where(np.arange(161) % 2 == 0, 30.0, 25.0)  # busy while idle, not pegged
    (det,) = fired(analysis_machine({"staticcheck": True}, cpu=busy), "gopls_analysis_cpu")
    assert det.evidence["cpu_rule"] == "gopls_cpu_busy_idle"
