"""Labeled synthetic gopls traces (seeded numpy) for tests and the detection-quality bench."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries

MB = 1e6
GB = 1e9
T0 = 1_750_000_000.0


@dataclass
class Trace:
    """A gopls lifetime with its ground truth: leak onset (epoch s) or None."""

    name: str
    t: np.ndarray
    rss: np.ndarray
    heap: np.ndarray
    cpu: np.ndarray
    leak_onset: float | None = None
    labels: set[str] = field(default_factory=set)


def _sawtooth(t: np.ndarray, period_s: float, amp: float, rng) -> np.ndarray:
    """GC sawtooth: the heap grows to the next GC then drops; each cycle's length varies by
    ±30 % (allocation rate changes), as real GC cycles do."""
    span = t[-1] - t[0] + period_s
    cycles = rng.uniform(0.7, 1.3, int(span / (0.7 * period_s)) + 2) * period_s
    edges = t[0] - rng.uniform(0, period_s) + np.cumsum(np.r_[0.0, cycles])
    k = np.searchsorted(edges, t, side="right") - 1
    return amp * (t - edges[k]) / cycles[k]


def _load(t: np.ndarray, start: float, level: float, tau_s: float) -> np.ndarray:
    return level * (1 - np.exp(-np.clip(t - start, 0, None) / tau_s))


def memory_trace(
    name: str,
    *,
    hours: float,
    rng,
    step_s: float = 15.0,
    base: float = 300 * MB,
    load_level: float = 0.0,
    load_tau_min: float = 3.0,
    leak_mb_h: float = 0.0,
    leak_onset_h: float = 0.0,
    jump_at_h: float | None = None,
    jump_bytes: float = 0.0,
    cpu_level: float = 2.0,
    has_heap: bool = True,
) -> Trace:
    t = T0 + np.arange(0, hours * 3600, step_s)
    rel = t - T0
    live = base + _load(t, T0, load_level, load_tau_min * 60)
    onset = T0 + leak_onset_h * 3600
    if leak_mb_h:
        live = live + np.clip(t - onset, 0, None) / 3600 * leak_mb_h * MB
    if jump_at_h is not None:
        live = live + _load(t, T0 + jump_at_h * 3600, jump_bytes, 120)
    live = live * (1 + rng.normal(0, 0.004, t.size))
    heap = live + _sawtooth(rel, rng.uniform(20, 90), 0.25 * live.mean(), rng)
    rss = heap * 1.35 + 40 * MB + rng.normal(0, 3 * MB, t.size)
    cpu = np.clip(rng.normal(cpu_level, 1.0, t.size), 0, None)
    return Trace(
        name,
        t,
        rss,
        heap if has_heap else np.full(t.size, np.nan),
        cpu,
        leak_onset=onset if leak_mb_h else None,
    )


def cpu_trace(name: str, *, kind: str, rng, minutes: float = 60, step_s: float = 15.0) -> Trace:
    """kind: 'pegged' (≥ 100 % for 20 min), 'bursts' (≤ 3 min spikes), 'busy_idle' (~18 %),
    'idle' (~1 %)."""
    t = T0 + np.arange(0, minutes * 60, step_s)
    rel = t - T0
    cpu = np.clip(rng.normal(1.5, 0.7, t.size), 0, None)
    if kind == "pegged":
        on = (rel >= 30 * 60) & (rel < 50 * 60)
        cpu[on] = rng.uniform(98, 140, on.sum())
    elif kind == "bursts":
        for start in rng.uniform(0, minutes * 60 - 200, 8):
            on = (rel >= start) & (rel < start + rng.uniform(30, 170))
            cpu[on] = rng.uniform(95, 180, on.sum())
    elif kind == "busy_idle":
        on = rel >= 20 * 60
        cpu[on] = rng.normal(18, 3, on.sum()).clip(11)
    rss = np.full(t.size, 300 * MB)
    trace = Trace(name, t, rss, rss * 0.7, cpu)
    trace.labels.add(kind)
    return trace


def watch_ramp(*, rng, hours: float = 6, limit: int = 65536, end_ratio: float = 0.9):
    """(t, watches used, limit): inotify watches climbing towards the limit."""
    t = T0 + np.arange(0, hours * 3600, 60.0)
    used = np.linspace(0.3, end_ratio, t.size) * limit + rng.normal(0, 50, t.size)
    return t, np.clip(used, 0, limit), limit


def snapshot_for(trace: Trace, *, until: float | None = None, mem_total: float = 32 * 2**30):
    """A Linux machine running this one lifetime, cut at `until` (epoch s)."""
    keep = trace.t <= (until if until is not None else trace.t[-1])
    t = trace.t[keep]
    proc = ProcessSeries(
        pid=4242,
        start_ts=float(trace.t[0]),
        last_ts=float(t[-1]),
        version="v0.20.0",
        go_version="go1.25.0",
        editor="vscode",
        argv=["gopls", "-debug=localhost:0"],
        debug_addr="localhost:41234",
        t=t,
        series={"rss": trace.rss[keep], "heap": trace.heap[keep], "cpu": trace.cpu[keep]},
    )
    return MachineSnapshot(
        now=float(t[-1]),
        machine_id=trace.name,
        mem_total_bytes=int(mem_total),
        processes=[proc],
        system=SystemSeries(),
    )
