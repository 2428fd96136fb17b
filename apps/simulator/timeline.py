"""Absolute-time building blocks: the sample grid, gopls lifetimes, developer activity, noise.

Everything is a pure function of (seed, machine, absolute time), so overlapping windows of
two runs, or the backfill and the live part of one run, produce the very same samples.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from apps.simulator.fleet import MachineSpec, Slot, rng_for

DAY = 86400
HOUR = 3600


def grid(start: float, end: float, interval: int) -> np.ndarray:
    """Sample times (epoch seconds, multiples of `interval`) in (start, end]."""
    first = (int(start) // interval + 1) * interval
    return np.arange(first, int(end) + 1, interval, dtype=np.int64)


def _boot_cadence(spec: MachineSpec) -> tuple[int, int]:
    r = rng_for(spec.seed, spec.index, "boots")
    period, offset = int(r.integers(3, 15)) * DAY, int(r.integers(0, 14 * DAY))
    if spec.problem("gopls_leak"):  # suspended, not shut down: a reboot restarts every gopls
        period *= 8
    return period, offset


def boot_at(spec: MachineSpec, t):
    """Last boot at or before t (scalar or array): machines reboot every 3-14 days."""
    period, offset = _boot_cadence(spec)
    return (np.floor((np.asarray(t) - offset) / period) * period + offset).astype(np.int64)


def boot_time(spec: MachineSpec, t: float) -> int:
    return int(boot_at(spec, t))


def _boots(spec: MachineSpec, t0: float, t1: float) -> list[int]:
    """The boot in effect at t0 and every boot up to t1."""
    period, _ = _boot_cadence(spec)
    first = boot_time(spec, t0)
    return list(range(first, int(t1) + 1, period))


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
    if slot.role == "crash":
        starts = _crash_bursts(spec, slot, t0, t1)
    else:
        starts = _restarts(spec, slot, t0, t1)
    found = [Lifetime(s, e, _pid(spec, slot, s), k) for s, e, k in starts]
    return [lt for lt in found if lt.end > t0 and lt.start <= t1]


def _restarts(spec: MachineSpec, slot: Slot, t0: float, t1: float):
    """Per boot: editor restarts (Poisson) and, on OOM machines, kills then a quick restart.

    An orphan is left over from the session's first editor: it lives until the next reboot.
    """
    boots = _boots(spec, t0, t1)
    oom = spec.problem("oom_kill") if slot.role == "main" else None
    out: list[tuple[int, int, bool]] = []
    for k, boot in enumerate(boots):
        shutdown = boots[k + 1] - 60 if k + 1 < len(boots) else 1 << 40
        if slot.role == "orphan":
            out.append((boot + 1800, shutdown, False))
            continue
        events: list[tuple[int, bool]] = []
        if slot.restart_every_s:
            step = int(slot.restart_every_s)
            first = boot + 240 + step - int(slot.restart_phase_s)
            events += [(t, False) for t in range(first, int(min(t1, shutdown)), step)]
        for day in range(boot // DAY, int(min(t1, shutdown)) // DAY + 1):
            if slot.restart_every_s:
                break
            r = rng_for(spec.seed, spec.index, slot.name, "restarts", day)
            for _ in range(int(r.poisson(DAY / slot.mean_life_s))):
                events.append((day * DAY + int(r.integers(0, DAY)), False))
        if oom:  # spikes at roughly regular intervals (±30 %)
            every, k = oom["every_s"], 1
            while boot + k * every < min(t1, shutdown):
                jitter = rng_for(spec.seed, spec.index, "oom", boot, k).uniform(-0.3, 0.3)
                events.append((int(boot + (k + jitter) * every), True))
                k += 1
        events = sorted(e for e in events if boot + 300 < e[0] < shutdown)
        starts = [boot + 240] + [t + (15 if killed else 4) for t, killed in events]
        for i, start in enumerate(starts):
            end, killed = events[i] if i < len(events) else (shutdown, False)
            out.append((start, max(start + 1, end), killed))
    return out


def kills(spec: MachineSpec, t0: float, t1: float) -> np.ndarray:
    """OOM kill times from the boot in effect at t0 up to t1 (for the oom_kill counter)."""
    main = next((s for s in spec.slots if s.role == "main"), None)
    if main is None or not spec.problem("oom_kill"):
        return np.zeros(0, dtype=np.int64)
    ends = [e for _, e, k in _restarts(spec, main, t0, t1) if k and e <= t1]
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


@functools.lru_cache(maxsize=500_000)
def _quarter_level(seed: int, index: int, tz_offset_h: int, quarter: int) -> float:
    """Typing intensity of one 15-minute block; likelier in local working hours."""
    local_hour = ((quarter * 900 + tz_offset_h * HOUR) % DAY) // HOUR
    working = 9 <= local_hour < 18 and local_hour != 12
    p = 0.55 if working else (0.2 if 7 <= local_hour < 22 else 0.02)
    r = rng_for(seed, index, "act", quarter)
    roll, level = r.random(), r.uniform(0.25, 1.0)
    return level if roll < p else 0.0


def _levels(spec: MachineSpec, q0: int, q1: int) -> np.ndarray:
    return np.array(
        [_quarter_level(spec.seed, spec.index, spec.tz_offset_h, q) for q in range(q0, q1 + 1)]
    )


def activity(spec: MachineSpec, T: np.ndarray) -> np.ndarray:
    """Typing intensity 0..1 per sample (constant over 15-minute blocks)."""
    q0 = int(T.min()) // 900
    return _levels(spec, q0, int(T.max()) // 900)[T // 900 - q0]


def activity_integral(spec: MachineSpec, T: np.ndarray, since: int) -> np.ndarray:
    """Integral of the typing intensity from `since` to each T (seconds × intensity)."""
    q0 = since // 900
    levels = _levels(spec, q0, int(T.max()) // 900)
    cum = np.concatenate([[0.0], np.cumsum(levels * 900)])

    def upto(t):
        k = t // 900 - q0
        return cum[k] + levels[k] * (t - (q0 + k) * 900)

    return upto(T) - upto(np.array([since]))[0]
