"""Settings, WSL config, versions and process-shape scenarios; the fleet mix and the manifest."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from apps.simulator.catalog import OLD_GOPLS
from apps.simulator.fleet import build_machine
from apps.simulator.inventory import inventory
from apps.simulator.manifest import build as build_manifest
from apps.simulator.scenarios import SCENARIOS
from tests.simulator.conftest import END, TEAMS, main_procs, simulate


def settings_of(spec) -> dict:
    return inventory(spec, "2026-11-23T00:00:00Z")["editor_settings"][0]


@pytest.mark.parametrize(
    ("scenario", "needle"),
    [
        ("invented_flags", "-no-load-full-workspace|-skip-mod-download|-max-parallel|-memory"),
        ("gomemlimit_bad_suffix", "GB'|G'"),
        ("gomemlimit_in_build_env", "'build.env': {'GOMEMLIMIT'"),
        ("memorymode_setting", "'build.memoryMode': 'DegradeClosed'"),
        ("rpc_trace_on", "-rpc.trace"),
    ],
)
def test_bad_settings_appear_in_the_inventory_editor_settings(scenario, needle):
    entry = settings_of(build_machine(2, 1, TEAMS, force=[scenario]))
    assert entry["editor"] in ("vscode", "vscode-server", "cursor")
    assert any(option in str(entry["settings"]) for option in needle.split("|"))


def test_goplsargs_setting_is_flagged_by_has_go_goplsargs():
    assert settings_of(build_machine(2, 1, TEAMS, force=["goplsargs_setting"]))["has_go_goplsArgs"]


def test_misplaced_wsl_conf_keys_are_listed_and_present_in_wsl_conf():
    spec = build_machine(2, 4, TEAMS, force=["wslconf_misplaced_keys"])
    conf = inventory(spec, "2026-11-23T00:00:00Z")["wsl"]["wsl_conf"]
    assert "wsl2.memory" in conf["misplaced_keys"]
    assert "memory" in conf["sections"]["wsl2"]


def test_workspace_on_drvfs_puts_the_repo_under_mnt_c():
    _spec, samples = simulate(["workspace_on_drvfs"], hours=0.5)
    assert samples[-1]["wsl"]["workspaces_on_drvfs"][0].startswith("/mnt/c/")
    assert samples[-1]["gopls"][0]["cwd"].startswith("/mnt/c/")


def test_old_gopls_runs_a_known_bad_version_built_with_the_go_of_its_era():
    _spec, samples = simulate(["old_gopls"], hours=0.5)
    proc = samples[-1]["gopls"][0]
    assert proc["version"] in OLD_GOPLS
    assert proc["go_version"] < "go1.23"


def test_no_debug_server_reports_rss_only():
    _spec, samples = simulate(["no_debug_server"], hours=0.5)
    procs = [p for s in samples for p in s["gopls"]]
    assert procs
    assert all("debug" not in p and p["rss_bytes"] > 0 for p in procs)


def test_orphan_gopls_has_no_editor_and_an_old_start():
    _spec, samples = simulate(["orphan_gopls"], hours=0.5)
    orphans = [p for p in samples[-1]["gopls"] if p["editor"]["kind"] == "none"]
    assert len(orphans) == 1
    assert orphans[0]["start_time"] < samples[0]["collected_at"][:10]


def test_too_many_gopls_runs_six_or_more_servers():
    _spec, samples = simulate(["too_many_gopls"], hours=0.5)
    assert len(samples[-1]["gopls"]) >= 6


def test_fd_usage_climbs_near_the_limit():
    spec, samples = simulate(["fd_near_limit"], hours=4)
    ratio = max(p["open_fds"] / p["fd_limit"] for _, p in main_procs(spec, samples))
    assert 0.85 < ratio < 1


def test_low_cgroup_memory_max_is_nearly_used_up():
    _spec, samples = simulate(["cgroup_memory_low"], hours=2)
    cgroup = samples[-1]["gopls"][0]["cgroup"]
    assert cgroup["memory_max_bytes"] <= 3 * 1024**3
    assert cgroup["memory_current_bytes"] / cgroup["memory_max_bytes"] > 0.8


def test_memory_outlier_uses_several_times_the_memory_of_peers_on_the_same_project():
    spec, samples = simulate(["memory_outlier"], hours=1)
    peer = next(
        p
        for i in range(60)
        for p in [build_machine(11, 100 + i, TEAMS, force=[])]
        if p.slots[0].project == spec.slots[0].project
    )
    _, peer_samples = simulate([], hours=1, index=peer.index)
    mine = np.median([p["rss_bytes"] for _, p in main_procs(spec, samples)])
    theirs = np.median([p["rss_bytes"] for _, p in main_procs(peer, peer_samples)])
    assert mine > 2.5 * theirs


def test_fleet_mix_is_realistic_and_about_60_percent_healthy():
    specs = [build_machine(1, i, TEAMS) for i in range(300)]
    platforms = collections.Counter(s.platform for s in specs)
    assert 0.45 < platforms["linux"] / 300 < 0.65
    assert 0.12 < platforms["darwin"] / 300 < 0.28
    assert platforms["wsl2"] > platforms["wsl1"] > 0
    healthy = sum(1 for s in specs if not s.problems)
    assert 0.5 < healthy / 300 < 0.7
    assert all(len({p.scenario for p in s.problems if p.caused_by is None}) <= 2 for s in specs)
    assert len({s.editor for s in specs}) >= 8
    assert len({s.gopls_version for s in specs}) >= 8
    seen = {p.scenario for s in specs for p in s.problems}
    assert seen == set(SCENARIOS)


def test_manifest_names_each_problem_with_parameters_and_onset():
    specs = [build_machine(1, i, TEAMS) for i in range(30)]
    truth = build_manifest(specs, 1, END - 6 * 3600, END, 15)
    assert len(truth["machines"]) == 30
    for machine in truth["machines"]:
        assert machine["healthy"] == (machine["problems"] == [])
        for problem in machine["problems"]:
            assert problem["scenario"] in SCENARIOS
            assert problem["onset"] >= truth["window"]["start"]
            assert machine["machine_id"] in truth["scenarios"][problem["scenario"]]
    assert set(truth["healthy"]) == {m["machine_id"] for m in truth["machines"] if m["healthy"]}
