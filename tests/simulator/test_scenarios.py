"""Each injected scenario leaves its signature in the generated data; healthy machines none."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from apps.ingest.validation import validate_report
from apps.simulator.catalog import GiB, MiB
from apps.simulator.fleet import build_machine
from apps.simulator.inventory import inventory
from apps.simulator.reports import MachineSim, report
from apps.simulator.scenarios import SCENARIOS
from tests.simulator.conftest import END, TEAMS, main_procs, simulate


def heap(pairs):
    return np.array([p["debug"]["heap_inuse_bytes"] for _, p in pairs], dtype=float)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reports_of_every_scenario_validate(scenario):
    spec = build_machine(5, 3, TEAMS, force=[scenario])
    sim = MachineSim(spec)
    samples = sim.samples(END - 3600, END)
    for i in range(0, len(samples), 40):
        assert validate_report(report(sim, samples[i : i + 4], END, first=i == 0)) == []


def test_healthy_machine_has_a_gc_sawtooth_rss_above_heap_and_no_growth():
    spec, samples = simulate([], hours=6)
    assert spec.problems == []
    pairs = [(s, p) for s, p in main_procs(spec, samples) if s["gopls"][0]["pid"] == p["pid"]]
    h = heap(pairs[40:])
    drops = np.sum(np.diff(h) < -0.1 * h[:-1])
    assert drops > len(h) / 20  # the GC cuts the heap again and again
    assert all(p["rss_bytes"] > p["debug"]["heap_inuse_bytes"] for _, p in pairs)
    live = np.array([p["debug"]["next_gc_bytes"] for _, p in pairs[40:]], dtype=float)
    assert live[-240:].mean() < live[:240].mean() * 1.15  # plateau, not a leak


def test_healthy_machine_has_debug_servers_a_sane_version_and_clean_settings():
    for index in range(40):
        spec = build_machine(11, index, TEAMS)
        if spec.problems:
            continue
        assert spec.gopls_version >= "v0.16"
        assert all(slot.debug for slot in spec.slots)
        for entry in inventory(spec, "2026-11-23T00:00:00Z")["editor_settings"]:
            flat = str(entry["settings"])
            assert "memoryMode" not in flat
            assert "GOMEMLIMIT" not in flat
            assert "-rpc.trace" not in flat
            assert not entry["has_go_goplsArgs"]


def test_initial_workspace_load_climbs_then_plateaus():
    spec, samples = simulate(["cpu_busy_idle"], hours=30)
    starts = {}
    for _s, p in main_procs(spec, samples):
        starts.setdefault((p["pid"], p["start_time"]), []).append(p["rss_bytes"])
    climbs = [rss for rss in starts.values() if len(rss) > 40 and rss[0] < rss[-1] / 3]
    assert climbs  # a lifetime started in the window: small at first, then on a plateau
    assert abs(climbs[0][-1] - climbs[0][-20]) < climbs[0][-1] * 0.1


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_leak_grows_the_heap_at_the_injected_slope_after_onset():
    spec, samples = simulate(["gopls_leak"], hours=12)
    leak = spec.problem("gopls_leak")
    settle = spec.slots[0].load_s + leak["after_load_s"]
    lives = {}
    for s, p in main_procs(spec, samples):
        if epoch(s["collected_at"]) - epoch(p["start_time"]) > settle:
            lives.setdefault(p["start_time"], []).append((s, p))
    leaking = max(lives.values(), key=len)
    assert len(leaking) > 240
    t = np.array([epoch(s["collected_at"]) for s, _ in leaking]) / 3600
    fit = np.polyfit(t - t[0], heap(leaking) / MiB, 1)[0]
    assert 0.7 * leak["heap_slope_mb_per_h"] < fit < 1.4 * leak["heap_slope_mb_per_h"]


def test_pegged_cpu_stays_above_95_percent_of_a_core():
    spec, samples = simulate(["cpu_pegged"], hours=4)
    cpu = np.array([p["cpu_percent"] for _, p in main_procs(spec, samples)])
    assert np.mean(cpu[-480:] >= 95) > 0.95


def test_busy_idle_cpu_sits_around_15_percent():
    spec, samples = simulate(["cpu_busy_idle"], hours=4)
    cpu = np.array([p["cpu_percent"] for _, p in main_procs(spec, samples)])
    assert 10 <= np.median(cpu) <= 25


def test_inotify_exhaustion_reaches_more_than_80_percent_of_the_limit():
    _spec, samples = simulate(["inotify_exhaustion"], hours=6)
    watches = [s["inotify"]["watches_used"] / s["inotify"]["max_user_watches"] for s in samples]
    assert max(watches) > 0.8
    assert samples[0]["inotify"]["max_user_watches"] in (8192, 65536)
    names = {t["name"] for t in samples[-1]["inotify"]["top"]}
    assert {"gopls", "node"} <= names


def test_wsl_memory_pressure_caps_memtotal_at_half_the_host_and_fills_the_cache():
    spec, samples = simulate(["wsl_memory_pressure"], hours=6)
    assert spec.platform == "wsl2"
    assert abs(spec.mem_total - spec.host_mem / 2) < 0.05 * spec.host_mem
    last = samples[-1]
    assert last["wsl"]["mem_total_bytes"] == spec.mem_total
    assert last["wsl"]["mem_cached_bytes"] > 0.5 * spec.mem_total
    assert last["system"]["mem_available_bytes"] < 0.12 * spec.mem_total


def test_oom_kills_increment_the_counter_and_name_gopls_as_victim():
    _spec, samples = simulate(["oom_kill"], hours=24)
    counts = [s["system"]["oom_kill_count"] for s in samples]
    steps = [b - a for a, b in zip(counts, counts[1:]) if b != a]
    assert steps.count(1) >= 4  # a kill every 2-4 hours, counted once each
    victims = [v for s in samples for v in s["system"].get("oom_victims", [])]
    assert victims
    assert {v["name"] for v in victims} == {"gopls"}
    after = [p["pid"] for s in samples if s["collected_at"] > victims[0]["at"] for p in s["gopls"]]
    assert victims[0]["pid"] not in after  # the killed process is gone, a new one took over


def test_cache_bloat_leaves_less_than_5_gb_free_and_falling():
    _spec, samples = simulate(["cache_bloat"], hours=3)
    free = [s["system"]["disks"][0]["free_bytes"] for s in samples]
    assert max(free) < 5e9
    assert free[-1] < free[0]
    assert samples[-1]["go"]["caches"]["gocache_bytes"] > 20 * GiB


@pytest.mark.parametrize("cause", ["invented_flags", "gomemlimit_bad_suffix"])
def test_crash_loop_gives_many_short_lifetimes_with_the_cause_in_argv_or_env(cause):
    spec, samples = simulate([cause], hours=6)
    assert {p.scenario for p in spec.problems} == {cause, "crash_loop"}
    lives = {}
    for s in samples:
        for p in s["gopls"]:
            lives.setdefault((p["pid"], p["start_time"]), (p["argv"], p["env"]))
    assert len(lives) >= 8
    argv, env = next(iter(lives.values()))
    bad = spec.problem(cause)
    if cause == "invented_flags":
        assert bad["flags"][0] in argv
    else:
        assert env["GOMEMLIMIT"] == bad["value"]
    seen = {}
    for s in samples:
        for p in s["gopls"]:
            seen[(p["pid"], p["start_time"])] = seen.get((p["pid"], p["start_time"]), 0) + 1
    assert max(seen.values()) * 15 <= 60  # each lifetime is seen for under a minute
