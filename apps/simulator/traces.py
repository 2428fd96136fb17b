"""Per-process gopls time series (numpy): workspace load, GC sawtooth, leaks, CPU, fds.

Shapes follow the real captures in tests/fixtures/real-gopls: a load that climbs and
plateaus (goroot-src: 26 MB → ~4.1 GB RSS), then HeapInuse sawtoothing under a GC cycle with
RSS above the heap (goldmark-edit: heap 117–194 MB, RSS 204–241 MB, ~1.3 cores while typing).
"""

from __future__ import annotations

import numpy as np

from apps.simulator.catalog import RSS_PER_LIVE, MiB
from apps.simulator.fleet import MachineSpec, Slot
from apps.simulator.timeline import Lifetime, activity, activity_integral, noise, uniform

FORCED_GC_S = 120  # the Go runtime forces a GC every 2 minutes when nothing else triggers one


def plateau_of(spec: MachineSpec, slot: Slot) -> float:
    plateau = float(slot.plateau)
    outlier = spec.problem("memory_outlier")
    if outlier and slot.role == "main":  # RSS (not only the heap) is factor x the peers'
        peer_rss = plateau * RSS_PER_LIVE + 22 * MiB
        plateau = (outlier["factor_vs_peers"] * peer_rss - 22 * MiB) / RSS_PER_LIVE
    return plateau


def gopls_series(
    spec: MachineSpec, slot: Slot, life: Lifetime, T: np.ndarray, interval: int
) -> dict[str, np.ndarray]:
    """Columns for one lifetime at sample times T (all inside the lifetime).

    Every value is a closed form of absolute time (counters integrate the typing intensity
    from the lifetime start), so any window of any run gives the same values.
    """
    key = f"{slot.name}:{life.start}"
    age = (T - life.start).astype(float)
    n = len(T)
    act = np.zeros(n) if slot.role in ("orphan", "crash") else activity(spec, T)
    loading = np.clip(1 - np.exp(-3 * age / slot.load_s), 0, 1)
    in_load = age < slot.load_s * 1.2
    plateau = plateau_of(spec, slot)
    clean = 6 * MiB + plateau * loading
    main = slot.role == "main"
    leak = spec.problem("gopls_leak") if slot.leaking else None
    if leak:
        leaking = np.clip(age - slot.load_s - leak["after_load_s"], 0, None) / 3600
        clean += leak["heap_slope_mb_per_h"] * MiB * leaking
    oom = spec.problem("oom_kill") if main else None
    if oom and life.killed:
        life_len = life.end - life.start
        ramp = np.clip((age - (life_len - oom["spike_s"])) / oom["spike_s"], 0, 1)
        clean += (spec.mem_total * 0.78 / 1.2 - clean) * ramp**2
    live = clean * (1 + 0.007 * noise(spec, key + "live", T, interval))
    u = uniform(spec, key + "saw", T, interval)
    idle_frac = ((T + life.pid % FORCED_GC_S) % FORCED_GC_S) / FORCED_GC_S
    frac = np.where(act > 0, u, idle_frac)
    amp = 0.3 + 0.4 * act
    heap_inuse = np.where(in_load, live * (1 + 0.08 * u), live * (1 + amp * frac))
    heap_alloc = heap_inuse * (0.84 + 0.1 * uniform(spec, key + "alloc", T, interval))
    # RSS keeps the pages of the highest heap the GC cycle reaches: above HeapInuse
    rss = clean * RSS_PER_LIVE + 22 * MiB + 2 * MiB * np.abs(noise(spec, key + "rss", T, interval))
    sys = clean * 1.85 + 30 * MiB
    # GCs: forced every 2 min when idle, several per second while typing, ~1 per 5 s loading
    typed = (
        np.zeros(n) if slot.role in ("orphan", "crash") else activity_integral(spec, T, life.start)
    )
    load_end = slot.load_s * 1.2
    gcs = np.minimum(age, load_end) / 5 + np.maximum(0, age - load_end) / FORCED_GC_S
    num_gc = 4 + (gcs + typed * 55 / 15).astype(np.int64)
    gc_cpu = np.clip(0.004 + 0.12 * act + 0.05 * in_load, 0, 1)
    gr = uniform(spec, key + "gr", T, interval)
    goroutines = 13 + (gr * 5).astype(int) + np.where(in_load, (gr * 1100).astype(int), 0)
    goroutines += (act * 20 * gr).astype(int)
    if leak and leak["goroutines_per_h"]:
        goroutines += (leak["goroutines_per_h"] * leaking).astype(int)
    threads = 8 + np.where(in_load, min(spec.cpu_count, 6), 0) + (act > 0) * 2
    cpu = _cpu(spec, slot, age, act, in_load, gr, T, interval)
    fds = _fds(spec, slot, age, gr)
    return {
        "rss": rss.astype(np.int64),
        "heap_inuse": heap_inuse.astype(np.int64),
        "heap_alloc": heap_alloc.astype(np.int64),
        "sys": sys.astype(np.int64),
        "next_gc": np.maximum(4 * MiB, 2 * live).astype(np.int64),
        "num_gc": num_gc,
        "gc_cpu": np.round(gc_cpu, 4),
        "goroutines": goroutines,
        "threads": threads,
        "cpu": np.round(cpu, 1),
        "open_fds": fds,
        "children": np.where(in_load, 2, 0),
        "children_cpu": np.where(in_load, np.round(40 + 60 * gr, 1), 0.0),
        "act": act,
        "completions": 12 + (typed * 9 / 15).astype(np.int64),
    }


def _cpu(spec, slot, age, act, in_load, gr, T, interval) -> np.ndarray:
    """Percent of one core: idle 0–3 %, typing bursts, ~1–2 cores loading, pegged, busy-idle."""
    cores = spec.cpu_count * 100.0
    idle = 0.2 + 2.6 * uniform(spec, f"{slot.name}cpu", T, interval) ** 3
    # Typing comes in bursts between reading pauses: 0-4 busy minutes in every 5, so a busy
    # stretch never lasts 10 minutes (busy-while-idle) nor reaches 95 % for 5 (pegged).
    five = T // 300 * 300
    busy_minutes = (uniform(spec, f"{slot.name}k", five, 300) * 5).astype(int)
    first = (uniform(spec, f"{slot.name}off", five, 300) * 5).astype(int)
    burst = ((T % 300) // 60 - first) % 5 < busy_minutes
    typing = np.where(burst, act * (40 + 70 * gr), 0.0)
    loading = age < min(slot.load_s, 170)  # busy cores: under 4 minutes even for huge loads
    cpu = np.where(loading, np.minimum(cores * 0.9, 110 + 80 * gr), idle + typing)
    if slot.role == "main":
        busy = spec.problem("cpu_busy_idle")
        if busy:
            cpu = np.maximum(cpu, busy["idle_cpu_percent"] + 2.5 * (gr - 0.5))
        pegged = spec.problem("cpu_pegged")
        if pegged:
            on = age >= pegged["after_start_s"] + slot.load_s
            cpu = np.where(on, np.maximum(cpu, pegged["cpu_percent"] + 4 * (gr - 0.5)), cpu)
    if slot.role == "orphan":
        cpu = np.round(idle * 0.2, 1)
    return np.clip(cpu, 0, cores)


def _fds(spec, slot, age, gr) -> np.ndarray:
    base = {"small": 14, "medium": 22, "large": 34, "huge": 48}[slot.size]
    fds = base + (gr * 6).astype(int)
    near = spec.problem("fd_near_limit")
    if near and slot.role == "main":
        target = near["fd_limit"] * near["peak_fraction"]
        fds = (base + (target - base) * np.clip(age / near["ramp_s"], 0, 1)).astype(int)
        fds = np.minimum(fds + (gr * 4).astype(int), near["fd_limit"] - 1)
    return fds


def fd_limit(spec: MachineSpec, slot: Slot) -> int | None:
    near = spec.problem("fd_near_limit")
    if near and slot.role == "main":
        return near["fd_limit"]
    return {"darwin": 24576, "windows": None}.get(spec.platform, 1048576)
