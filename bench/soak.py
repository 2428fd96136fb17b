"""Soak / chaos benchmark: the production stack under simulated agents while its services fail.

Starts a private PostgreSQL cluster (initdb into the work directory, a free port) and a private
Redis (append-only file, as deploy/docker-compose.yml runs it), the production stack the way
deploy/run-production-stack.sh does (gunicorn -c deploy/gunicorn.conf.py, a Celery worker,
Celery beat, production settings), a local webhook receiver as every team's alert channel, and
simulated agents (bench/soak_agents.py: the real agent spool and uploader, apps/simulator
traces, in compressed time). While they run it restarts PostgreSQL (fast and immediate
shutdown, and a 30 s outage), restarts and crashes Redis, SIGKILLs the Celery worker (restarted
5 s later, as systemd would) and gunicorn workers. Then it drains and prints: samples generated
vs stored (lost, duplicated), notifications expected vs delivered (lost, duplicate requests per
idempotency key), each process's peak RSS, and the recovery time after each fault.

The shared PostgreSQL and Redis are never touched. Not part of the test suite (it takes
minutes); tests/bench/test_soak_accounting.py checks its arithmetic.

usage: python bench/soak.py [--sim-hours 1.25] [--wall-minutes 10] [--machines 32] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "deploy")]

import healthcheck  # noqa: E402  (deploy/healthcheck.py: is the web server answering?)
from soak_accounting import (  # noqa: E402
    Fault,
    notification_figures,
    parse_task_log,
    sample_figures,
    upload_recovery,
    worker_recovery,
)
from soak_services import PrivatePostgres, PrivateRedis, Stack, free_port  # noqa: E402

from apps.simulator.catalog import TEAMS  # noqa: E402
from apps.simulator.fleet import build_machine  # noqa: E402
from apps.simulator.timeline import kills  # noqa: E402
from tests.alerts.receivers import HttpReceiver  # noqa: E402

FORCED = ["gopls_leak", "oom_kill", "cpu_pegged", "crash_loop", "inotify_exhaustion"]
SETUP = """
import json, sys, django
django.setup()
from django.core.management import call_command
from apps.fleet.services import create_enrollment_token
tokens = {}
for team in json.loads(sys.argv[1]):
    tokens[team] = create_enrollment_token(team, label="soak")[1]
    call_command("add_channel", team=team, kind="webhook", target=sys.argv[2], secret="soak",
                 min_severity="info", stdout=sys.stderr)
print(json.dumps(tokens))
"""


def say(line: str) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[{time.strftime('%H:%M:%S')} load {load}] {line}", flush=True)


class MemorySampler(threading.Thread):
    """Samples the RSS of every process of every service once a second; keeps the peaks."""

    def __init__(self, roles) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.roles = roles  # callable → {role: (root pid or None, include children)}
        self.peak_one: dict[str, int] = {}
        self.peak_sum: dict[str, int] = {}
        self.processes: dict[str, set[int]] = {}
        self.max_load = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.max_load = max(self.max_load, os.getloadavg()[0])
            for role, (pid, children) in self.roles().items():
                if not pid:
                    continue
                try:
                    root = psutil.Process(pid)
                    procs = [root, *(root.children(recursive=True) if children else [])]
                    rss = []
                    for proc in procs:
                        try:
                            rss.append(proc.memory_info().rss)
                            self.processes.setdefault(role, set()).add(proc.pid)
                        except psutil.Error:
                            pass
                except psutil.Error:
                    continue
                if rss:
                    self.peak_one[role] = max(self.peak_one.get(role, 0), max(rss))
                    self.peak_sum[role] = max(self.peak_sum.get(role, 0), sum(rss))


class WorkerProbe(threading.Thread):
    """Queues the heartbeat task every `every_s` seconds, so the worker log shows when tasks
    run again after a fault even in a quiet moment (failures to queue are ignored)."""

    def __init__(self, broker: str, queue: str, every_s: float = 2.0) -> None:
        super().__init__(daemon=True, name="worker-probe")
        from celery import Celery

        self.app = Celery("soak-probe", broker=broker, set_as_current=False)
        self.queue, self.every_s = queue, every_s
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                self.app.send_task(
                    "apps.fleet.tasks.record_heartbeat_task",
                    queue=self.queue,
                    expires=30,
                    retry=False,
                )
            except Exception:  # the broker is down: that is the point
                pass


def pick_oom_machine(seed: int, sim_t0: float, sim_end: float) -> int:
    """A machine index whose forced OOM kill falls inside the simulated period (not at its
    edges), so the kill, its finding and its alert happen while the services fail."""
    span = sim_end - sim_t0
    for index in range(2000, 4000):
        spec = build_machine(seed, index, list(TEAMS), "soak", ["oom_kill"])
        times = kills(spec, sim_t0, sim_end)
        if any(sim_t0 + 0.25 * span < t < sim_end - 0.2 * span for t in times):
            return index
    raise RuntimeError("no machine with an OOM kill inside the simulated period")


def chaos_schedule(stack: Stack, pg: PrivatePostgres, redis: PrivateRedis, wall_s: float):
    """(offset in seconds from the start, name, action returning when the service is back)."""
    k = wall_s / 600.0
    return [
        (45 * k, "gunicorn worker SIGKILL", lambda: stack.kill_web_workers(1)),
        (90 * k, "PostgreSQL restart (fast)", lambda: pg.restart("fast")),
        (150 * k, "Celery worker SIGKILL + restart", stack.kill_worker),
        (200 * k, "Redis restart (SIGTERM, AOF)", lambda: redis.restart(signal.SIGTERM)),
        (260 * k, "PostgreSQL restart (immediate)", lambda: pg.restart("immediate")),
        (320 * k, "all gunicorn workers SIGKILL", lambda: stack.kill_web_workers(None)),
        (370 * k, "PostgreSQL down 30 s", lambda: pg.outage(30.0)),
        (440 * k, "Redis crash (SIGKILL)", lambda: redis.restart(signal.SIGKILL, down_s=3.0)),
        (500 * k, "Celery worker SIGKILL + restart", stack.kill_worker),
    ]


def wait_for_web(base: str, env: dict, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = healthcheck.check(base, env, timeout=3.0)
        if ok:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"web server not answering: {detail}")
        time.sleep(0.5)


def outbox_state(pg: PrivatePostgres) -> tuple[int, int]:
    """(rows still pending or sending, all rows) of the alert outbox."""
    rows = pg.query("SELECT status, count(*) FROM alerts_notification GROUP BY status")
    counts = dict(rows)
    return counts.get("pending", 0) + counts.get("sending", 0), sum(counts.values())


def drain_outbox(pg: PrivatePostgres, quiet_s: float, timeout_s: float) -> None:
    """Wait until nothing is pending and no row was added for quiet_s (or timeout_s)."""
    deadline = time.monotonic() + timeout_s
    last_total, changed = -1, time.monotonic()
    while time.monotonic() < deadline:
        busy, total = outbox_state(pg)
        if total != last_total:
            last_total, changed = total, time.monotonic()
        if not busy and time.monotonic() - changed >= quiet_s:
            return
        time.sleep(5)
    say(f"outbox not drained after {timeout_s:.0f} s ({outbox_state(pg)[0]} rows in flight)")


def account(work: Path, pg: PrivatePostgres, receiver: HttpReceiver) -> dict:
    generated, gopls_expected = [], 0
    for line in (work / "generated.tsv").read_text().splitlines():
        machine, uid, gopls = line.split("\t")
        generated.append((machine, uid))
        gopls_expected += int(gopls)
    stored = Counter(
        {
            (m, uid): n
            for m, uid, n in pg.query(
                "SELECT m.machine_id, s.sample_uid, count(*) FROM metrics_systemsample s "
                "JOIN fleet_machine m ON m.id = s.machine_id GROUP BY 1, 2"
            )
        }
    )
    samples = sample_figures(generated, stored)
    ((gopls_rows, gopls_distinct),) = pg.query(
        "SELECT count(*), count(DISTINCT (process_id, ts)) FROM metrics_goplssample"
    )
    samples.update(
        gopls_expected=gopls_expected,
        gopls_stored=gopls_rows,
        gopls_duplicated=gopls_rows - gopls_distinct,
    )
    ((buckets, missing, short),) = pg.query(
        "SELECT count(*), count(*) FILTER (WHERE r.n IS NULL), "
        "count(*) FILTER (WHERE r.n < raw.n) FROM (SELECT machine_id, "
        "date_bin('300 seconds', ts, TIMESTAMPTZ '2000-01-01') AS bucket, count(*) AS n "
        "FROM metrics_systemsample GROUP BY 1, 2) raw LEFT JOIN metrics_systemrollup r "
        "ON r.machine_id = raw.machine_id AND r.resolution = 300 AND r.bucket = raw.bucket"
    )
    rows = [(str(k), s) for k, s in pg.query("SELECT key, status FROM alerts_notification")]
    received = [r["headers"].get("Idempotency-Key") for r in receiver.posts("/hook")]
    findings = dict(
        pg.query("SELECT rule_id || ' ' || state, count(*) FROM anomalies_finding GROUP BY 1")
    )
    events = dict(pg.query("SELECT kind, count(*) FROM anomalies_findingevent GROUP BY 1"))
    spools = json.loads((work / "summary.json").read_text())
    return {
        "samples": samples,
        "spools": {
            key: sum(s[key] for s in spools.values())
            for key in ("spool_depth", "dropped_samples", "rejected_batches")
        },
        "rollups_5m": {"buckets": buckets, "missing": missing, "behind": short},
        "notifications": notification_figures(rows, received),
        "findings": findings,
        "finding_events": events,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-hours", type=float, default=1.25)
    parser.add_argument("--wall-minutes", type=float, default=10.0)
    parser.add_argument("--machines", type=int, default=32, help="plus one per forced problem")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-chaos", action="store_true", help="baseline run without faults")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="devfleet-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    wall_s = args.wall_minutes * 60
    speed = args.sim_hours * 3600 / wall_s
    say(f"soak in {work}: {args.sim_hours} simulated h in {args.wall_minutes} wall min "
        f"(x{speed:.1f}), {os.cpu_count()} cores")  # fmt: skip
    pg = PrivatePostgres(work / "pg", free_port())
    redis = PrivateRedis(work / "redis", free_port())
    receiver = HttpReceiver().start()
    stack = agents = None
    sampler = MemorySampler(
        lambda: {
            "gunicorn": (stack and stack.pid("web"), True),
            "celery worker": (stack and stack.pid("worker"), True),
            "celery beat": (stack and stack.pid("beat"), True),
            "postgres": (pg.pid(), True),
            "redis": (redis.pid(), False),
            "agents": (agents and agents.pid, False),
            "soak + receiver": (os.getpid(), False),
        }
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    faults: list[Fault] = []
    probe = None
    try:
        pg.start()
        redis.start()
        stack = Stack(ROOT, work, pg.url("devfleet"), redis.url(0), speed)
        stack.prepare()
        teams = sorted(TEAMS)
        done = stack.run_python(SETUP, json.dumps(teams), receiver.url + "/hook")
        tokens = json.loads(done.strip().splitlines()[-1])
        stack.start_all()
        wait_for_web(stack.base_url, stack.env)
        sampler.start()
        probe = WorkerProbe(redis.url(0), stack.env["CELERY_QUEUE"])
        probe.start()
        say(f"stack up: gunicorn {stack.base_url}, worker, beat; PostgreSQL :{pg.port}, "
            f"Redis :{redis.port}; receiver {receiver.url}")  # fmt: skip

        wall_t0 = time.time() + 10  # agents enroll first
        sim_t0 = wall_t0 + wall_s - 60 - speed * wall_s  # ends a minute behind the wall clock
        sim_end = sim_t0 + args.sim_hours * 3600
        oom = pick_oom_machine(args.seed, sim_t0, sim_end)
        forced = [[1000 + i, s] for i, s in enumerate(FORCED) if s != "oom_kill"]
        config = {
            "work": str(work),
            "server": stack.base_url,
            "tokens": tokens,
            "seed": args.seed,
            "machines": args.machines,
            "forced": [*forced, [oom, "oom_kill"]],
            "sim_t0": sim_t0,
            "sim_end": sim_end,
            "wall_t0": wall_t0,
            "speed": speed,
            "drain_timeout_s": 180,
        }
        (work / "agents.json").write_text(json.dumps(config))
        agents = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "soak_agents.py"), str(work / "agents.json")],
            cwd=ROOT,
            stdout=(work / "log" / "agents.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        schedule = [] if args.no_chaos else chaos_schedule(stack, pg, redis, wall_s)
        for offset, name, action in schedule:
            time.sleep(max(0.0, wall_t0 + offset - time.time()))
            if agents.poll() is not None:
                raise RuntimeError("the agents process died; see log/agents.log")
            at = time.time()
            action()
            faults.append(Fault(at, name, time.time()))
            say(f"fault at +{at - wall_t0:.0f} s: {name} (back after {time.time() - at:.1f} s)")
        say("chaos over; waiting for the simulated period to end and the agents to drain")
        agents.wait(timeout=max(0.0, wall_t0 + wall_s - time.time()) + 300)
        say("agents done; draining the alert outbox")
        drain_outbox(pg, quiet_s=75, timeout_s=300)
        stack.stop()
        report = account(work, pg, receiver)
        attempts = [
            (float(at), int(agent), kind)
            for at, agent, kind, _ in (
                line.split("\t", 3) for line in (work / "uploads.tsv").read_text().splitlines()
            )
        ]
        tasks = parse_task_log((work / "log" / "worker.log").read_text().splitlines())
        report["recovery"] = [
            {**u, **w, "service_back_s": round(f.restored_at - f.at, 1)}
            for f, u, w in zip(
                faults, upload_recovery(faults, attempts), worker_recovery(faults, tasks)
            )
        ]
        report["uploads"] = dict(Counter(kind for _, _, kind in attempts))
        report["crashes"] = [
            {"at_s": round(at - wall_t0, 1), "service": role, "exit": code, "log": line[:300]}
            for at, role, code, line in stack.crashes
        ]
        sampler.stop.set()
        report["peak_rss_mb"] = {
            role: {
                "one_process": round(sampler.peak_one[role] / 2**20, 1),
                "all_processes": round(sampler.peak_sum.get(role, 0) / 2**20, 1),
                "processes_seen": len(sampler.processes.get(role, ())),
            }
            for role in sampler.peak_one
        }
        report["run"] = {
            "simulated_hours": args.sim_hours,
            "speed": round(speed, 2),
            "wall_minutes_total": round((time.time() - wall_t0) / 60, 1),
            "machines": args.machines + len(FORCED),
            "faults": len(faults),
            "max_load_1m": round(sampler.max_load, 2),
        }
        (work / "report.json").write_text(json.dumps(report, indent=1))
        print_report(report)
        return 0 if report["samples"]["lost"] == report["samples"]["duplicated"] == 0 else 1
    finally:
        sampler.stop.set()
        if probe:
            probe.stop.set()
        if agents and agents.poll() is None:
            agents.terminate()
            agents.wait(timeout=30)
        if stack:
            stack.stop()
        redis.stop(signal.SIGTERM)
        pg.stop("fast")
        receiver.stop()
        if args.keep:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_report(r: dict) -> None:
    run, s, n = r["run"], r["samples"], r["notifications"]
    lines = [
        f"\n== soak: {run['simulated_hours']} simulated h at x{run['speed']}, "
        f"{run['machines']} machines, {run['faults']} faults, "
        f"{run['wall_minutes_total']} wall min, peak load {run['max_load_1m']}",
        f"samples: {s['generated']:,} generated, {s['stored']:,} stored, lost {s['lost']}, "
        f"duplicated {s['duplicated']}, unexpected {s['unexpected']}; gopls rows "
        f"{s['gopls_stored']:,} of {s['gopls_expected']:,}, duplicated {s['gopls_duplicated']}",
        f"agent spools at the end: {r['spools']}; upload attempts: {r['uploads']}",
        f"5-minute rollups: {r['rollups_5m']}",
        f"notifications: {n['expected']} expected, {n['delivered']} delivered, "
        f"lost {n['lost']}, duplicate requests {n['duplicate_requests']} "
        f"(keys resent {n['keys_resent']}), unknown keys {n['unknown_keys']}; "
        f"outbox {n['by_status']}",
        f"findings: {r['findings']}; events: {r['finding_events']}",
        f"services that exited on their own (restarted {Stack.RESTART_S:.0f} s later, as "
        f"systemd would): {r['crashes'] or 'none'}",
        "peak RSS (MiB), largest process (all processes of the role, how many seen):",
    ]
    for role, v in r["peak_rss_mb"].items():
        lines.append(
            f"  {role:16} {v['one_process']:7} ({v['all_processes']} over {v['processes_seen']})"
        )
    lines.append(
        f"{'fault':34} {'back s':>6} {'failed up':>9} {'agents':>6} {'all ok s':>8} "
        f"{'failed tasks':>12} {'tasks ok s':>10}"
    )
    for f in r["recovery"]:
        lines.append(
            f"{f['fault']:34} {f['service_back_s']:6} {f['failed_attempts']:9} "
            f"{f['agents_affected']:6} {f['all_recovered_s']!s:>8} "
            f"{f['failed_tasks']:12} {f['tasks_ok_again_s']!s:>10}"
        )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    random.seed(1)
    sys.exit(main())
