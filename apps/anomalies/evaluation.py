"""Evaluation: snapshots → detectors → findings, per chunk of machines and for the whole fleet."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, connections
from django.db.models import Avg
from django.utils import timezone

from apps.anomalies import conf
from apps.anomalies.advice import knowledge_base, render_advice
from apps.anomalies.advice_context import machine_context, merge_facts
from apps.anomalies.chains import link_causes
from apps.anomalies.detectors import FLEET_RULES, MACHINE_RULES, run_machine_rules
from apps.anomalies.detectors.facts import gopls_version
from apps.anomalies.detectors.fleet import PeerSample
from apps.anomalies.lifecycle import Outcome, reconcile, save_touched
from apps.anomalies.loader import active_machine_ids, load_snapshots
from apps.anomalies.machine_health import deferred_refresh, refresh_health
from apps.anomalies.models import Finding
from apps.anomalies.profiles import attach_profiles, request_profile
from apps.anomalies.thresholds import thresholds
from apps.common import shapes
from apps.fleet.models import GoplsProcess, Machine
from apps.metrics.chunks.rollup_store import chunked_machines
from apps.metrics.chunks.rollup_store import entries as rollup_entries
from apps.metrics.models import GoplsRollup, Resolution

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    machines: int = 0
    chunks: int = 0
    seconds: float = 0.0
    outcome: Outcome = field(default_factory=Outcome)

    def as_dict(self) -> dict:
        o = self.outcome
        return {
            "machines": self.machines,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "opened": len(o.opened),
            "reopened": len(o.reopened),
            "changed": len(o.changed),
            "resolved": len(o.resolved),
            "touched": o.touched,
        }


def renderer(snapshot):
    """det → (title, advice) for this machine's platform, editor, versions and safe values."""
    alive = snapshot.alive() or snapshot.processes
    ctx = machine_context(snapshot)

    def render(det):
        entry = knowledge_base()[det.rule_id]
        editor = det.facts.get("editor") or (alive[0].editor if alive else "")
        version = det.facts.get("gopls_version")
        if isinstance(version, str) and version:
            source = next((p.version_source for p in alive if p.version == version), "")
            version = gopls_version(version, source)[0]
        elif not isinstance(version, tuple):
            version = ctx.gopls
        built = shapes.parse_go_version(det.facts.get("gopls_go_version")) or ctx.gopls_go
        advice = render_advice(
            det.rule_id,
            platform=snapshot.platform,
            editor=editor,
            gopls=version,
            go=ctx.go,
            gopls_go=built,
            wsl=ctx.wsl,
            facts=merge_facts(ctx.facts, det.evidence, det.facts),
            evidence=det.evidence,
            subject=det.subject,
        )
        return entry.data["title"], advice

    return render


# Rules that need the long window (trends, lookbacks of hours); the others need 30 minutes.
LONG_WINDOW_RULES = {
    "gopls_memory_leak",
    "gopls_goroutine_growth",
    "gopls_crash_loop",
    "oom_kill",
    "cache_disk_full",
}


def evaluate_snapshots(snapshots, now: datetime, rules: set[str] | None = None) -> Outcome:
    """Run machine rules over snapshots and reconcile their findings (one query for them all).

    With `rules`, only those run and only their open findings can clear."""
    out = Outcome()
    pks = [s.machine_pk for s in snapshots]
    existing: dict[int, list[Finding]] = defaultdict(list)
    for finding in Finding.objects.open().filter(machine_id__in=pks):
        existing[finding.machine_id].append(finding)
    machine_rules = set(rules) if rules is not None else set(MACHINE_RULES)
    th_cache: dict[str, dict] = {}
    touched: list[Finding] = []
    with deferred_refresh():  # one refresh for the whole chunk, below
        follow_up = []
        for snap in snapshots:
            key = repr(sorted(snap.overrides.items())) if snap.overrides else ""
            th = th_cache.get(key)
            if th is None:
                th = th_cache[key] = thresholds(snap.overrides)
            detections = run_machine_rules(snap, th, machine_rules)
            mine = existing[snap.machine_pk]
            result = reconcile(
                snap.machine_pk,
                detections,
                mine,
                renderer(snap),
                now,
                rules=machine_rules,
                touched=touched,
                gone=snap.gone_subjects({f.subject for f in mine}),
            )
            out.merge(result)
            if result.opened or result.reopened or existing[snap.machine_pk]:
                follow_up.append(snap)
        save_touched(touched)  # one statement per chunk, not one per machine
        _after_changes(follow_up, now)
    refresh_health(pks, now)  # the stored level the dashboard counts (machine_health.py)
    return out


def _after_changes(snaps, now: datetime) -> None:
    """Cause chains, profile requests and arrived profiles for the machines with findings
    (one query for their open findings, one for arrived profiles)."""
    if not snaps:
        return
    by_machine: dict[int, list[Finding]] = defaultdict(list)
    for finding in Finding.objects.open().filter(machine_id__in=[s.machine_pk for s in snaps]):
        by_machine[finding.machine_id].append(finding)
    all_leaks = []
    for snap in snaps:
        open_findings = by_machine.get(snap.machine_pk, [])
        link_causes(open_findings, now)
        leaks = [f for f in open_findings if f.rule_id == "gopls_memory_leak"]
        if leaks and snap.allow_profiles and conf.get("DETECTION_REQUEST_PROFILES"):
            by_subject = {p.subject: p.process_pk for p in snap.processes}
            for finding in leaks:
                request_profile(finding, by_subject.get(finding.subject), now)
        all_leaks += leaks
    attach_profiles(all_leaks, now)


def evaluate_machines(
    machine_ids: list[int], now: datetime | None = None, *, long_window: bool = True
) -> Outcome:
    """Evaluate one chunk of machines at `now`. Idempotent.

    long_window=False is the cheap every-minute pass: 30 minutes of history and every rule but
    the long-window ones (whose findings are left as they are until their turn comes)."""
    now = now or timezone.now()
    if long_window:
        return evaluate_snapshots(load_snapshots(list(machine_ids), now), now)
    hours = conf.get("DETECTION_SHORT_WINDOW_MINUTES") / 60
    rules = set(MACHINE_RULES) - LONG_WINDOW_RULES
    return evaluate_snapshots(load_snapshots(list(machine_ids), now, hours), now, rules)


def chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def evaluate_fleet(now: datetime | None = None, chunk_size: int | None = None) -> PassStats:
    """One full pass, synchronously: every active machine in chunks, then the fleet rules.

    On PostgreSQL, outside a transaction, the next chunk's snapshots load on a second
    connection while this chunk's detectors run (the database works while Python computes);
    each chunk is evaluated exactly as evaluate_machines would."""
    started = time.perf_counter()
    now = now or timezone.now()
    ids = active_machine_ids(now)
    stats = PassStats(machines=len(ids))
    parts = chunks(ids, chunk_size or int(conf.get("DETECTION_CHUNK_SIZE")))
    if len(parts) > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        for part_snapshots in _prefetched(parts, now):
            stats.outcome.merge(evaluate_snapshots(part_snapshots, now))
            stats.chunks += 1
    else:
        for chunk in parts:
            stats.outcome.merge(evaluate_machines(chunk, now))
            stats.chunks += 1
    stats.outcome.merge(evaluate_fleet_rules(now, ids))
    stats.seconds = time.perf_counter() - started
    return stats


def _prefetched(parts: list[list[int]], now: datetime):
    """Yield each chunk's snapshots, loading chunk k+1 in a thread while k is evaluated."""

    def load(part):
        try:
            return load_snapshots(part, now)
        finally:
            connections.close_all()  # the thread's own connection, not the caller's

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots") as pool:
        pending = pool.submit(load, parts[0])
        for nxt in [*parts[1:], None]:
            snapshots = pending.result()
            if nxt is not None:
                pending = pool.submit(load, nxt)
            yield snapshots


def peer_samples(machine_ids: list[int], now: datetime | None = None) -> list[PeerSample]:
    """Each machine's gopls processes: memory from its newest-sample summary (Machine.latest),
    CPU and completion latency as means over the last hour of 5-minute rollups (one sample's
    CPU is too noisy to compare versions; without rollups they are left out)."""
    now = now or timezone.now()
    hour = _hour_means(machine_ids, now)
    peers = []
    for pk, latest in (
        Machine.objects.filter(pk__in=machine_ids)
        .values_list("pk", "latest")
        .iterator(chunk_size=2000)
    ):
        for proc in (latest or {}).get("gopls") or []:
            rss = proc.get("rss_bytes")  # every agent has RSS; heap needs the debug server
            if rss and proc.get("project") and proc.get("version"):
                cpu, latency = hour.get((pk, proc.get("pid")), (None, None))
                peers.append(
                    PeerSample(pk, proc["project"], proc["version"], float(rss), cpu, latency)
                )
    return peers


def _hour_means(machine_ids: list[int], now: datetime) -> dict[tuple[int, int], tuple]:
    """{(machine pk, gopls pid): (mean CPU %, mean 5-minute completion p95 ms)}, last hour
    (by machine through the rollups' machine index, in chunks). Machines whose rollups there
    are compacted (a replay of the past) read chunk and rows together."""
    out: dict[tuple[int, int], tuple] = {}
    since = now - timedelta(hours=1)
    five = Resolution.FIVE_MINUTES
    for part in chunks(sorted(machine_ids), 2000):
        compacted = chunked_machines(True, five, since, now, part)
        rows = (
            GoplsRollup.objects.filter(
                machine_id__in=[pk for pk in part if pk not in compacted],
                resolution=five,
                bucket__gte=since,
                bucket__lte=now,
            )
            .values("machine_id", "process__pid")
            .annotate(cpu=Avg("cpu_percent_avg"), latency=Avg("completion_p95_max"))
            .values_list("machine_id", "process__pid", "cpu", "latency")
        )
        for mid, pid, cpu, lat in rows:
            out[(mid, pid)] = (
                None if cpu is None else float(cpu),
                None if lat is None else float(lat),
            )
        if compacted:
            out.update(_compacted_hour_means(compacted, since, now))
    return out


def _compacted_hour_means(machine_pks, since: datetime, now: datetime) -> dict:
    """`_hour_means` of machines with compacted rollups, from chunks and rows together."""
    found = rollup_entries(
        True, machine_pks, Resolution.FIVE_MINUTES, since, now,
        ["cpu_percent_avg", "completion_p95_max"],
    )  # fmt: skip
    pids = dict(GoplsProcess.objects.filter(pk__in={e[1] for e in found}).values_list("pk", "pid"))
    values: dict[tuple[int, int], tuple[list, list]] = defaultdict(lambda: ([], []))
    for mid, process_pk, _, cpu, latency in found:
        cpus, latencies = values[(mid, pids[process_pk])]
        if cpu is not None:
            cpus.append(float(cpu))
        if latency is not None:
            latencies.append(float(latency))
    return {
        key: (sum(c) / len(c) if c else None, sum(lat) / len(lat) if lat else None)
        for key, (c, lat) in values.items()
    }


def fleet_renderer(platform: str):
    """det → (title, advice) of a fleet rule, rendered for one machine's own platform."""

    def render(det):
        facts = {
            k: v
            for k, v in {**det.evidence, **det.facts}.items()
            if isinstance(v, (str, int, float))
        }
        advice = render_advice(det.rule_id, platform=platform, facts=facts)
        return knowledge_base()[det.rule_id].data["title"], advice

    return render


def evaluate_fleet_rules(now: datetime, machine_ids: list[int] | None = None) -> Outcome:
    """Outliers among peers and version regressions; findings land on the machines concerned."""
    ids = machine_ids if machine_ids is not None else active_machine_ids(now)
    peers = peer_samples(ids, now)
    th = thresholds()
    by_machine: dict[int, list] = defaultdict(list)
    for entry in FLEET_RULES.values():
        for machine_pk, detections in entry.func(peers, th).items():
            by_machine[machine_pk].extend(detections)
    out = Outcome()
    existing: dict[int, list[Finding]] = defaultdict(list)
    for finding in Finding.objects.open().filter(rule_id__in=list(FLEET_RULES)):
        existing[finding.machine_id].append(finding)
    platforms = {
        pk: f"wsl{wsl}" if wsl else os_name
        for pk, os_name, wsl in Machine.objects.filter(
            pk__in=set(by_machine) | set(existing)
        ).values_list("pk", "os", "wsl_version")
    }
    for machine_pk in set(by_machine) | set(existing):
        if machine_pk not in platforms:
            continue
        out.merge(
            reconcile(
                machine_pk,
                by_machine.get(machine_pk, []),
                existing.get(machine_pk, []),
                fleet_renderer(platforms[machine_pk]),
                now,
                rules=set(FLEET_RULES),
            )
        )
    return out
