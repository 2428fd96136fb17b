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


def _longest_run(flags) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def _minute_means(samples_procs) -> np.ndarray:
    minutes = collections.defaultdict(list)
    for sample, proc in samples_procs:
        minutes[sample["collected_at"][:16]].append(proc["cpu_percent"])
    return np.array([np.mean(v) for _, v in sorted(minutes.items())])


def _lifetimes(samples) -> dict[tuple, list[dict]]:
    lives = collections.defaultdict(list)
    for sample in samples:
        for proc in sample["gopls"]:
            lives[(proc["pid"], proc["start_time"])].append((sample, proc))
    return lives


def signatures(spec, samples, project_rss: dict[str, float]) -> set[str]:
    """What a simple detector would flag, from the data alone (no peeking at the spec)."""
    found = set()
    lives = _lifetimes(samples)
    for pairs in lives.values():
        procs = [p for _, p in pairs]
        # the rules of apps/anomalies: per-minute means, 5 min >= 95 % or 10 min > 10 %
        cpu = _minute_means(pairs)
        if _longest_run(cpu >= 95) >= 5:
            found.add("cpu_pegged")
        elif _longest_run((cpu > 10) & (cpu < 95)) >= 10:
            found.add("cpu_busy_idle")
        rss = max(p["rss_bytes"] for p in procs)
        if rss > 0.25 * last_total(samples) or rss > 4 * 1024**3:
            found.add("memory_high")
        p95 = [
            p["debug"]["rpc"]["textDocument/completion"]["p95_ms"]
            for p in procs
            if (p.get("debug") or {}).get("rpc")
        ]
        if p95 and np.median(p95) > 1000:
            found.add("rpc_latency")
        # live heap (RSS without a debug server): floor of 10-minute buckets, least-squares slope
        heap = [(p.get("debug") or {}).get("heap_inuse_bytes") or p["rss_bytes"] for p in procs]
        floors = [min(heap[i : i + 40]) for i in range(80, len(heap) - 39, 40)]
        if len(floors) >= 12:
            slope = np.polyfit(np.arange(len(floors)) / 6, floors, 1)[0]  # bytes per hour
            if slope > 25e6 and slope * len(floors) / 6 > 0.1 * floors[0]:
                found.add("gopls_leak")
        proc = procs[-1]
        if proc.get("fd_limit") and max(p["open_fds"] for p in procs) > 0.8 * proc["fd_limit"]:
            found.add("fd_near_limit")
        cgroup = proc.get("cgroup") or {}
        limit = cgroup.get("memory_max_bytes")
        if limit and cgroup["memory_current_bytes"] > 0.8 * limit:
            found.add("cgroup_memory_low")
        module = proc["projects"][0]["module"]
        if proc["editor"]["kind"] != "none" and np.median(
            [p["rss_bytes"] for p in procs]
        ) > 2.5 * project_rss.get(module, 1e18):
            found.add("memory_outlier")
    inner = [pairs for pairs in lives.values() if pairs[0][0] is not samples[0]]
    short = sorted(pairs[0][0]["collected_at"] for pairs in inner if len(pairs) * 15 < 120)
    if any(b[:13] == a[:13] for a, b in zip(short, short[2:])):  # 3 short ones in an hour
        found.add("crash_loop")
    all_procs = [p for s in samples for p in s["gopls"]]
    if any(p["version"] in OLD_GOPLS for p in all_procs):
        found.add("old_gopls")
    if any("debug" not in p for p in all_procs):
        found.add("no_debug_server")
    if any(p["editor"]["kind"] == "none" for p in all_procs):
        found.add("orphan_gopls")
    for sample in samples:
        editors = collections.Counter(p["editor"]["kind"] for p in sample["gopls"])
        editors.pop("none", None)
        if len(sample["gopls"]) > 4 or any(n > 1 for n in editors.values()):
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


def last_total(samples) -> int:
    return samples[-1]["system"]["mem_total_bytes"]


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


@pytest.mark.parametrize("seed", [2])
def test_every_machine_shows_exactly_the_problems_of_its_manifest(seed):
    specs = [build_machine(seed, i, TEAMS) for i in range(40)]
    samples = {s.machine_id: MachineSim(s).samples(END - 8 * 3600, END) for s in specs}
    by_project = collections.defaultdict(list)  # one median per machine: its peers
    memory = {"gopls_leak", "memory_outlier", "oom_kill", "cgroup_memory_low"}
    for spec in specs:
        if memory & {p.scenario for p in spec.problems}:
            continue
        per_module = collections.defaultdict(list)
        for pairs in _lifetimes(samples[spec.machine_id]).values():
            if pairs[0][1]["editor"]["kind"] != "none":
                per_module[pairs[0][1]["projects"][0]["module"]] += [
                    p["rss_bytes"] for _, p in pairs
                ]
        for module, values in per_module.items():
            by_project[module].append(np.median(values))
    project_rss = {m: float(np.median(v)) for m, v in by_project.items() if len(v) >= 3}
    mismatches = {}
    entries = manifest.build(specs, seed, END - 8 * 3600, END, 15)["machines"]
    for spec, entry in zip(specs, entries):
        truth = entry["problems"]
        expected = {p["scenario"] for p in truth if p["expected"]}
        tolerated = expected | {s for p in truth for s in p["may_also_show"]}
        found = signatures(spec, samples[spec.machine_id], project_rss)
        if not expected <= found <= tolerated:
            mismatches[spec.machine_id] = {"expected": expected, "found": found}
    assert mismatches == {}
    assert sum(1 for spec in specs if not spec.problems) > 15  # and those showed nothing
