"""What detectors see of one machine: facts, inventory, gopls lifetimes and system series."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def empty() -> np.ndarray:
    return np.empty(0, dtype=float)


@dataclass
class ProcessSeries:
    """One gopls lifetime: static facts plus aligned arrays (t in epoch seconds, NaN = missing)."""

    pid: int
    start_ts: float
    last_ts: float
    version: str = ""
    version_source: str = ""
    go_version: str = ""
    editor: str = ""
    argv: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    debug_addr: str = ""
    project: str = ""
    cwd: str = ""
    process_pk: int | None = None
    t: np.ndarray = field(default_factory=empty)
    series: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"gopls:{self.pid}@{int(self.start_ts)}"

    def get(self, name: str) -> np.ndarray:
        values = self.series.get(name)
        return values if values is not None else np.full(self.t.size, np.nan)

    def last(self, name: str) -> float | None:
        values = self.get(name)
        ok = values[~np.isnan(values)]
        return float(ok[-1]) if ok.size else None


@dataclass
class SystemSeries:
    t: np.ndarray = field(default_factory=empty)
    series: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        values = self.series.get(name)
        return values if values is not None else np.full(self.t.size, np.nan)

    def last(self, name: str) -> float | None:
        values = self.get(name)
        ok = values[~np.isnan(values)]
        return float(ok[-1]) if ok.size else None


@dataclass
class MachineSnapshot:
    """Everything the machine-scoped rules read. `now` is epoch seconds."""

    now: float
    machine_pk: int | None = None
    machine_id: str = ""
    os: str = "linux"
    platform: str = "linux"
    mem_total_bytes: int | None = None
    cpu_count: int | None = None
    team_min_gopls: str = ""
    overrides: dict = field(default_factory=dict)
    inventory: dict = field(default_factory=dict)
    processes: list[ProcessSeries] = field(default_factory=list)
    system: SystemSeries = field(default_factory=SystemSeries)
    oom_victims: list[dict] = field(default_factory=list)
    inotify_top: list[dict] = field(default_factory=list)
    drvfs_workspaces: list[str] = field(default_factory=list)
    disks: list[dict] = field(default_factory=list)  # newest sample: {path, fstype, purposes}
    allow_profiles: bool = False
    alive_window_s: float = 300.0
    # The machine's newest sample at or before `now` (None: unknown). A sample lists every
    # gopls server, so a lifetime missing from samples newer than its own last one has exited.
    last_sample_ts: float | None = None
    exit_grace_s: float = 90.0  # a few collect intervals: one missed sample is not an exit

    def exited(self, proc: ProcessSeries) -> bool:
        """The machine reported samples after this lifetime's last one: it is gone."""
        return self.last_sample_ts is not None and (
            proc.last_ts < self.last_sample_ts - self.exit_grace_s
        )

    # Reported by the agent through WSL interop (machine.wsl): the Windows host's RAM and the
    # WSL package version ("2.3.26.0"); None/"" when interop is off or the agent is older.
    wsl_host_mem_bytes: float | None = None
    wsl_package_version: str = ""

    def alive(self) -> list[ProcessSeries]:
        """Lifetimes running at `now`: seen recently, started by then, and not gone from the
        machine's newer samples."""
        return [
            p
            for p in self.processes
            if self.now - p.last_ts <= self.alive_window_s
            and p.start_ts <= self.now
            and not self.exited(p)
        ]

    def gone_subjects(self, subjects) -> set[str]:
        """Of these finding subjects, the gopls lifetimes known to have ended: the machine is
        still reporting and none of its running servers is that lifetime. Nothing is declared
        gone while the machine is silent (the process may still run)."""
        if self.last_sample_ts is None or self.now - self.last_sample_ts > self.alive_window_s:
            return set()
        alive = {p.subject for p in self.alive()}
        return {s for s in subjects if s.startswith("gopls:") and s not in alive}

    def editor_settings(self) -> list[dict]:
        value = self.inventory.get("editor_settings")
        return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []

    def wsl_cap_bytes(self) -> float | None:
        if not self.platform.startswith("wsl"):
            return None
        cap = self.system.last("wsl_mem_total")
        return cap if cap else (float(self.mem_total_bytes) if self.mem_total_bytes else None)
