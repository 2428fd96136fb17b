"""Naive signature checks agree with the manifest: each machine shows its problems, no others."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from apps.simulator import manifest
from apps.simulator.catalog import OLD_GOPLS, TEAMS
from apps.simulator.fleet import build_machine
from apps.simulator.inventory import inventory
from apps.simulator.reports import MachineSim
from tests.simulator.conftest import END

HALF_HOUR = 120  # samples


def _windows(values: np.ndarray, size: int = HALF_HOUR):
    for start in range(0, max(1, len(values) - size + 1), size // 4):
        yield values[start : start + size]


def _lifetimes(samples) -> dict[tuple, list[dict]]:
    lives = collections.defaultdict(list)
    for sample in samples:
        for proc in sample["gopls"]:
            lives[(proc["pid"], proc["start_time"])].append(proc)
    return lives


def signatures(spec, samples, project_rss: dict[str, float]) -> set[str]:
    """What a simple detector would flag, from the data alone (no peeking at the spec)."""
    found = set()
    lives = _lifetimes(samples)
    for procs in lives.values():
        cpu = np.array([p["cpu_percent"] for p in procs])
        for window in _windows(cpu) if len(cpu) >= HALF_HOUR else []:
            low = np.percentile(window, 10)
            found |= {"cpu_pegged"} if low >= 90 else ({"cpu_busy_idle"} if low >= 10 else set())
        heap = [p["debug"]["heap_inuse_bytes"] for p in procs if p.get("debug")]
        if len(heap) >= 4 * HALF_HOUR:
            first, last = np.mean(heap[HALF_HOUR : 2 * HALF_HOUR]), np.mean(heap[-HALF_HOUR:])
            found |= {"gopls_leak"} if last > first * 1.3 and last - first > 100e6 else set()
        proc = procs[-1]
        if proc.get("fd_limit") and max(p["open_fds"] for p in procs) > 0.8 * proc["fd_limit"]:
            found.add("fd_near_limit")
        cgroup = proc.get("cgroup") or {}
        if cgroup.get("memory_max_bytes"):
            found |= {"cgroup_memory_low"}
        module = proc["projects"][0]["module"]
        if proc["editor"]["kind"] != "none" and np.median(
            [p["rss_bytes"] for p in procs]
        ) > 2.5 * project_rss.get(module, 1e18):
            found.add("memory_outlier")
    short = [procs for procs in lives.values() if len(procs) <= 4]
    if len(short) >= 4:
        found.add("crash_loop")
    all_procs = [p for s in samples for p in s["gopls"]]
    if any(p["version"] in OLD_GOPLS for p in all_procs):
        found.add("old_gopls")
    if any("debug" not in p for p in all_procs):
        found.add("no_debug_server")
    if any(p["editor"]["kind"] == "none" for p in all_procs):
        found.add("orphan_gopls")
    if max(len(s["gopls"]) for s in samples) > 4:
        found.add("too_many_gopls")
    last = samples[-1]
    ino = last.get("inotify")
    if ino and max(s["inotify"]["watches_used"] for s in samples) > 0.8 * ino["max_user_watches"]:
        found.add("inotify_exhaustion")
    wsl = last.get("wsl")
    if wsl and wsl["mem_cached_bytes"] > 0.5 * wsl["mem_total_bytes"]:
        found.add("wsl_memory_pressure")
    if wsl and wsl["workspaces_on_drvfs"]:
        found.add("workspace_on_drvfs")
    counts = [s["system"]["oom_kill_count"] for s in samples]
    if counts[0] is not None and any(b > a for a, b in zip(counts, counts[1:])):
        found.add("oom_kill")
    if min(s["system"]["disks"][0]["free_bytes"] for s in samples) < 5e9:
        found.add("cache_bloat")
    return found | _settings_signatures(spec)


def _settings_signatures(spec) -> set[str]:
    inv = inventory(spec, "2026-11-23T00:00:00Z")
    found = set()
    for entry in inv["editor_settings"]:
        settings = entry["settings"]
        flags = " ".join(settings.get("go.languageServerFlags", []))
        if any(f in flags for f in ("-no-load", "-skip-mod", "-max-parallel", "-memory-thr")):
            found.add("invented_flags")
        if "-rpc.trace" in flags:
            found.add("rpc_trace_on")
        limit = settings.get("go.toolsEnvVars", {}).get("GOMEMLIMIT", "")
        if (limit and not limit.endswith(("iB", "B"))) or limit.endswith(("GB", "MB")):
            found.add("gomemlimit_bad_suffix")
        gopls = settings.get("gopls", {})
        if "GOMEMLIMIT" in gopls.get("build.env", {}):
            found.add("gomemlimit_in_build_env")
        if "build.memoryMode" in gopls:
            found.add("memorymode_setting")
        if entry["has_go_goplsArgs"]:
            found.add("goplsargs_setting")
    if (inv.get("wsl") or {}).get("wsl_conf", {}).get("misplaced_keys"):
        found.add("wslconf_misplaced_keys")
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_every_machine_shows_exactly_the_problems_of_its_manifest(seed):
    specs = [build_machine(seed, i, TEAMS) for i in range(45)]
    samples = {s.machine_id: MachineSim(s).samples(END - 8 * 3600, END) for s in specs}
    by_project = collections.defaultdict(list)
    for spec in specs:
        if not spec.problems:
            for procs in _lifetimes(samples[spec.machine_id]).values():
                module = procs[0]["projects"][0]["module"]
                by_project[module].append(np.median([p["rss_bytes"] for p in procs]))
    project_rss = {module: float(np.median(values)) for module, values in by_project.items()}
    mismatches = {}
    for spec in specs:
        truth = manifest.machine_entry(spec, END - 8 * 3600, END)["problems"]
        expected = {p["scenario"] for p in truth if p["in_window"]}
        tolerated = expected | {s for p in truth for s in p["may_also_show"]}
        found = signatures(spec, samples[spec.machine_id], project_rss)
        if not expected <= found <= tolerated:
            mismatches[spec.machine_id] = {"expected": expected, "found": found}
    assert mismatches == {}
    assert sum(1 for spec in specs if not spec.problems) > 20  # and those showed nothing
