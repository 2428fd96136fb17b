"""Detection quality on labeled synthetic and real gopls traces, and the time of one fleet pass.

Run: .venv/bin/python bench/detection_quality.py [--quick] [--machines 20000] [--sample 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if "--keep-db" not in sys.argv:  # the fleet pass writes synthetic machines: use a scratch DB
    import tempfile

    os.environ["SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(prefix="devfleet-bench-"), "b.db")

import django  # noqa: E402

django.setup()

from apps.anomalies.captures import capture_snapshot  # noqa: E402
from apps.anomalies.detectors import REGISTRY, run_machine_rules  # noqa: E402
from apps.anomalies.snapshot import SystemSeries  # noqa: E402
from apps.anomalies.synthetic import (  # noqa: E402
    GB,
    cpu_trace,
    memory_trace,
    snapshot_for,
    watch_ramp,
)
from apps.anomalies.thresholds import thresholds  # noqa: E402

REAL = ROOT.parent / "shared" / "fixtures" / "real-gopls"
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


def _write_fleet(n: int, hours: float, interval: int, end):
    """Bulk-create n machines with `hours` of samples every `interval` s: 90 % healthy, the rest
    leaking, pegged or near the inotify limit. Returns seconds spent writing."""
    from datetime import timedelta

    from django.db import transaction

    from apps.fleet.models import GoplsProcess, InventoryItem, Machine, Team
    from apps.metrics.models import GoplsSample, SystemSample

    started = time.perf_counter()
    rng = np.random.default_rng(3)
    team, _ = Team.objects.get_or_create(name="Bench")
    steps = int(hours * 3600 // interval)
    times = [end - timedelta(seconds=interval * (steps - 1 - i)) for i in range(steps)]
    rel = np.arange(steps) * interval
    with transaction.atomic():
        machines = Machine.objects.bulk_create(
            Machine(
                machine_id=f"bench-{i:06d}",
                hostname=f"bench-{i}",
                os="linux",
                team=team,
                mem_total_bytes=32 * 2**30,
                cpu_count=8,
                last_seen=end,
                last_sample_at=end,
                latest={
                    "gopls": [
                        {
                            "rss_bytes": int(rng.uniform(3e8, 9e8)),
                            "version": "v0.20.0",
                            "project": f"github.com/acme/p{i % 40}",
                        }
                    ]
                },
            )
            for i in range(n)
        )
        procs = GoplsProcess.objects.bulk_create(
            GoplsProcess(
                machine=m,
                pid=1000 + i,
                start_time=times[0] - timedelta(minutes=30),
                version="v0.20.0",
                go_version="go1.25.1",
                editor="vscode",
                argv=["gopls", "-debug=localhost:0"],
                debug_addr="localhost:1",
                first_seen=times[0],
                last_seen=end,
            )
            for i, m in enumerate(machines)
        )
        InventoryItem.objects.bulk_create(
            InventoryItem(
                machine=m,
                section="editor_settings",
                digest=str(m.pk),
                value=[{"editor": "vscode", "settings": {}, "has_go_goplsArgs": False}],
            )
            for m in machines
        )
        for i, (m, proc) in enumerate(zip(machines, procs)):
            kind = i % 10  # 0: leak, 1: pegged, 2: inotify; the rest healthy
            base = rng.uniform(2e8, 8e8)
            heap = base * (1 + 0.2 * ((rel % 60) / 60)) + (rel / 3600 * 150e6 if kind == 0 else 0)
            cpu = np.where(kind == 1, 120.0, rng.uniform(0, 3, steps))
            watches = 60000 if kind == 2 else 2000
            SystemSample.objects.bulk_create(
                (
                    SystemSample(
                        machine=m,
                        sample_uid=f"{i}-{k}",
                        collected_at=t,
                        ts=t,
                        received_at=t,
                        mem_total_bytes=32 * 2**30,
                        mem_available_bytes=20 * 2**30,
                        inotify_watches_used=watches,
                        inotify_watches_max=65536,
                        disk_free_min_bytes=100e9,
                        oom_kill_count=0,
                        gopls_count=1,
                    )
                    for k, t in enumerate(times)
                ),
                batch_size=2000,
            )
            GoplsSample.objects.bulk_create(
                (
                    GoplsSample(
                        machine=m,
                        process=proc,
                        collected_at=t,
                        ts=t,
                        rss_bytes=int(heap[k] * 1.4),
                        heap_inuse_bytes=int(heap[k]),
                        cpu_percent=float(cpu[k]),
                        goroutines=15,
                        open_fds=30,
                        fd_limit=1024,
                    )
                    for k, t in enumerate(times)
                ),
                batch_size=2000,
            )
    return time.perf_counter() - started


def fleet_pass_bench(machines: int, sample: int, hours: float, interval: int) -> None:
    """Time one fleet pass: the real evaluation over `sample` machines stored in the DB, then
    the detector work alone over `machines` synthetic snapshots; extrapolate linearly."""
    from django.core.management import call_command
    from django.utils import timezone

    from apps.anomalies.evaluation import (
        chunks,
        evaluate_fleet,
        evaluate_fleet_rules,
        evaluate_machines,
    )
    from apps.anomalies.models import Finding
    from apps.fleet.models import Machine

    print(f"== one fleet pass ({machines:,} machines goal ≤ 60 s, one worker) ==")
    call_command("migrate", verbosity=0)
    end = timezone.now().replace(microsecond=0)
    wrote = _write_fleet(sample, hours, interval, end)
    rows = sample * int(hours * 3600 // interval)
    print(
        f"wrote {sample:,} machines × {hours:g} h at {interval} s ({rows:,} rows per sample "
        f"table) in {wrote:.1f} s"
    )
    first = evaluate_fleet(end)
    second = evaluate_fleet(end)
    print(
        f"full pass (`evaluate_fleet`: every rule, {hours:g} h) over {first.machines:,} stored "
        f"machines: first {first.seconds:.2f} s ({len(first.outcome.opened)} findings opened), "
        f"second {second.seconds:.2f} s ({len(second.outcome.opened)} opened; "
        f"{Finding.objects.count()} findings in all)"
    )
    ids = sorted(
        Machine.objects.filter(machine_id__startswith="bench-").values_list("pk", flat=True)
    )
    every = 10
    started = time.perf_counter()
    for part in chunks([pk for pk in ids if pk % every == 0], 500):
        evaluate_machines(part, end, long_window=True)
    for part in chunks([pk for pk in ids if pk % every != 0], 500):
        evaluate_machines(part, end, long_window=False)
    evaluate_fleet_rules(end, ids)
    beat = time.perf_counter() - started
    print(
        f"beat pass (every-minute rules on 30 min; trend rules on 1/{every} of the machines): "
        f"{beat:.2f} s over {len(ids):,} machines"
    )
    per_machine = beat / max(1, len(ids))
    th = thresholds()
    rng = np.random.default_rng(5)
    traces = [memory_trace(f"m{i}", hours=hours, rng=rng, step_s=300.0) for i in range(50)]
    started = time.perf_counter()
    for i in range(machines):
        run_machine_rules(snapshot_for(traces[i % 50]), th)
    detect = time.perf_counter() - started
    print(
        f"detectors alone over {machines:,} synthetic snapshots (5-min buckets, {hours:g} h): "
        f"{detect:.1f} s"
    )
    estimate = per_machine * machines
    verdict = "meets" if estimate <= 60 else "MISSES"
    full = second.seconds / max(1, second.machines) * machines
    print(
        f"estimated beat pass over {machines:,} machines: {estimate:.1f} s "
        f"(measured {per_machine * 1000:.2f} ms/machine on {sample:,} stored machines, "
        f"extrapolated linearly) — {verdict} the 60 s goal; a full `evaluate_fleet` pass: "
        f"about {full:.0f} s"
    )
    print(f"(machine load while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--machines", type=int, default=20000, help="fleet size to time")
    parser.add_argument("--sample", type=int, default=500, help="machines written to the DB")
    parser.add_argument("--hours", type=float, default=6.0, help="history per machine")
    parser.add_argument("--interval", type=int, default=15, help="seconds between samples")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--keep-db", action="store_true", help="use the configured database")
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
    print("== real captures (../shared/fixtures/real-gopls) ==")
    for line in bench_real(th):
        print(line)
    print(f"(quality part took {time.perf_counter() - started:.1f} s)")
    if not args.skip_fleet:
        fleet_pass_bench(args.machines, args.sample, args.hours, args.interval)


if __name__ == "__main__":
    main()
