"""Ingest benchmark: the production web stack on PostgreSQL driven by a fleet of simulated agents.

Starts gunicorn with deploy/gunicorn.conf.py (the production configuration: gthread workers,
Redis cache when REDIS_URL is set) on a fresh database, enrolls the whole fleet in bulk through
the enrollment service, then offers uploads open-loop at each rate in --rates, every upload from
the next machine in turn (as a real fleet would: each machine once per pass), and prints per
rate: sustained uploads/s, samples/s, p50/p99 latency, errors, and where the CPU went (web
server processes, PostgreSQL, the load generator itself, and everything else on the box). The
verdict is the highest rate served with p99 < 100 ms and no errors, as machines at 15 s sampling
/ 60 s uploads (4 samples per upload).

The load generator shares the cores with the server and the database; it sends pre-built raw
HTTP/1.1 requests over keep-alive sockets, so it costs a small, printed share of the CPU.

usage: python bench/ingest.py [--machines 50000] [--rates 300,600,900] [--duration 30]
                              [--web-workers N] [--web-threads N] [--server-root DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cpu_meter import CpuMeter, children  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/devfleet_ingestbench"
SAMPLES_PER_UPLOAD = 4  # 15 s sampling, 60 s uploads
UPLOAD_INTERVAL_S = 60
P99_GOAL_MS = 100.0


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_fleet(n_machines: int) -> list[str]:
    """Migrate and enroll the fleet in bulk (a few statements, not one HTTP call per machine)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from apps.fleet.services import create_enrollment_token, enroll_machines_in_bulk

    _, token = create_enrollment_token("Bench")
    identities = [
        {
            "machine_id": f"bench-machine-{i:06d}",
            "hostname": f"bench-{i}",
            "os": "linux",
            "agent_version": "bench",
        }
        for i in range(n_machines)
    ]
    enrollments = enroll_machines_in_bulk(token, identities)
    prime_lifetimes([e.machine for e in enrollments])
    connection.close()
    return [e.credential for e in enrollments]


def prime_lifetimes(machines) -> None:
    """The fleet has been running: each machine already has the gopls lifetime it reports and
    that lifetime's project link, as after its first upload (bulk rows, not 50,000 uploads)."""
    from apps.fleet.models import GoplsProcess, MachineProject, Project
    from apps.fleet.recording import _lifetime_fields
    from apps.ingest.services import lifetime_start

    proc = json.loads((ROOT / "docs/examples/report-v1.json").read_text())["samples"][0]["gopls"][0]
    now = datetime.now(timezone.utc)
    module = proc["projects"][0]["module"]
    project = Project.objects.create(
        module_path=module, slug=Project.slug_for(module), first_seen=now, last_seen=now
    )
    facts = _lifetime_fields(proc)
    GoplsProcess.objects.bulk_create(
        [
            GoplsProcess(
                machine=m,
                pid=bench_pid(i),
                start_time=lifetime_start(proc),
                project=project,
                first_seen=now - timedelta(hours=1),
                last_seen=now - timedelta(minutes=1),
                **facts,
            )
            for i, m in enumerate(machines)
        ],
        batch_size=5000,
    )
    MachineProject.objects.bulk_create(
        [
            MachineProject(
                machine=m,
                project=project,
                root=proc["projects"][0]["root"],
                first_seen=now,
                last_seen=now,
            )
            for m in machines
        ],
        batch_size=5000,
    )


def bench_pid(machine: int) -> int:
    return 10_000 + machine % 50_000


# --- load generator ------------------------------------------------------------------------


def build_request(host: str, cred: str, template: dict, machine: int, now: datetime) -> bytes:
    """One upload as raw HTTP/1.1 bytes: 4 new samples of one gopls process, gzip."""
    samples = []
    for i in range(SAMPLES_PER_UPLOAD):
        sample = dict(template)
        sample["id"] = str(uuid.uuid4())
        sample["collected_at"] = iso(now - timedelta(seconds=15 * (SAMPLES_PER_UPLOAD - 1 - i)))
        # Each machine runs its own gopls: its own pid, started before the bench.
        sample["gopls"] = [dict(template["gopls"][0], pid=bench_pid(machine))]
        samples.append(sample)
    body = gzip.compress(
        json.dumps(
            {
                "schema_version": 1,
                "sent_at": iso(now),
                "agent": {"version": "bench"},
                "samples": samples,
            }
        ).encode(),
        compresslevel=5,
    )
    head = (
        f"POST /api/v1/reports HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {cred}\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bool]:
    """Read one HTTP/1.1 response (Content-Length framed) off a socket: (status, keep-alive)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end]).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length, keep = 0, True
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            keep = False  # sync workers answer one request per connection
    while len(buf) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    del buf[: end + length]
    return status, keep


def client_process(port, creds, template, first, count, stride, rate, start_at, threads, out_q):
    """Offer `count` uploads open-loop at `rate`/s from keep-alive sockets in `threads` threads.

    Job j (global index first + j * stride) is due at start_at + j / rate and comes from
    machine (first + j * stride) mod fleet size. Reports (latency s, status, lag s) per job and
    this process's own CPU seconds.
    """
    now = datetime.now(timezone.utc)
    host = f"127.0.0.1:{port}"
    jobs = [
        build_request(host, creds[m], template, m, now)
        for m in ((first + j * stride) % len(creds) for j in range(count))
    ]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    deadline = start_at + count / rate * 1.5 + 5.0
    lock = threading.Lock()
    next_index = [0]
    results: list[tuple[float, int, float]] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def worker() -> None:
        sock, buf = None, bytearray()
        while True:
            with lock:
                j = next_index[0]
                next_index[0] += 1
            if j >= count:
                break
            due = start_at + j / rate
            if time.time() > deadline:  # the server fell far behind: stop offering
                results.append((0.0, -1, 0.0))
                continue
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            lag = max(0.0, time.time() - due)
            try:
                if sock is None:
                    sock, buf = connect(), bytearray()
                sock.sendall(jobs[j])
                status, keep = read_response(sock, buf)
                if not keep:
                    sock.close()
                    sock = None
            except OSError:
                status = 0
                if sock is not None:
                    sock.close()
                sock = None
            results.append((time.perf_counter() - t0, status, lag))
        if sock is not None:
            sock.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out_q.put((results, cpu))


# --- steps ---------------------------------------------------------------------------------


def run_step(port, creds, template, rate, duration, first, meter, clients, threads):
    n = int(rate * duration)
    q = mp.Queue()
    start_at = time.time() + 2.0 + n / 4000  # time to build the requests before the clock starts
    procs = [
        mp.Process(
            target=client_process,
            args=(
                port,
                creds,
                template,
                first + c,
                len(range(c, n, clients)),
                clients,
                rate / clients,
                start_at,
                threads,
                q,
            ),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.01)
    before = meter.snapshot()
    outs = [q.get() for _ in procs]
    after = meter.snapshot()
    elapsed = time.time() - start_at
    for p in procs:
        p.join()
    unsent = sum(1 for out in outs for r in out[0] if r[1] == -1)
    results = [r for out in outs for r in out[0] if r[1] != -1]
    client_cpu = sum(out[1] for out in outs)
    cpu = CpuMeter.delta(before, after)
    lat = sorted(r[0] * 1000 for r in results)
    lags = sorted(r[2] * 1000 for r in results)
    ok = sum(1 for r in results if r[1] == 200)
    return {
        "offered": rate,
        "sent": len(results),
        "ok": ok,
        "errors": len(results) - ok,
        "unsent": unsent,
        "achieved": ok / elapsed,
        "p50": statistics.median(lat),
        "p99": lat[max(0, int(len(lat) * 0.99) - 1)],
        "lag_p99": lags[max(0, int(len(lags) * 0.99) - 1)],
        "elapsed": elapsed,
        "cpu_web": cpu["web"] / elapsed,
        "cpu_pg": cpu["pg"] / elapsed,
        "cpu_client": client_cpu / elapsed,
        "cpu_other": max(0.0, cpu["box"] - cpu["web"] - cpu["pg"] - client_cpu) / elapsed,
        "next": first + n,
    }


def start_server(root: Path, port: int, workers: int | None, threads: int | None):
    env = os.environ.copy()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    env["GUNICORN_ACCESS_LOG"] = "/dev/null"  # formatted as in production, not kept
    env["GUNICORN_ERROR_LOG"] = "-"
    env["GUNICORN_LOG_LEVEL"] = "warning"
    env["GUNICORN_MAX_REQUESTS"] = "0"  # a worker restart mid-step is noise here
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    conf = root / "deploy" / "gunicorn.conf.py"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(conf), "--backlog", "2048"],
        cwd=root,
        env=env,
    )
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(16):
                    break
        except OSError:
            time.sleep(0.2)
    time.sleep(1.0)  # let every worker finish booting
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=50_000)
    parser.add_argument("--rates", default="300,500,700,900")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds at the first rate")
    parser.add_argument("--web-workers", type=int, help="GUNICORN_WORKERS (default: conf)")
    parser.add_argument("--web-threads", type=int, help="GUNICORN_THREADS (default: conf)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--client-threads", type=int, default=48, help="sockets per process")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="checkout whose server to run (to compare two versions)",
    )
    parser.add_argument("--keep-db", action="store_true", help="reuse the enrolled fleet")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop gunicorn on the way out

    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")
    creds_file = Path(os.environ.get("BENCH_CREDS", "/tmp/devfleet-ingestbench-creds.txt"))
    t0 = time.time()
    if args.keep_db and creds_file.exists():
        creds = creds_file.read_text().split()[: args.machines]
        print(f"reusing {len(creds):,} enrolled machines")
    else:
        ensure_database(os.environ["DATABASE_URL"])
        creds = setup_fleet(args.machines)
        creds_file.write_text("\n".join(creds))
        print(f"enrolled {len(creds):,} machines in bulk in {time.time() - t0:.1f} s")
    template = json.loads((ROOT / "docs/examples/report-v1.json").read_text())["samples"][0]

    server = start_server(args.server_root, args.port, args.web_workers, args.web_threads)
    meter = CpuMeter(server.pid, os.environ["DATABASE_URL"])
    web = len(children(server.pid))
    threads = args.web_threads or os.environ.get("GUNICORN_THREADS") or "4 (conf default)"
    print(
        f"server: {args.server_root}, gunicorn -c deploy/gunicorn.conf.py, {web} workers x "
        f"{threads} threads; "
        f"PostgreSQL and Redis on the same {os.cpu_count()}-core box; load average "
        f"{os.getloadavg()[0]:.2f}; {SAMPLES_PER_UPLOAD} samples per upload, each upload "
        "from the next machine in turn"
    )
    try:
        first = 0
        rates = [float(r) for r in args.rates.split(",")]
        if args.warmup > 0:  # connections, prepared statements, lifetimes cached
            step = run_step(
                args.port,
                creds,
                template,
                rates[0],
                args.warmup,
                first,
                meter,
                args.clients,
                args.client_threads,
            )
            first = step["next"]
        print(
            f"{'offered/s':>9} {'uploads/s':>9} {'samples/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'errors':>6} {'lag99':>6} | CPU cores: {'web':>4} {'pg':>4} {'client':>6} "
            f"{'other':>5} | web+pg ms/upload"
        )
        best = None
        for rate in rates:
            step = run_step(
                args.port,
                creds,
                template,
                rate,
                args.duration,
                first,
                meter,
                args.clients,
                args.client_threads,
            )
            first = step["next"]
            per_upload = (step["cpu_web"] + step["cpu_pg"]) / max(step["achieved"], 1e-9) * 1000
            print(
                f"{rate:9.0f} {step['achieved']:9.1f} "
                f"{step['achieved'] * SAMPLES_PER_UPLOAD:9.0f} {step['p50']:7.1f} "
                f"{step['p99']:7.1f} {step['errors']:6d} {step['lag_p99']:6.0f} | "
                f"{'':10}{step['cpu_web']:4.2f} {step['cpu_pg']:4.2f} {step['cpu_client']:6.2f} "
                f"{step['cpu_other']:5.2f} | {per_upload:.2f}",
                flush=True,
            )
            if step["unsent"]:
                print(f"{'':9} {step['unsent']} uploads not offered: the server fell behind")
            keeps_up = step["achieved"] >= 0.97 * rate and not step["errors"] + step["unsent"]
            if keeps_up and step["p99"] < P99_GOAL_MS:
                best = step
            if not keeps_up:
                break  # saturated: higher rates only queue longer
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if best:
            machines = int(best["achieved"] * UPLOAD_INTERVAL_S)
            print(
                f"sustained: {best['achieved']:.0f} uploads/s, "
                f"{best['achieved'] * SAMPLES_PER_UPLOAD:.0f} samples/s, "
                f"p50 {best['p50']:.1f} ms, p99 {best['p99']:.0f} ms"
            )
            print(
                f"machines supported at 15 s sampling / 60 s uploads, p99 < 100 ms: "
                f"{machines:,} (goal 50,000: {'met' if machines >= 50_000 else 'NOT met'})"
            )
        else:
            print("no offered rate met p99 < 100 ms")
    finally:
        meter.admin.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
