"""Reading the real gopls captures (timeseries.csv + version files) into detector input."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries

TICKS_PER_S = 100.0


def _floats(rows: list[dict], key: str, scale: float = 1.0) -> np.ndarray:
    return np.array([float(r[key]) * scale if r.get(key) else np.nan for r in rows], dtype=float)


def load_capture(folder: Path, *, start_ts: float = 1_700_000_000.0) -> ProcessSeries:
    """One capture folder as a gopls lifetime starting at start_ts (epoch seconds)."""
    with open(folder / "timeseries.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = start_ts + _floats(rows, "t_s")
    ticks = _floats(rows, "cpu_ticks")
    cpu = np.full(t.size, np.nan)
    if t.size > 1:
        cpu[1:] = np.diff(ticks) / TICKS_PER_S / np.diff(t) * 100.0
    version_m = (
        (folder / "go_version_m.txt").read_text() if (folder / "go_version_m.txt").exists() else ""
    )
    mod = re.search(r"\bmod\s+golang\.org/x/tools/gopls\s+(\S+)", version_m)
    xtools = re.search(r"\bdep\s+golang\.org/x/tools\s+(v\S+)", version_m)
    built = re.search(r":\s*(go1\.\S+)", version_m)
    cmdline = (
        (folder / "proc" / "cmdline").read_bytes().split(b"\0")
        if (folder / "proc" / "cmdline").exists()
        else []
    )
    argv = [a.decode() for a in cmdline if a]
    debug = argv[argv.index("-debug") + 1] if "-debug" in argv[:-1] else ""
    return ProcessSeries(
        pid=int(re.sub(r"\D", "", (folder / "drive.log").read_text().split("\n")[0]) or 1)
        if (folder / "drive.log").exists()
        else 1,
        start_ts=float(t[0]),
        last_ts=float(t[-1]),
        version=mod.group(1) if mod else "",
        version_source=f"golang.org/x/tools {xtools.group(1)}" if xtools else "",
        go_version=built.group(1) if built else "",
        editor="vscode",
        argv=argv,
        debug_addr=debug,
        t=t,
        series={
            "rss": _floats(rows, "rss_kb", 1024.0),
            "heap": _floats(rows, "heap_inuse"),
            "goroutines": _floats(rows, "goroutines"),
            "cpu": cpu,
        },
    )


def mem_total_bytes(folder: Path) -> int | None:
    meminfo = folder / "sys" / "meminfo"
    if not meminfo.exists():
        return None
    m = re.search(r"MemTotal:\s+(\d+)\s*kB", meminfo.read_text())
    return int(m.group(1)) * 1024 if m else None


def capture_snapshot(folder: Path, **extra) -> MachineSnapshot:
    """A Linux machine running only this captured gopls, evaluated at the end of the capture."""
    proc = load_capture(folder)
    return MachineSnapshot(
        now=proc.last_ts,
        machine_id=folder.name,
        os="linux",
        platform="linux",
        mem_total_bytes=mem_total_bytes(folder),
        cpu_count=2,
        processes=[proc],
        system=SystemSeries(),
        **extra,
    )
