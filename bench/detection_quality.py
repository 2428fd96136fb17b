"""Detection quality on labeled synthetic and real gopls traces, and the time of one fleet pass.

Run: .venv/bin/python bench/detection_quality.py [--quick] [--machines 20000] [--skip-fleet]
     [--skip-restart]

The fleet pass runs on PostgreSQL in a database of its own (--database-url, default
postgres://postgres@127.0.0.1:5432/devfleet_detbench), created at the start and dropped at the
end (--keep-db keeps it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
BENCH_DB = "postgres://postgres@127.0.0.1:5432/devfleet_detbench"


def _database_url() -> str:
    for k, arg in enumerate(sys.argv):
        if arg.startswith("--database-url="):
            return arg.split("=", 1)[1]
        if arg == "--database-url" and k + 1 < len(sys.argv):
            return sys.argv[k + 1]
    return os.environ.get("BENCH_DATABASE_URL", BENCH_DB)


os.environ["DATABASE_URL"] = _database_url()  # never the configured database: this one is dropped

import django  # noqa: E402

django.setup()

from apps.anomalies.detectors import REGISTRY, run_machine_rules  # noqa: E402
from apps.anomalies.snapshot import MachineSnapshot, ProcessSeries, SystemSeries  # noqa: E402
from apps.anomalies.thresholds import thresholds  # noqa: E402
from tests.anomalies.captures import capture_snapshot  # noqa: E402
from tests.anomalies.synthetic import (  # noqa: E402
    GB,
    cpu_trace,
    memory_trace,
    snapshot_for,
    watch_ramp,
)

REAL = ROOT / "tests" / "fixtures" / "real-gopls"
STEP_S = 300  # evaluation cadence replayed over each trace


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    delays_min: list[float] = field(default_factory=list)
    fp_cases: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        delay = statistics.median(self.delays_min) if self.delays_min else float("nan")
        return (
            f"{name:<24} precision {precision:5.3f}  recall {recall:5.3f}  "
            f"median delay {delay:6.1f} min  "
            f"(tp {self.tp}, fp {self.fp}, fn {self.fn}, tn {self.tn})"
        )


def first_fire(make_snapshot, times, rule_id: str, th) -> float | None:
    rule = REGISTRY[rule_id].func
    for cut in times:
        if any(d.fired for d in rule(make_snapshot(cut), th)):
            return cut
    return None


def score_case(score: Score, name: str, fired_at, onset, positive: bool) -> None:
    if positive:
        if fired_at is not None and fired_at >= onset:
            score.tp += 1
            score.delays_min.append((fired_at - onset) / 60)
        elif fired_at is not None:
            score.fp += 1
            score.fp_cases.append(f"{name} (before onset)")
        else:
            score.fn += 1
    elif fired_at is not None:
        score.fp += 1
        score.fp_cases.append(name)
    else:
        score.tn += 1


def leak_cases(rng, quick: bool):
    reps = 2 if quick else 6
    for r in range(reps):
        for slope in (30, 60, 100, 200, 500):
            for onset in (0.5, 2.0):
                yield (
                    f"leak {slope}MB/h onset {onset}h #{r}",
                    dict(
                        leak_mb_h=slope,
                        leak_onset_h=onset,
                        base=rng.uniform(200, 900) * 1e6,
                        load_level=rng.uniform(0.2, 2.5) * GB,
                        has_heap=r % 3 != 2,
                    ),
                )
        yield f"steady sawtooth #{r}", dict(base=rng.uniform(150, 1500) * 1e6)
        for level in (2, 4, 6):
            for tau in (2, 8, 20):
                yield (
                    f"load {level}GB tau {tau}min #{r}",
                    dict(load_level=level * GB, load_tau_min=tau, has_heap=r % 2 == 0),
                )
        yield (
            f"workspace change #{r}",
            dict(load_level=1.5 * GB, jump_at_h=3 + r % 3, jump_bytes=rng.uniform(0.4, 2.0) * GB),
        )
        yield f"restart (new lifetime) #{r}", dict(load_level=3 * GB, load_tau_min=5)


def bench_leaks(th, quick: bool) -> tuple[Score, Score]:
    rng = np.random.default_rng(7)
    overall, fast = Score(), Score()
    for name, kw in leak_cases(rng, quick):
        trace = memory_trace(name, hours=8, rng=rng, **kw)
        times = np.arange(trace.t[0] + 600, trace.t[-1] + 1, STEP_S)
        fired = first_fire(
            lambda c, tr=trace: snapshot_for(tr, until=c), times, "gopls_memory_leak", th
        )
        positive = trace.leak_onset is not None
        score_case(overall, name, fired, trace.leak_onset, positive)
        if not positive or kw.get("leak_mb_h", 0) >= 100:
            score_case(fast, name, fired, trace.leak_onset, positive)
    return overall, fast


def bench_cpu(th, quick: bool) -> dict[str, Score]:
    rng = np.random.default_rng(11)
    scores = {"gopls_cpu_pegged": Score(), "gopls_cpu_busy_idle": Score()}
    truth = {"gopls_cpu_pegged": ("pegged", 30 * 60), "gopls_cpu_busy_idle": ("busy_idle", 20 * 60)}
    for r in range(3 if quick else 10):
        for kind in ("pegged", "bursts", "busy_idle", "idle"):
            trace = cpu_trace(f"{kind} #{r}", kind=kind, rng=rng)
            times = np.arange(trace.t[0] + 300, trace.t[-1] + 1, 60)
            for rule_id, score in scores.items():
                fired = first_fire(
                    lambda c, tr=trace: snapshot_for(tr, until=c), times, rule_id, th
                )
                label, onset = truth[rule_id]
                score_case(score, trace.name, fired, trace.t[0] + onset, kind == label)
    return scores


def bench_watches(th, quick: bool) -> Score:
    rng = np.random.default_rng(13)
    score = Score()
    for r in range(3 if quick else 10):
        for end in (0.6, 0.75, 0.9, 0.99):
            t, used, limit = watch_ramp(rng=rng, end_ratio=end)
            snap = snapshot_for(memory_trace("w", hours=0.2, rng=rng))

            def make(cut, t=t, used=used, limit=limit, snap=snap):
                keep = t <= cut
                snap.now = float(cut)
                snap.system = SystemSeries(
                    t=t[keep],
                    series={"watches_used": used[keep], "watches_max": np.full(keep.sum(), limit)},
                )
                return snap

            crossing = np.flatnonzero(used >= 0.8 * limit)
            onset = float(t[crossing[0]]) if crossing.size else None
            fired = first_fire(make, t[::5], "inotify_watches", th)
            score_case(score, f"watch ramp to {end:.0%} #{r}", fired, onset, onset is not None)
    return score


def _lifetime(trace, pid: int, shift: float, cut: float) -> ProcessSeries:
    keep = trace.t + shift <= cut
    return ProcessSeries(
        pid=pid,
        start_ts=float(trace.t[0] + shift),
        last_ts=float(trace.t[keep][-1] + shift),
        version="v0.20.0",
        go_version="go1.25.0",
        editor="vscode",
        argv=["gopls", "-debug=localhost:0"],
        debug_addr="localhost:41234",
        t=trace.t[keep] + shift,
        series={"rss": trace.rss[keep], "heap": trace.heap[keep], "cpu": trace.cpu[keep]},
    )


def restart_snapshot(pk: int, leak, fresh, restart: float, cut: float) -> MachineSnapshot:
    """One machine at `cut`: the leaking lifetime until `restart`, then a fresh gopls (a new
    pid) started 30 s later. Each sample lists the gopls servers running, so the machine's
    newest sample is the newest of either lifetime."""
    procs = [_lifetime(leak, 4242, 0.0, min(cut, restart))]
    if cut >= restart + 30:
        procs.append(_lifetime(fresh, 4343, restart + 30 - fresh.t[0], cut))
    return MachineSnapshot(
        now=cut,
        machine_pk=pk,
        machine_id=f"restart-{pk}",
        mem_total_bytes=32 * 2**30,
        processes=procs,
        last_sample_ts=max(p.last_ts for p in procs),
    )


def bench_restart_after_leak(quick: bool) -> list[str]:
    """Leaking gopls restarted (the advice) after its finding opened: the real evaluation and
    finding lifecycle (evaluate_snapshots → reconcile) replayed on the bench database. Reports
    minutes from the restart to the resolution, reopenings and leaks on the fresh gopls."""
    from datetime import datetime, timezone

    from django.core.management import call_command

    from apps.anomalies import conf
    from apps.anomalies.evaluation import evaluate_snapshots
    from apps.anomalies.models import Finding, FindingEvent
    from apps.fleet.models import Machine, Team

    call_command("migrate", verbosity=0)
    team, _ = Team.objects.get_or_create(name="Bench restart")
    rng = np.random.default_rng(17)
    minutes, reopened, fresh_fp, lines = [], 0, 0, []
    for r in range(3 if quick else 8):
        slope = (60, 150, 400)[r % 3]
        leak = memory_trace(f"leak {slope}MB/h #{r}", hours=6, rng=rng, leak_mb_h=slope,
                            leak_onset_h=0.5, load_level=1.5 * GB)  # fmt: skip
        fresh = memory_trace(f"fresh #{r}", hours=3, rng=rng, load_level=1.5 * GB)
        machine = Machine.objects.create(machine_id=f"bench-restart-{r}", team=team, os="linux")
        restart, resolved_at = None, None
        cut = float(leak.t[0] + 600)
        while cut < leak.t[0] + 9 * 3600:
            # every 5 minutes until the restart, then every minute like beat's short pass
            cut += STEP_S if restart is None else 60
            if restart is None and cut > leak.t[-1]:
                break
            snap = restart_snapshot(machine.pk, leak, fresh, restart or 1e18, float(cut))
            at = datetime.fromtimestamp(float(cut), tz=timezone.utc)
            evaluate_snapshots([snap], at)
            old = Finding.objects.filter(machine=machine, subject=snap.processes[0].subject)
            if restart is None and old.filter(state="open").exists():
                restart = float(cut) + 60  # the user restarts gopls a minute after the alert
            elif restart is not None and resolved_at is None and old.filter(state="resolved"):
                resolved_at = float(cut)
            if restart is not None and cut > restart + 2.5 * 3600:
                break
        if restart is None:
            lines.append(f"   {leak.name}: no finding opened before the end of the trace")
            continue
        if resolved_at is not None:
            minutes.append((resolved_at - restart) / 60)
        reopened += FindingEvent.objects.filter(
            finding__machine=machine, kind=FindingEvent.Kind.REOPENED
        ).count()
        fresh_fp += Finding.objects.filter(
            machine=machine, rule_id="gopls_memory_leak", subject__startswith="gopls:4343@"
        ).count()
    delay = conf.get("DETECTION_RESOLVE_AFTER_S") / 60
    if minutes:
        lines.insert(
            0,
            f"restart after leak: finding resolved {statistics.median(minutes):.0f} min after "
            f"the restart (median; max {max(minutes):.0f}, n={len(minutes)}; evaluations every "
            f"minute after it, resolve delay {delay:.0f} min); reopened {reopened}; leak "
            f"findings on the fresh gopls {fresh_fp}",
        )
    else:
        lines.insert(0, "restart after leak: no finding resolved")
    return lines


def bench_real(th) -> list[str]:
    lines = []
    for name in ("goroot-src", "goldmark-edit", "goldmark"):
        folder = REAL / name
        if not folder.exists():
            lines.append(f"{name}: capture missing at {folder}")
            continue
        fired = sorted(
            d.rule_id for d in run_machine_rules(capture_snapshot(folder), th) if d.fired
        )
        lines.append(f"{name:<14} fired: {', '.join(fired) or 'nothing'}")
    return lines


def _database(url: str, action: str) -> None:
    """Create or drop the bench's own PostgreSQL database (never the configured one)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')


class QueryCounter:
    """Counts queries and the time spent waiting for the database."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def _timed_pass(label: str, end) -> tuple[float, float]:
    """One evaluate_fleet pass: (wall seconds, worker CPU seconds)."""
    from django.db import connection

    from apps.anomalies.evaluation import evaluate_fleet

    counter = QueryCounter()
    cpu = time.process_time()
    with connection.execute_wrapper(counter):
        stats = evaluate_fleet(end)
    cpu = time.process_time() - cpu
    o = stats.outcome
    print(
        f"{label}: {stats.seconds:6.1f} s wall ({cpu:.1f} s worker CPU, {counter.seconds:.1f} s "
        f"in {counter.count:,} queries) for {stats.machines:,} machines in {stats.chunks} "
        f"chunks; opened {len(o.opened)}, touched {o.touched}, resolved {len(o.resolved)} "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    return stats.seconds, cpu


def _beat_pass(end) -> tuple[float, float, int]:
    """What beat starts every minute, run on one worker: the chunks of evaluate_fleet_task
    (every-minute rules on 30 minutes for every machine, trend rules on the rotating
    1/DETECTION_TREND_EVERY) and then the fleet rules. (wall s, worker CPU s, chunks)"""
    from apps.anomalies import tasks

    started, cpu = time.perf_counter(), time.process_time()
    parts = tasks.plan_fleet_pass(end)
    for part, long_window in parts:
        tasks.evaluate_chunk_task(part, end.isoformat(), long_window)
    tasks.evaluate_fleet_rules_task(end.isoformat())
    return time.perf_counter() - started, time.process_time() - cpu, len(parts)


def fleet_pass_bench(
    machines: int, hours: float, raw_minutes: int, passes: int, reuse: bool = False
) -> float:
    """Seed `machines` machines, then time real full passes (`evaluate_fleet`: the chunk code
    path the Celery tasks run, every rule, `hours` of history). Returns the median seconds."""
    from collections import Counter

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.anomalies.models import Finding
    from bench.detection_fleet import kind_of, write_fleet

    print(f"== one fleet pass over {machines:,} machines (goal ≤ 60 s, one worker) ==")
    if connection.vendor != "postgresql":
        print("the fleet pass needs PostgreSQL (--database-url)")
        return float("nan")
    call_command("migrate", verbosity=0)
    from apps.fleet.models import Machine

    if reuse and Machine.objects.count() == machines:
        newest = Machine.objects.order_by("-last_sample_at")
        end = newest.values_list("last_sample_at", flat=True)[0]
        print(f"reusing the {machines:,} machines seeded for {end:%H:%M} UTC")
        first = (float("nan"), float("nan"))
    else:
        end = timezone.now().replace(microsecond=0)
        end -= timedelta(seconds=end.second % 15)
        seeded = write_fleet(machines, hours, raw_minutes, end)
        print(
            f"seeded {machines:,} machines × {hours:g} h in {seeded['seconds']:.0f} s: "
            f"{seeded['raw_rows']:,} raw sample rows (newest {raw_minutes} min at 15 s), "
            f"{seeded['rollup_rows']:,} 5-minute rollup rows"
        )
        first = _timed_pass("pass 1 (opens every finding)", end)
    steady = [_timed_pass(f"pass {k + 2}", end) for k in range(passes)]
    beat = [_beat_pass(end) for _ in range(max(1, passes))]
    for k, (wall, cpu, parts) in enumerate(beat):
        print(
            f"beat pass {k + 1} (evaluate_fleet_task's {parts} chunks run in one worker, then "
            f"the fleet rules): {wall:.1f} s wall, {cpu:.1f} s worker CPU "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    expected = Counter(kind_of(i) for i in range(machines))
    by_rule = Counter(Finding.objects.open().values_list("rule_id", flat=True))
    print(
        f"open findings by rule: {dict(sorted(by_rule.items()))}; injected: "
        f"{ {k: v for k, v in expected.items() if k != 'healthy'} }"
    )
    median = statistics.median(s for s, _ in steady)
    cpu = statistics.median(c for _, c in steady)
    verdict = "meets" if median <= 60 else "MISSES"
    print(
        f"full fleet pass over {machines:,} machines (steady state, median of {passes}): "
        f"{median:.1f} s wall, {cpu:.1f} s worker CPU — {verdict} the 60 s goal"
        + (
            f"; the first pass, opening {sum(by_rule.values()):,} findings at once, took "
            f"{first[0]:.1f} s"
            if not reuse
            else ""
        )
        + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--machines", type=int, default=20000, help="fleet size to time")
    parser.add_argument("--hours", type=float, default=6.0, help="history per machine")
    parser.add_argument("--raw-minutes", type=int, default=30, help="raw samples per machine")
    parser.add_argument("--passes", type=int, default=3, help="timed passes after the first")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument(
        "--skip-restart", action="store_true", help="skip the restart-after-leak lifecycle"
    )
    parser.add_argument("--database-url", default=BENCH_DB, help="a database the bench may drop")
    parser.add_argument("--keep-db", action="store_true", help="do not drop it at the end")
    parser.add_argument(
        "--reuse-db", action="store_true", help="time passes on a fleet kept by --keep-db"
    )
    args = parser.parse_args()
    th = thresholds()
    started = time.perf_counter()
    print("== detection quality (synthetic traces replayed every 5 min; CPU every 1 min) ==")
    overall, fast = bench_leaks(th, args.quick)
    print(overall.line("gopls_memory_leak (all)"))
    print(fast.line("leak >= 100 MB/h"))
    for case in overall.fp_cases:
        print(f"   false positive: {case}")
    for rule_id, score in bench_cpu(th, args.quick).items():
        print(score.line(rule_id))
        for case in score.fp_cases:
            print(f"   false positive: {case}")
    print(bench_watches(th, args.quick).line("inotify_watches"))
    print("== real captures (tests/fixtures/real-gopls) ==")
    for line in bench_real(th):
        print(line)
    print(f"(quality part took {time.perf_counter() - started:.1f} s)")
    if not args.skip_restart:
        print("== restart after a leak (evaluation and finding lifecycle, bench database) ==")
        url = os.environ["DATABASE_URL"]
        _database(url, "create")
        try:
            for line in bench_restart_after_leak(args.quick):
                print(line)
        finally:
            from django.db import connections

            connections.close_all()
            _database(url, "drop")
    if not args.skip_fleet:
        url = os.environ["DATABASE_URL"]
        if not args.reuse_db:
            _database(url, "create")
        try:
            fleet_pass_bench(
                args.machines, args.hours, args.raw_minutes, args.passes, args.reuse_db
            )
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep_db:
                _database(url, "drop")


if __name__ == "__main__":
    main()
