"""Machine-wide series (numpy): memory, CPU, inotify, WSL page cache, Go caches, disk, OOM kills."""

from __future__ import annotations

import numpy as np

from apps.simulator.catalog import GiB, MiB
from apps.simulator.fleet import MachineSpec, rng_for
from apps.simulator.timeline import DAY, HOUR, noise, uniform

WEEK = 7 * DAY


def host_series(
    spec: MachineSpec,
    T: np.ndarray,
    gopls_rss: np.ndarray,
    gopls_cpu: np.ndarray,
    act: np.ndarray,
    boot: np.ndarray,
    kill_times: np.ndarray,
    editor_start: np.ndarray,
    interval: int,
) -> dict[str, np.ndarray]:
    """System columns at times T given the summed gopls RSS/CPU at those times."""
    r = rng_for(spec.seed, spec.index, "host")
    total = spec.mem_total
    uptime = (T - boot).astype(float)
    n1 = noise(spec, "mem", T, interval)
    apps = total * (r.uniform(0.22, 0.38) + 0.02 * n1 + 0.05 * act)
    cached = total * (r.uniform(0.12, 0.25) + 0.01 * uptime / DAY)
    cached = np.minimum(cached, total * 0.32)
    wsl = spec.problem("wsl_memory_pressure")
    if wsl:  # the VM's page cache is not returned to Windows: it only grows
        lo = wsl["cached_fraction"] - 0.04
        grown = lo + wsl["cached_growth_per_h"] * ((T % DAY) / HOUR) / 6
        cached = total * np.minimum(wsl["cached_fraction"] + 0.08, grown)
        apps = total * (0.3 + 0.02 * n1)
    available = total - apps - gopls_rss - (0.75 * cached if wsl else 0)
    available = np.maximum(available, total * 0.015).astype(np.int64)
    editor_cpu = act * (8 + 25 * uniform(spec, "ecpu", T, interval))
    cpu = np.clip((gopls_cpu + editor_cpu + 6 + 4 * np.abs(n1)) / spec.cpu_count, 0, 100)
    oom = np.searchsorted(kill_times, T, side="right") - np.searchsorted(kill_times, boot)
    out = {
        "mem_available": available,
        "mem_cached": cached.astype(np.int64),
        "cpu": np.round(cpu, 1),
        "load1": np.round(cpu / 100 * spec.cpu_count * 0.85, 2),
        "uptime": uptime,
        "oom_kill_count": oom.astype(np.int64),
        "swap_used": (np.maximum(0, gopls_rss + apps - total * 0.9)).astype(np.int64),
    }
    out.update(_disk_and_caches(spec, T))
    if spec.inotify_max:
        out["watches"] = _watches(spec, T, editor_start, interval)
    return out


def _disk_and_caches(spec: MachineSpec, T: np.ndarray) -> dict[str, np.ndarray]:
    """Caches grow slowly over a week (trimmed weekly); free disk shrinks as they grow."""
    r = rng_for(spec.seed, spec.index, "caches")
    week_frac = ((T + spec.index * 7919) % WEEK) / WEEK
    bloat = spec.problem("cache_bloat")
    if bloat:
        gocache = bloat["gocache_gb"] * GiB * (0.9 + 0.1 * week_frac)
        modcache = bloat["gomodcache_gb"] * GiB * (0.95 + 0.05 * week_frac)
        gopls_cache = bloat["gopls_cache_gb"] * GiB * (0.95 + 0.05 * week_frac)
        hours = (T % DAY) / HOUR
        free = (bloat["free_disk_gb_max"] - bloat["free_disk_loss_gb_per_h"] * hours) * 1e9
        free = np.maximum(free, 0.4e9)
    else:
        gocache = r.uniform(1.5, 9) * GiB * (0.7 + 0.3 * week_frac)
        modcache = r.uniform(1.5, 8) * GiB * (0.9 + 0.1 * week_frac)
        gopls_cache = r.uniform(0.2, 1.1) * GiB * (0.9 + 0.1 * week_frac)
        free = spec.disk_total * r.uniform(0.25, 0.6) - (gocache + modcache)
    cache_busy = spec.problem("cpu_busy_idle")
    if cache_busy:
        modcache = modcache * 3
    return {
        "gocache": gocache.astype(np.int64),
        "gomodcache": modcache.astype(np.int64),
        "gopls_cache": gopls_cache.astype(np.int64),
        "goimports_cache": np.full(len(T), int(r.uniform(4, 60) * MiB)),
        "disk_free": free.astype(np.int64),
    }


def _watches(spec: MachineSpec, T: np.ndarray, editor_start: np.ndarray, interval) -> np.ndarray:
    """inotify watches in use: the editor's watcher ramps up after it starts."""
    limit = spec.inotify_max
    r = rng_for(spec.seed, spec.index, "inotify")
    age = np.maximum(0, T - editor_start).astype(float)
    exhausted = spec.problem("inotify_exhaustion")
    if exhausted:
        target = limit * exhausted["peak_fraction"]
        ramp = np.clip(age / exhausted["ramp_s"], 0, 1) ** 0.7
        used = 0.35 * limit + (target - 0.35 * limit) * ramp
    else:
        target = min(limit * 0.4, r.uniform(900, 9000))
        used = 40 + target * np.clip(age / 600, 0, 1)
    used = used + 3 * noise(spec, "watch", T, interval)
    return np.clip(used, 0, limit).astype(np.int64)
