"""Small builders of machine snapshots for rule tests."""

from __future__ import annotations

import numpy as np

from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries

NOW = 1_760_000_000.0


def proc(
    pid=100,
    *,
    minutes=30,
    step=15.0,
    version="v0.20.0",
    argv=None,
    env=None,
    editor="vscode",
    debug_addr="localhost:40000",
    cwd="/home/dev/src/app",
    start_ago=None,
    **series,
):
    """A lifetime of `minutes` ending now; series given as scalars are held constant."""
    t = np.sort(NOW - np.arange(0, minutes * 60 + 1, step))
    arrays = {
        k: (np.full(t.size, float(v)) if np.isscalar(v) else np.asarray(v, float))
        for k, v in series.items()
    }
    return ProcessSeries(
        pid=pid,
        start_ts=NOW - (start_ago if start_ago is not None else minutes * 60),
        last_ts=NOW,
        version=version,
        go_version="go1.25.1",
        editor=editor,
        argv=argv if argv is not None else ["gopls", "-debug=localhost:0"],
        env=env or {},
        debug_addr=debug_addr,
        cwd=cwd,
        t=t,
        series=arrays,
    )


def system(minutes=30, step=60.0, **series) -> SystemSeries:
    t = np.sort(NOW - np.arange(0, minutes * 60 + 1, step))
    return SystemSeries(
        t=t,
        series={
            k: (np.full(t.size, float(v)) if np.isscalar(v) else np.asarray(v, float))
            for k, v in series.items()
        },
    )


def machine(*processes, platform="linux", mem_total=16 * 2**30, inventory=None, sys=None, **kw):
    return MachineSnapshot(
        now=NOW,
        machine_id="m1",
        os="linux" if platform.startswith("wsl") else platform,
        platform=platform,
        mem_total_bytes=mem_total,
        processes=list(processes),
        inventory=inventory or {},
        system=sys or SystemSeries(),
        **kw,
    )


def settings_entry(
    settings: dict, has_args=False, path="/home/dev/.config/Code/User/settings.json"
):
    return {
        "editor": "vscode",
        "scope": "user",
        "path": path,
        "settings": settings,
        "has_go_goplsArgs": has_args,
        "error": None,
    }
