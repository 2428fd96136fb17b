"""The leak detector on synthetic traces: leaks found, loads, sawtooth and jumps ignored."""

from __future__ import annotations

import numpy as np
import pytest

from apps.anomalies.detectors.leak import detect_leak
from apps.anomalies.detectors.memory import gopls_memory_leak
from apps.anomalies.thresholds import thresholds
from tests.anomalies.synthetic import GB, memory_trace, snapshot_for

PARAMS = thresholds()["gopls_memory_leak"]


def first_fire_minutes(trace) -> float | None:
    for cut in np.arange(trace.t[0] + 600, trace.t[-1] + 1, 300):
        found = gopls_memory_leak(snapshot_for(trace, until=cut), thresholds())
        if any(d.fired for d in found):
            return (cut - trace.t[0]) / 60
    return None


@pytest.mark.parametrize("slope", [100, 300])
def test_it_finds_a_leak_within_an_hour_of_its_onset(slope):
    trace = memory_trace(
        "leak",
        hours=5,
        rng=np.random.default_rng(slope),
        leak_mb_h=slope,
        leak_onset_h=1,
        load_level=1 * GB,
    )
    minutes = first_fire_minutes(trace)
    assert minutes is not None
    assert 60 <= minutes <= 120


def test_it_reports_slope_and_hours_to_the_ceiling():
    trace = memory_trace("leak", hours=4, rng=np.random.default_rng(1), leak_mb_h=200)
    snapshot = snapshot_for(trace, mem_total=8 * 2**30)
    (finding,) = [d for d in gopls_memory_leak(snapshot, thresholds()) if d.fired]
    assert 140 <= finding.evidence["slope_mb_per_hour"] <= 260
    assert finding.evidence["ceiling_source"] == "ram"
    expected = (8 * 2**30 - finding.evidence["rss_bytes"]) / (
        finding.evidence["slope_mb_per_hour"] * 1e6
    )
    assert finding.evidence["hours_to_ceiling"] == pytest.approx(expected, abs=0.1)
    assert finding.evidence["series"], "the chart needs the bucket minima"


def test_the_time_to_the_ceiling_uses_the_memory_actually_available():
    # It said 286 h on a machine with 241 MiB free: RAM size minus gopls is not what is left.
    from apps.anomalies.snapshot import SystemSeries

    trace = memory_trace("leak", hours=4, rng=np.random.default_rng(1), leak_mb_h=200)
    snapshot = snapshot_for(trace, mem_total=64 * 2**30)
    t = snapshot.processes[0].t
    snapshot.system = SystemSeries(t=t, series={"mem_available": np.full(t.size, 241.0 * 2**20)})
    (finding,) = [d for d in gopls_memory_leak(snapshot, thresholds()) if d.fired]
    hours = finding.evidence["hours_to_ceiling"]
    expected = 241 * 2**20 / (finding.evidence["slope_mb_per_hour"] * 1e6)
    assert hours == pytest.approx(expected, abs=0.1)
    assert hours < 2
    assert finding.evidence["headroom_bytes"] == 241 * 2**20
    assert "241.0 MiB available" in finding.explanation
    assert finding.severity == "critical"


def test_it_uses_rss_lows_when_the_debug_server_gives_no_heap():
    trace = memory_trace(
        "leak", hours=4, rng=np.random.default_rng(2), leak_mb_h=150, has_heap=False
    )
    (finding,) = gopls_memory_leak(snapshot_for(trace), thresholds())
    assert finding.fired
    assert finding.evidence["signal"] == "rss_lows"


@pytest.mark.parametrize("tau", [2, 8, 20])
@pytest.mark.parametrize("level", [2, 6])
def test_a_workspace_load_that_plateaus_is_not_a_leak(level, tau):
    trace = memory_trace(
        "load",
        hours=6,
        rng=np.random.default_rng(level * tau),
        load_level=level * GB,
        load_tau_min=tau,
    )
    assert first_fire_minutes(trace) is None


def test_a_steady_gc_sawtooth_is_not_a_leak():
    trace = memory_trace("steady", hours=8, rng=np.random.default_rng(5), base=800e6)
    assert first_fire_minutes(trace) is None


def test_a_jump_from_a_workspace_change_starts_a_new_settling_period():
    trace = memory_trace(
        "jump",
        hours=6,
        rng=np.random.default_rng(6),
        load_level=1 * GB,
        jump_at_h=3,
        jump_bytes=1.5 * GB,
    )
    assert first_fire_minutes(trace) is None


def test_a_series_too_short_to_settle_is_not_judged():
    t = np.arange(0, 1200, 15.0)
    result = detect_leak(t, 1e8 + t * 1e5, start_ts=0, params=PARAMS)
    assert not result.fired
    assert result.reason == "not enough settled data"


def test_a_slowing_leak_is_held_open_not_cleared_at_once():
    trace = memory_trace("leak", hours=4, rng=np.random.default_rng(8), leak_mb_h=20)
    params = {**PARAMS, "min_slope_mb_h": 25, "clear_slope_mb_h": 10}
    result = detect_leak(trace.t, trace.heap, start_ts=trace.t[0], params=params)
    assert not result.fired
    assert result.hold
