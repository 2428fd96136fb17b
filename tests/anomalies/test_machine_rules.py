"""System, WSL, process and CPU rules over small hand-built snapshots."""

from __future__ import annotations

import numpy as np

from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.detectors.fleet import (
    PeerSample,
    fleet_memory_outlier,
    gopls_version_regression,
)
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import NOW, machine, proc, system

GIB = 2**30


def fired(snapshot) -> dict:
    return {d.rule_id: d for d in run_machine_rules(snapshot, thresholds()) if d.fired}


def test_inotify_watches_over_80_percent_with_top_consumers_and_time_to_exhaustion():
    used = np.linspace(150_000, 170_000, 31)
    snapshot = machine(
        sys=system(watches_used=used, watches_max=192_536),
        inotify_top=[{"pid": 1, "name": "code", "watches": 160_000}],
    )
    finding = fired(snapshot)["inotify_watches"]
    assert finding.evidence["ratio"] > 0.8
    assert finding.evidence["top_consumers"][0]["name"] == "code"
    assert 0 < finding.evidence["hours_to_exhaustion"] < 1


def test_inotify_between_clear_and_fire_only_holds():
    snapshot = machine(sys=system(watches_used=150_000, watches_max=192_536))
    (d,) = [d for d in run_machine_rules(snapshot, thresholds()) if d.rule_id == "inotify_watches"]
    assert d.hold
    assert not d.fired


def test_wsl_memory_pressure_and_default_cap_with_a_big_gopls():
    cap = 8 * GIB
    snapshot = machine(
        proc(rss=4 * GIB),
        platform="wsl2",
        mem_total=cap,
        sys=system(mem_available=0.05 * cap, wsl_mem_total=cap),
        inventory={"wsl": {"wslconfig": {"found": False, "sections": {}}}},
    )
    result = fired(snapshot)
    assert result["wsl_memory_pressure"].severity in ("warning", "critical")
    assert "wsl_default_cap_large_gopls" in result


def test_wsl_rules_stay_quiet_on_plain_linux():
    snapshot = machine(proc(rss=4 * GIB), sys=system(mem_available=0.05 * 16 * GIB))
    assert not {"wsl_memory_pressure", "wsl_default_cap_large_gopls"} & set(fired(snapshot))


def test_misplaced_wsl_conf_keys_and_drvfs_workspaces():
    snapshot = machine(
        proc(rss=3e8, cwd="/mnt/c/Users/dev/src/app"),
        platform="wsl2",
        inventory={"wsl": {"wsl_conf": {"misplaced_keys": ["wsl2.memory"]}}},
    )
    result = fired(snapshot)
    assert result["wsl_conf_misplaced_keys"].evidence["keys"] == ["wsl2.memory"]
    assert result["wsl_workspace_on_drvfs"].evidence["workspaces"] == ["/mnt/c/Users/dev/src/app"]


def test_oom_kill_counter_increase_is_critical():
    snapshot = machine(
        sys=system(oom_kills=[0] * 20 + [1] * 11),
        oom_victims=[{"pid": 5, "name": "gopls", "rss_bytes": 6 * GIB}],
    )
    finding = fired(snapshot)["oom_kill"]
    assert finding.severity == "critical"
    assert finding.evidence["gopls_killed"] is True


def test_disk_filling_with_go_caches():
    free = np.linspace(20e9, 4e9, 31)
    snapshot = machine(sys=system(disk_free=free, gocache=30e9, gomodcache=40e9, gopls_cache=4e9))
    result = fired(snapshot)
    assert result["cache_disk_full"].evidence["go_caches_bytes"] == 74e9
    assert "gopls_cache_oversized" in result


def test_fd_cgroup_and_no_debug_server():
    p = proc(
        rss=1.9 * GIB,
        open_fds=900,
        fd_limit=1024,
        cgroup_max=2 * GIB,
        debug_addr="",
        argv=["gopls"],
    )
    result = fired(machine(p))
    assert result["gopls_fd_near_limit"].evidence["open_fds"] == 900
    assert result["cgroup_memory_low"].severity == "critical"
    assert result["gopls_no_debug_server"].severity == "info"


def test_too_many_gopls_orphans_and_crash_loops():
    alive = [proc(pid=i, rss=5e8) for i in range(1, 6)]
    orphan = proc(pid=50, rss=5e8, editor="")
    dead = []
    for i in range(4):
        p = proc(pid=200 + i, rss=1e8, minutes=1)
        p.start_ts, p.last_ts = NOW - 3000 + i * 300, NOW - 3000 + i * 300 + 20
        dead.append(p)
    result = fired(machine(*alive, orphan, *dead))
    assert result["too_many_gopls"].evidence["count"] == 6
    assert "gopls_orphan" in result
    assert result["gopls_crash_loop"].evidence["short_lifetimes"] == 4


def test_busy_while_idle_and_children_cpu_and_latency():
    p = proc(cpu=20.0, children_cpu=150.0, completion_p95=1800.0, rss=4e8)
    result = fired(machine(p))
    assert result["gopls_cpu_busy_idle"].evidence["minutes"] >= 10
    assert "gopls_children_cpu" in result
    assert result["gopls_rpc_latency"].evidence["completion_p95_ms"] == 1800


def test_fleet_outlier_needs_a_group_of_three_and_a_robust_z():
    peers = [PeerSample(i, "github.com/acme/app", "v0.20.0", 800e6 + i * 10e6) for i in range(5)]
    peers.append(PeerSample("big", "github.com/acme/app", "v0.20.0", 4e9))
    result = fleet_memory_outlier(peers, thresholds())
    assert set(result) == {"big"}
    assert not fleet_memory_outlier(peers[:1] + peers[-1:], thresholds())


def test_version_regression_compares_the_newest_version_with_the_previous():
    peers = [PeerSample(f"o{i}", "p", "v0.19.0", 700e6) for i in range(3)]
    peers += [PeerSample(f"n{i}", "p", "v0.20.0", 1400e6) for i in range(3)]
    result = gopls_version_regression(peers, thresholds())
    assert set(result) == {"n0", "n1", "n2"}
    assert result["n0"][0].evidence["ratio"] == 2.0
