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


CATCH_UP_S = 24 * 3600  # a re-seed fills a gap this long since a machine's last sample
ROLLUP_CHUNK = 500  # machine ids per rollup statement


def enroll_all(specs: list[MachineSpec]) -> dict[str, object]:
    """Enroll the machines not enrolled yet (or moved to another team) through the services.

    A machine already in its team is used as it is: re-seeding creates no enrollment token
    and rotates no credential, so running the demo seeding again changes nothing it need not.
    """
    from apps.fleet.models import Machine
    from apps.fleet.services import create_enrollment_token, enroll_machine

    known = {
        m.machine_id: m
        for m in Machine.objects.filter(
            machine_id__in=[s.machine_id for s in specs], retired_at__isnull=True
        ).select_related("team")
    }
    secrets: dict[str, str] = {}
    machines = {}
    for spec in specs:
        machine = known.get(spec.machine_id)
        if machine is not None and machine.team.name == spec.team:
            machines[spec.machine_id] = machine
            continue
        if spec.team not in secrets:
            _, secrets[spec.team] = create_enrollment_token(spec.team, label="simulate_fleet")
        machines[spec.machine_id] = enroll_machine(secrets[spec.team], spec.identity()).machine
    return machines


def resume_from(machine, start: float) -> float:
    """Where a machine's history continues: its last sample when that is a little before
    `start` (the demo was stopped for a while: its agents kept collecting, as real agents
    spool while the server is away), else `start`."""
    last = machine.last_sample_at.timestamp() if machine.last_sample_at else None
    if last is not None and start - CATCH_UP_S <= last < start:
        return last
    return start


def roll_up_seeded(machine_pks: list[int], start: float, end: float) -> None:
    """Roll up the seeded machines at once, as the range tasks of their late uploads would
    have, and forget those ranges: charts and detection see the whole history whether or not
    a worker runs, and the queued range tasks find nothing left to do.

    One pass over [start, end] widened to the machines' pending ranges, in batches of
    machines (a range task per machine would re-roll the whole fleet's hours each time).
    Compacted hours a pending range reaches go back to raw rows first, as in the range task."""
    from apps.metrics.chunks.store import expand
    from apps.metrics.models import GoplsChunk, PendingRollup, SystemChunk
    from apps.metrics.rollups import floor_time, roll_up_hours, roll_up_raw

    since = datetime.fromtimestamp(start, tz=timezone.utc)
    until = datetime.fromtimestamp(end, tz=timezone.utc)
    pending = {}
    for i in range(0, len(machine_pks), ROLLUP_CHUNK):
        part = machine_pks[i : i + ROLLUP_CHUNK]
        rows = PendingRollup.objects.filter(machine_id__in=part)
        pending.update({pk: (lo, hi, gen) for pk, lo, hi, gen in rows.values_list(
            "machine_id", "lo", "hi", "generation")})  # fmt: skip
    if pending:
        since = min(since, *(lo for lo, _, _ in pending.values()))
        until = max(until, *(hi for _, hi, _ in pending.values()))
        compacted = set()
        for model in (SystemChunk, GoplsChunk):
            compacted |= set(
                model.objects.filter(
                    machine_id__in=list(pending), hour__gte=floor_time(since, 3600), hour__lte=until
                ).values_list("machine_id", flat=True)
            )
        for pk in sorted(compacted):
            expand(pk, pending[pk][0], pending[pk][1])
    for i in range(0, len(machine_pks), ROLLUP_CHUNK):
        part = machine_pks[i : i + ROLLUP_CHUNK]
        roll_up_raw(since, until, machine_ids=part)
        roll_up_hours(since, until, machine_ids=part)
    for pk, (_, _, generation) in pending.items():  # unless more was merged meanwhile
        PendingRollup.objects.filter(machine_id=pk, generation=generation).delete()


def run_direct(cfg: RunConfig, write=print, every_s: float = 3.0, specs=None) -> Progress:
    """Generate and ingest every machine's history with `ingest_report`, in time order, then
    roll it up. Idempotent: samples already stored are duplicates and stored once."""
    from apps.ingest.services import RateLimited, ingest_report

    specs = specs or cfg.fleet()
    machines = enroll_all(specs)
    progress = Progress(write, len(specs), len(specs) * cfg.samples_per_machine(), every_s)
    earliest = cfg.start
    for spec in specs:
        machine = machines[spec.machine_id]
        sim = MachineSim(spec, cfg.interval)
        since = resume_from(machine, cfg.start)
        earliest = min(earliest, since)
        first = True
        for part, at in batches(sim, since, cfg.end, cfg.batch):
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
    roll_up_seeded(sorted(m.pk for m in machines.values()), earliest, cfg.end)
    return progress
