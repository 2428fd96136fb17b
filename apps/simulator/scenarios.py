"""Injected problems: stable scenario ids, who may get them, their parameters and companions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from apps.simulator.catalog import OLD_GOPLS

ALL = ("linux", "darwin", "windows", "wsl2", "wsl1")
LINUXISH = ("linux", "wsl2")
INVENTED_FLAGS = [
    "-no-load-full-workspace",
    "-skip-mod-download",
    "-max-parallel=4",
    "-memory-threshold=2048",
]


@dataclass(frozen=True)
class Scenario:
    id: str
    group: str  # at most one scenario per group on a machine
    weight: float
    platforms: tuple[str, ...]
    params: Callable[[np.random.Generator], dict]
    needs_vscode: bool = False  # shows up in VS Code-family settings.json
    companions: tuple[str, ...] = ()
    # Findings a detector may fairly add (not required): other scenario ids, or memory_high
    # (RSS over 25 % of RAM / 4 GiB) and goroutine_growth, which are no scenario of their own.
    may_also_show: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()  # groups that cannot co-occur (e.g. dead processes)


def _u(rng, lo, hi, nd=0):
    value = float(rng.uniform(lo, hi))
    return round(value, nd) if nd else int(value)


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in [
        Scenario(
            "gopls_leak",
            "memory",
            1.4,
            ALL,
            lambda r: {
                "heap_slope_mb_per_h": _pick(r, [50, 80, 120, 200, 300, 400]),
                "after_load_s": _u(r, 300, 2400),
                "goroutines_per_h": _pick(r, [0, 0, 40, 150]),
            },
            blocks=("startup",),
            may_also_show=("memory_outlier", "memory_high", "goroutine_growth"),
        ),
        Scenario(
            "cpu_pegged",
            "cpu",
            1.0,
            ALL,
            lambda r: {"cpu_percent": _u(r, 96, 135, 1), "after_start_s": _u(r, 120, 1800)},
            blocks=("startup",),
        ),
        Scenario(
            "cpu_busy_idle",
            "cpu",
            0.8,
            ALL,
            lambda r: {"idle_cpu_percent": _u(r, 12, 19, 1), "cause": "gomodcache_scan"},
            blocks=("startup",),
        ),
        Scenario(
            "inotify_exhaustion",
            "host",
            1.0,
            LINUXISH,
            lambda r: {
                "max_user_watches": _pick(r, [8192, 8192, 65536]),
                "peak_fraction": _u(r, 0.9, 1.0, 3),
                "ramp_s": _u(r, 900, 3600),
                "top": ["code", "gopls", "node"],
            },
        ),
        Scenario(
            "wsl_memory_pressure",
            "host",
            1.0,
            ("wsl2",),
            lambda r: {
                "cap_fraction_of_host": 0.5,
                "cached_fraction": _u(r, 0.55, 0.7, 2),
                "cached_growth_per_h": _u(r, 0.02, 0.06, 3),
            },
        ),
        Scenario(
            "oom_kill",
            "memory",
            0.7,
            LINUXISH,
            lambda r: {
                "every_s": _u(r, 2 * 3600, 4 * 3600),
                "victim": "gopls",
                "spike_s": _pick(r, [45, 60, 90]),
            },
            blocks=("startup",),
            may_also_show=("memory_outlier", "memory_high"),
        ),
        Scenario(
            "cache_bloat",
            "host",
            1.0,
            ALL,
            lambda r: {
                "gocache_gb": _u(r, 28, 70),
                "gomodcache_gb": _u(r, 18, 45),
                "gopls_cache_gb": _u(r, 3.5, 7, 1),
                "free_disk_gb_max": _u(r, 3.0, 4.6, 1),
                "free_disk_loss_gb_per_h": _u(r, 0.1, 0.4, 2),
            },
        ),
        Scenario(
            "invented_flags",
            "startup",
            0.8,
            ALL,
            lambda r: {"flags": [_pick(r, INVENTED_FLAGS)], "setting": "go.languageServerFlags"},
            needs_vscode=True,
            companions=("crash_loop",),
            blocks=("memory", "cpu", "process"),
        ),
        Scenario(
            "gomemlimit_bad_suffix",
            "startup",
            0.6,
            ALL,
            lambda r: {
                "value": _pick(r, ["4GB", "4G", "8GB", "2GB"]),
                "setting": "go.toolsEnvVars",
            },
            needs_vscode=True,
            companions=("crash_loop",),
            blocks=("memory", "cpu", "process"),
        ),
        Scenario(
            "crash_loop",
            "startup",
            0.3,
            ALL,
            lambda r: {
                "attempts_per_burst": _u(r, 4, 6),
                "lifetime_s": _u(r, 15, 50),
                "burst_every_s": _u(r, 1200, 3600),
                "cause": _pick(r, ["invented_flags", "gomemlimit_bad_suffix"]),
            },
            needs_vscode=True,
            blocks=("memory", "cpu", "process"),
        ),
        Scenario(
            "goplsargs_setting",
            "settings",
            0.6,
            ALL,
            lambda r: {"setting": "go.goplsArgs", "value": ["-rpc.trace", "serve"]},
            needs_vscode=True,
        ),
        Scenario(
            "gomemlimit_in_build_env",
            "settings",
            0.6,
            ALL,
            lambda r: {"setting": "gopls.build.env", "value": _pick(r, ["2GiB", "3GiB", "4GiB"])},
            needs_vscode=True,
        ),
        Scenario(
            "memorymode_setting",
            "settings",
            0.6,
            ALL,
            lambda r: {"setting": "gopls.build.memoryMode", "value": "DegradeClosed"},
            needs_vscode=True,
        ),
        Scenario(
            "rpc_trace_on",
            "settings",
            0.6,
            ALL,
            lambda r: {"flag": "-rpc.trace", "setting": "go.languageServerFlags"},
            needs_vscode=True,
        ),
        Scenario(
            "wslconf_misplaced_keys",
            "wsl",
            0.8,
            ("wsl2",),
            lambda r: {
                "keys": _pick(
                    r,
                    [
                        ["wsl2.memory"],
                        ["wsl2.memory", "wsl2.swap"],
                        ["wsl2.memory", "wsl2.processors"],
                    ],
                )
            },
        ),
        Scenario("workspace_on_drvfs", "wsl", 0.8, ("wsl2", "wsl1"), lambda r: {"drive": "/mnt/c"}),
        Scenario("old_gopls", "version", 1.0, ALL, lambda r: {"version": _pick(r, OLD_GOPLS)}),
        Scenario("no_debug_server", "process", 0.8, ALL, lambda r: {"debug_flag": None}),
        Scenario(
            "orphan_gopls",
            "process",
            0.7,
            ("linux", "darwin", "wsl2"),
            lambda r: {"editor_kind": "none", "since": "the first editor session after boot"},
        ),
        Scenario("too_many_gopls", "process", 0.7, ALL, lambda r: {"count": _u(r, 6, 10)}),
        Scenario(
            "fd_near_limit",
            "process",
            0.6,
            ("linux", "darwin"),
            lambda r: {
                "fd_limit": _pick(r, [1024, 1024, 4096]),
                "peak_fraction": _u(r, 0.9, 0.99, 3),
                "ramp_s": _u(r, 1200, 5400),
            },
        ),
        Scenario(
            "cgroup_memory_low",
            "memory",
            0.6,
            ("linux",),
            lambda r: {
                "path": "/system.slice/docker-3f9c2a71b0de.scope",
                "usage_fraction": _u(r, 0.86, 0.97, 3),
            },
        ),
        Scenario(
            "memory_outlier",
            "memory",
            0.8,
            ALL,
            lambda r: {"factor_vs_peers": _u(r, 3.0, 5.0, 2)},
            may_also_show=("memory_high",),
        ),
    ]
}
