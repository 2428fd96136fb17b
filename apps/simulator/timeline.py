"""Absolute-time building blocks: the sample grid, gopls lifetimes, developer activity, noise.

Everything is a pure function of (seed, machine, absolute time), so overlapping windows of
two runs, or the backfill and the live part of one run, produce the very same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.simulator.fleet import MachineSpec, Slot, rng_for

DAY = 86400
HOUR = 3600


def grid(start: float, end: float, interval: int) -> np.ndarray:
    """Sample times (epoch seconds, multiples of `interval`) in (start, end]."""
    first = (int(start) // interval + 1) * interval
    return np.arange(first, int(end) + 1, interval, dtype=np.int64)


def boot_time(spec: MachineSpec, t0: float) -> int:
    """Last boot: a few days before the window (the day of the window start keys it)."""
    day = int(t0) // DAY
    r = rng_for(spec.seed, spec.index, "boot", day)
    return (day - int(r.integers(2, 6))) * DAY + int(r.integers(6 * HOUR, 10 * HOUR))


@dataclass(frozen=True)
class Lifetime:
    start: int
    end: int  # exclusive; a large number while it is still running
    pid: int
    killed: bool = False  # ended by the OOM killer


def _pid(spec: MachineSpec, slot: Slot, start: int) -> int:
    return int(rng_for(spec.seed, spec.index, slot.name, "pid", start).integers(1200, 4_000_000))


def lifetimes(spec: MachineSpec, slot: Slot, t0: float, t1: float) -> list[Lifetime]:
    """The gopls lifetimes of a slot that overlap [t0, t1]."""
    boot = boot_time(spec, t0)
    if slot.role == "crash":
        starts = _crash_bursts(spec, slot, t0, t1)
    elif slot.role == "orphan":
        age = (spec.problem("orphan_gopls") or {}).get("age_h", 24)
        starts = [(max(boot + 600, int(t0) // DAY * DAY - age * HOUR), 1 << 40, False)]
    else:
        starts = _restarts(spec, slot, boot, t1)
    found = [Lifetime(s, e, _pid(spec, slot, s), k) for s, e, k in starts]
    return [lt for lt in found if lt.end > t0 and lt.start <= t1]


def _restarts(spec: MachineSpec, slot: Slot, boot: int, t1: float) -> list[tuple[int, int, bool]]:
    """Editor restarts (Poisson) and, on OOM machines, kills followed by a quick restart."""
    events: list[tuple[int, bool]] = []
    oom = spec.problem("oom_kill") if slot.role == "main" else None
    for day in range(boot // DAY, int(t1) // DAY + 1):
        r = rng_for(spec.seed, spec.index, slot.name, "restarts", day)
        for _ in range(int(r.poisson(DAY / slot.mean_life_s))):
            events.append((day * DAY + int(r.integers(0, DAY)), False))
        if oom:
            k = rng_for(spec.seed, spec.index, "oom", day)
            for _ in range(int(k.poisson(DAY / oom["every_s"]))):
                events.append((day * DAY + int(k.integers(0, DAY)), True))
    events = sorted(e for e in events if e[0] > boot + 300)
    starts = [(boot + 240, False)] + [(t + (15 if killed else 4), killed) for t, killed in events]
    out = []
    for i, (start, _) in enumerate(starts):
        if i + 1 < len(starts):
            nxt, killed = events[i]
            out.append((start, max(start + 1, nxt), killed))
        else:
            out.append((start, 1 << 40, False))
    return out


def kills(spec: MachineSpec, t0: float, t1: float) -> np.ndarray:
    """OOM kill times since boot up to t1 (for the cumulative oom_kill counter)."""
    main = next((s for s in spec.slots if s.role == "main"), None)
    if main is None or not spec.problem("oom_kill"):
        return np.zeros(0, dtype=np.int64)
    ends = [e for _, e, k in _restarts(spec, main, boot_time(spec, t0), t1) if k]
    return np.array(sorted(ends), dtype=np.int64)


def _crash_bursts(spec: MachineSpec, slot: Slot, t0: float, t1: float):
    """Bursts of short lifetimes: the editor retries a few times, then gives up."""
    p = spec.problem("crash_loop") or {}
    attempts, life, every = p.get("attempts_per_burst", 5), p.get("lifetime_s", 20), 1800
    every = p.get("burst_every_s", every)
    out = []
    for block in range(int(t0) // HOUR - 1, int(t1) // HOUR + 1):
        r = rng_for(spec.seed, spec.index, "crash", block)
        if r.random() > min(1.0, HOUR / every):
            continue
        start = block * HOUR + int(r.integers(0, HOUR - attempts * (life + 10)))
        for _ in range(attempts):
            out.append((start, start + life, False))
            start += life + int(r.integers(3, 10))
    return out


def noise(spec: MachineSpec, name: str, T: np.ndarray, interval: int) -> np.ndarray:
    """Standard normal noise per sample, fixed by absolute time (hour blocks)."""
    per_block = -(-HOUR // interval)
    out = np.empty(len(T))
    blocks = T // HOUR
    for block in np.unique(blocks):
        mask = blocks == block
        values = rng_for(spec.seed, spec.index, name, int(block)).standard_normal(per_block)
        out[mask] = values[(T[mask] % HOUR) // interval]
    return out


def uniform(spec: MachineSpec, name: str, T: np.ndarray, interval: int) -> np.ndarray:
    """Uniform [0, 1) per sample, fixed by absolute time."""
    return 0.5 * (1 + np.tanh(noise(spec, name, T, interval) * 0.8))


def activity(spec: MachineSpec, T: np.ndarray) -> np.ndarray:
    """Typing intensity 0..1 per sample: 15-minute blocks, likelier in local working hours."""
    quarter = T // 900
    local_hour = ((T + spec.tz_offset_h * HOUR) % DAY) // HOUR
    p = np.where(
        (local_hour >= 9) & (local_hour < 18) & (local_hour != 12),
        0.55,
        np.where((local_hour >= 7) & (local_hour < 22), 0.2, 0.02),
    )
    out = np.zeros(len(T))
    for q in np.unique(quarter):
        mask = quarter == q
        r = rng_for(spec.seed, spec.index, "act", int(q))
        roll, level = r.random(), r.uniform(0.25, 1.0)
        out[mask] = np.where(roll < p[mask], level, 0.0)
    return out
