"""Runs a simulated fleet through the real ingest path (services, no HTTP), with progress."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from apps.simulator.catalog import TEAMS
from apps.simulator.fleet import MachineSpec, build_machine
from apps.simulator.reports import MachineSim, iso, report
from apps.simulator.timeline import grid


@dataclass
class RunConfig:
    machines: int = 10
    hours: float = 6.0
    seed: int = 1
    teams: list[str] = field(default_factory=lambda: list(TEAMS))
    end: float = 0.0  # epoch seconds; 0 = now
    interval: int = 15
    batch: int = 4  # samples per upload: 4 × 15 s = one upload a minute, like real agents
    start_index: int = 0
    prefix: str = "sim"
    force: list[str] | None = None  # every machine gets exactly these scenarios

    def __post_init__(self):
        self.end = self.end or time.time()

    @property
    def start(self) -> float:
        return self.end - self.hours * 3600

    def fleet(self) -> list[MachineSpec]:
        indexes = range(self.start_index, self.start_index + self.machines)
        return [build_machine(self.seed, i, self.teams, self.prefix, self.force) for i in indexes]

    def samples_per_machine(self) -> int:
        return len(grid(self.start, self.end, self.interval))


class Progress:
    """A line every few seconds: machines done, samples, samples/s, ETA."""

    def __init__(self, write, total_machines: int, total_samples: int, every_s: float = 3.0):
        self.write, self.every_s = write, every_s
        self.total_machines, self.total_samples = total_machines, total_samples
        self.machines = self.samples = self.uploads = self.stored = 0
        self.started = self.last = time.monotonic()

    def add(self, samples: int, stored: int = 0, machine_done: bool = False) -> None:
        self.samples += samples
        self.stored += stored
        self.uploads += 1 if samples else 0
        self.machines += 1 if machine_done else 0
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self.write(self.line())

    @property
    def rate(self) -> float:
        return self.samples / max(1e-6, time.monotonic() - self.started)

    def line(self) -> str:
        left = max(0, self.total_samples - self.samples)
        eta = int(left / self.rate) if self.rate > 0 else 0
        when = f"ETA {eta // 60}:{eta % 60:02d}" if self.total_samples else "live"
        return (
            f"[{self.machines}/{self.total_machines} machines] {self.samples:,} samples "
            f"({self.stored:,} new), {self.rate:,.0f} samples/s, {when}"
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def batches(sim: MachineSim, t0: float, t1: float, batch: int, chunk_s: int = 86400):
    """(samples, upload time) in time order; generated a day at a time to bound memory."""
    t = t0
    while t < t1:
        hi = min(t1, t + chunk_s)
        samples = sim.samples(t, hi)
        for i in range(0, len(samples), batch):
            part = samples[i : i + batch]
            yield part, upload_time(part)
        t = hi


def upload_time(part: list[dict]) -> float:
    """Agents upload right after the last sample of a batch."""
    return float(int(datetime.fromisoformat(part[-1]["collected_at"]).timestamp()) + 1)


def enroll_all(specs: list[MachineSpec]) -> dict[str, object]:
    """Enroll every machine through the services with its team's enrollment token."""
    from apps.fleet.services import create_enrollment_token, enroll_machine

    secrets: dict[str, str] = {}
    machines = {}
    for spec in specs:
        if spec.team not in secrets:
            _, secrets[spec.team] = create_enrollment_token(spec.team, label="simulate_fleet")
        machines[spec.machine_id] = enroll_machine(secrets[spec.team], spec.identity()).machine
    return machines


def run_direct(cfg: RunConfig, write=print, every_s: float = 3.0, specs=None) -> Progress:
    """Generate and ingest every machine's history with `ingest_report`, in time order."""
    from apps.ingest.services import RateLimited, ingest_report

    specs = specs or cfg.fleet()
    machines = enroll_all(specs)
    progress = Progress(write, len(specs), len(specs) * cfg.samples_per_machine(), every_s)
    for spec in specs:
        machine = machines[spec.machine_id]
        sim = MachineSim(spec, cfg.interval)
        first = True
        for part, at in batches(sim, cfg.start, cfg.end, cfg.batch):
            payload = report(sim, part, at, first)
            while True:
                received = datetime.fromtimestamp(at, tz=timezone.utc)
                try:
                    result = ingest_report(machine, payload, received_at=received)
                    break
                except RateLimited as exc:  # wait in simulated time, like an agent would
                    at += exc.retry_after
                    payload["sent_at"] = iso(at)
            first = False
            progress.add(len(part), result.accepted)
        progress.add(0, machine_done=True)
    return progress
