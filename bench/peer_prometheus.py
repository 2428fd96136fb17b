"""Peer benchmark: devfleet beside Prometheus + node_exporter + process-exporter, same workload.

Method (printed with the figures):
- Calibration: one real prometheus-node-exporter and one real prometheus-process-exporter (Debian
  packages) run on loopback for a few seconds, process-exporter grouping a process named `gopls`
  (a copy of sleep(1), so the per-process families exist); each is scraped twice, seconds apart.
  Those two expositions are the per-workstation templates: same metric families, same label
  sets, same series count; series that moved between the two scrapes keep moving at the rate
  seen (counters never go backwards), the rest stay constant (bench/peer_exposition.py).
- Prometheus side: N simulated workstations, each as two targets (node, process) served from one
  small loopback HTTP server (a separate process) rendering the templates per target and per
  15 s slot; the real Prometheus (Debian package) scrapes all 2N targets every 15 s into its own
  TSDB in a temporary directory.
- devfleet side: the same N workstations as `apps/simulator` machines, enrolled in bulk, each
  uploading 4 samples (15 s sampling) once a minute through the real HTTP ingest path of the
  production stack (gunicorn with deploy/gunicorn.conf.py, a Celery worker and beat on a private
  PostgreSQL cluster and Redis, as bench/soak.py starts them), uploads spread over the minute.
- Both run at the same time for the same wall minutes. Server CPU (from /proc, bench/cpu_meter.py)
  over the measured window: Prometheus' process; devfleet's gunicorn master and workers, Celery
  worker and beat with their children, and the cluster's PostgreSQL processes. Stored values:
  Prometheus' prometheus_tsdb_head_samples_appended_total (exporter series plus its 5 per-target
  scrape series); devfleet's non-null metric columns (apps/metrics/catalog.py) of the raw sample
  rows; the detail JSON beside them is not counted as values, though its bytes are.
- Disk: Prometheus' head is written as a block through the TSDB snapshot API (a persisted block,
  as head compaction writes; blocks this short compress worse than 2 h blocks, and Prometheus'
  1–2 bytes per sample need long chunks), and its WAL is reported beside it; devfleet's raw
  sample tables with everything they own (bench/storage.py: heap, indexes, TOAST).

Loopback only; bounded (about --minutes + 3 minutes); stops by itself and removes its temporary
directory and every process it started. Skips (exit 0) when the Debian packages are missing.

usage: python bench/peer_prometheus.py [--machines 300] [--minutes 4] [--warmup 75]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.server
import json
import multiprocessing as mp
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from cpu_meter import CpuMeter, children, proc_cpu  # noqa: E402
from peer_exposition import (  # noqa: E402
    SCRAPE_INTERVAL_S,
    build_template,
    figures,
    per_target_series,
    ratios,
    render,
)

PACKAGES = {
    "prometheus": "prometheus",
    "prometheus-node-exporter": "prometheus-node-exporter",
    "prometheus-process-exporter": "prometheus-process-exporter",
}  # binary → Debian package
UPLOAD_INTERVAL_S = 60


def missing_packages() -> list[str]:
    return [pkg for exe, pkg in PACKAGES.items() if not shutil.which(exe)]


def get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- calibration ---------------------------------------------------------------------------


def calibrate(work: Path, free_port) -> tuple[list, dict]:
    """Two scrapes of a real node_exporter and process-exporter → the per-target templates."""
    gopls = work / "bin" / "gopls"
    gopls.parent.mkdir(parents=True)
    shutil.copy(shutil.which("sleep") or "/bin/sleep", gopls)
    cfg = work / "process-exporter.yml"
    cfg.write_text('process_names:\n  - name: "{{.Comm}}"\n    comm: [gopls]\n')
    node_port, proc_port = free_port(), free_port()
    procs = [subprocess.Popen([str(gopls), "600"])]
    try:
        procs.append(subprocess.Popen(
            ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        procs.append(subprocess.Popen(
            ["prometheus-process-exporter", "-web.listen-address", f"127.0.0.1:{proc_port}",
             "-config.path", str(cfg)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        urls = {"node": f"http://127.0.0.1:{node_port}/metrics",
                "process": f"http://127.0.0.1:{proc_port}/metrics"}  # fmt: skip
        wait_http(urls["node"], procs[1], "node_exporter")
        wait_http(urls["process"], procs[2], "process-exporter")
        time.sleep(2)  # process-exporter's first scan
        first = {k: get(u) for k, u in urls.items()}
        t0 = time.monotonic()
        time.sleep(5)
        second = {k: get(u) for k, u in urls.items()}
        apart = time.monotonic() - t0
        versions = {}
        for exe in ("prometheus", "prometheus-node-exporter", "prometheus-process-exporter"):
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
            versions[exe] = ((out.stdout or out.stderr).splitlines() or ["?"])[0].strip()
    finally:
        for p in reversed(procs):
            stop(p)
    return [build_template(first[k], second[k], apart) for k in ("node", "process")], versions


# --- the simulated exporters ---------------------------------------------------------------


def serve_exporters(port: int, templates: list, ready) -> None:
    """Serve /node/<i> and /process/<i> on loopback until terminated (a child process)."""
    by_kind = dict(zip(("node", "process"), templates, strict=True))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            parts = self.path.strip("/").split("/")
            if len(parts) != 2 or parts[0] not in by_kind or not parts[1].isdigit():
                self.send_error(404)
                return
            body = render(by_kind[parts[0]], int(parts[1]), time.time()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 256

    with Server(("127.0.0.1", port), Handler) as server:
        ready.set()
        server.serve_forever()


def prometheus_config(path: Path, port: int, machines: int) -> None:
    lines = [f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  scrape_timeout: 10s",
             "scrape_configs:"]  # fmt: skip
    for kind, exporter_port in (("node", 9100), ("process", 9256)):
        lines.append(f"  - job_name: {kind}\n    static_configs:")
        for i in range(machines):
            lines.append(
                f"      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: "
                f"'ws-{i:05d}:{exporter_port}', __metrics_path__: '/{kind}/{i}'}}"
            )
    path.write_text("\n".join(lines) + "\n")


def prometheus_counter(port: int, name: str) -> float:
    for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def query(port: int, expr: str) -> float:
    """One instant PromQL query's scalar result (nan when empty)."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    result = json.loads(get(url))["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --- devfleet ------------------------------------------------------------------------------


def enroll(machines: int, seed: int) -> list[tuple[object, str]]:
    """The simulated fleet, enrolled in bulk: (spec, credential) per machine."""
    from apps.fleet.services import create_enrollment_token, enroll_machines_in_bulk
    from apps.simulator.runner import RunConfig

    specs = RunConfig(machines=machines, seed=seed, prefix="peer").fleet()
    _, token = create_enrollment_token("Peer bench")
    done = enroll_machines_in_bulk(token, [s.identity() for s in specs])
    return list(zip(specs, [e.credential for e in done], strict=True))


def drive_uploads(port: int, fleet, until: float, stats: dict, stop_event) -> None:
    """Each machine uploads its last minute of samples once a minute, machines spread evenly."""
    from apps.simulator.reports import MachineSim, report

    sims = [MachineSim(spec) for spec, _ in fleet]
    first = [True] * len(fleet)
    last = [time.time() - UPLOAD_INTERVAL_S] * len(fleet)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.time()
    k = 0
    while not stop_event.is_set():
        i = k % len(fleet)
        due = start + k * UPLOAD_INTERVAL_S / len(fleet)
        if due >= until:
            break
        if due > time.time():
            stop_event.wait(due - time.time())
        now = time.time()
        samples = sims[i].samples(last[i], now)
        k += 1
        if not samples:
            continue
        body = gzip.compress(json.dumps(report(sims[i], samples, now, first[i])).encode(), 5)
        headers = {"Authorization": f"Bearer {fleet[i][1]}", "Content-Encoding": "gzip",
                   "Content-Type": "application/json"}  # fmt: skip
        try:
            conn.request("POST", "/api/v1/reports", body, headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except OSError:
            conn.close()
            status = 0
        if status == 200:
            first[i], last[i] = False, now
            stats["ok"] += 1
            stats["samples"] += len(samples)
        else:
            stats["errors"] += 1
            stats.setdefault("statuses", set()).add(status)


def stored_values() -> tuple[int, int]:
    """(non-null metric values, raw sample rows) in devfleet's raw sample tables."""
    from django.db import connection

    from apps.metrics.catalog import GOPLS, SYSTEM

    total = rows = 0
    with connection.cursor() as cursor:
        for table, entries in (("metrics_systemsample", SYSTEM), ("metrics_goplssample", GOPLS)):
            cols = " + ".join(f'("{e.column}" IS NOT NULL)::int' for e in entries)
            cursor.execute(f"SELECT COALESCE(SUM({cols}), 0), COUNT(*) FROM {table}")
            values, n = cursor.fetchone()
            total, rows = total + int(values), rows + int(n)
    return total, rows


def devfleet_cpu(meter: CpuMeter, stack) -> float:
    """CPU seconds so far of web (via the meter), worker, beat and PostgreSQL."""
    snap = meter.snapshot()
    total = sum(snap["web"].values()) + sum(snap["pg"].values())
    for role in ("worker", "beat"):
        pid = stack.pid(role)
        if pid:
            total += sum(proc_cpu(p) for p in [pid, *children(pid)])
    return total, snap


# --- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=4.0, help="measured wall minutes")
    parser.add_argument("--warmup", type=float, default=75.0, help="seconds before measuring")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    missing = missing_packages()
    if missing:
        print("peer_prometheus: skipped — not installed: " + ", ".join(missing)
              + ". Install Debian's packages: apt-get install " + " ".join(missing))  # fmt: skip
        return 0
    from soak_services import PrivatePostgres, PrivateRedis, Stack, free_port
    from storage import table_bytes

    work = Path(tempfile.mkdtemp(prefix="devfleet-peerbench-"))
    os.chmod(work, 0o755)
    prom = server = cluster = redis_srv = stack = None
    stop_uploads = threading.Event()
    try:
        templates, versions = calibrate(work, free_port)
        per_target = per_target_series(templates)
        print(__doc__.split("\n\n")[1].strip() + "\n")
        print("versions: " + "; ".join(versions.values()))
        print(f"calibrated per workstation: node_exporter {templates[0].series_count} series "
              f"({templates[0].varying} moving), process-exporter {templates[1].series_count} "
              f"({templates[1].varying} moving); Prometheus stores {per_target} series per "
              f"workstation with its scrape series")  # fmt: skip

        cluster = PrivatePostgres(work / "pg", free_port())
        cluster.start()
        redis_srv = PrivateRedis(work / "redis", free_port())
        redis_srv.start()
        stack = Stack(ROOT, work / "stack", cluster.url("devfleet"), redis_srv.url(0), 1.0)
        stack.env["GUNICORN_ACCESS_LOG"] = "/dev/null"
        stack.env["LOG_LEVEL"] = "WARNING"
        stack.prepare()
        # This process enrolls the fleet with the stack's settings (cache: local memory).
        os.environ.update({k: v for k, v in stack.env.items() if k not in ("PATH", "HOME")})
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        fleet = enroll(args.machines, args.seed)
        stack.start_all()
        wait_http(stack.base_url + "/api/v1/openapi.json", stack.procs["web"], "gunicorn")

        exp_port, prom_port = free_port(), free_port()
        ready = mp.Event()
        server = mp.Process(target=serve_exporters, args=(exp_port, templates, ready),
                            daemon=True)  # fmt: skip
        server.start()
        ready.wait(30)
        prometheus_config(work / "prometheus.yml", exp_port, args.machines)
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
             "--web.enable-admin-api", "--storage.tsdb.retention.time=1d"],
            stdout=(work / "prometheus.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", prom, "prometheus")

        total_s = args.warmup + args.minutes * 60
        stats = {"ok": 0, "errors": 0, "samples": 0}
        uploader = threading.Thread(
            target=drive_uploads,
            args=(stack.port, fleet, time.time() + total_s, stats, stop_uploads),
        )
        uploader.start()
        meter = CpuMeter(stack.pid("web"), cluster.url("devfleet"))
        load0 = os.getloadavg()[0]
        print(f"running {args.machines} workstations both ways: {args.warmup:.0f} s warm-up, "
              f"then {args.minutes:g} measured minutes (load average {load0:.2f}, "
              f"{os.cpu_count()} cores shared with other work)", flush=True)  # fmt: skip
        time.sleep(args.warmup)
        p_cpu0, d_cpu0 = proc_cpu(prom.pid), devfleet_cpu(meter, stack)[0]
        p_val0 = prometheus_counter(prom_port, "prometheus_tsdb_head_samples_appended_total")
        d_val0 = stored_values()[0]
        t0 = time.monotonic()
        uploader.join(timeout=args.minutes * 60 + 120)
        wall = time.monotonic() - t0
        p_cpu1, d_cpu1 = proc_cpu(prom.pid), devfleet_cpu(meter, stack)[0]
        p_val1 = prometheus_counter(prom_port, "prometheus_tsdb_head_samples_appended_total")
        d_val1, d_rows = stored_values()
        up = query(prom_port, "sum(up)"), query(prom_port, "count(up)")
        load1 = os.getloadavg()[0]
        meter.admin.close()
        minutes = wall / 60

        # Disk: Prometheus' head written as a block; devfleet's raw tables after VACUUM.
        snap = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{prom_port}/api/v1/admin/tsdb/snapshot", method="POST"),
            timeout=300).read())["data"]["name"]  # fmt: skip
        p_block = dir_bytes(work / "tsdb" / "snapshots" / snap)
        p_wal = dir_bytes(work / "tsdb" / "wal")
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        d_disk = table_bytes("metrics_systemsample") + table_bytes("metrics_goplssample")

        p = figures(p_cpu1 - p_cpu0, int(p_val1 - p_val0), args.machines, minutes, 0)
        d = figures(d_cpu1 - d_cpu0, d_val1 - d_val0, args.machines, minutes, 0)
        p["bytes_per_value"] = p_block / p_val1 if p_val1 else float("nan")
        p_wal_per_value = p_wal / p_val1 if p_val1 else float("nan")
        d["bytes_per_value"] = d_disk / d_val1 if d_val1 else float("nan")
        r = ratios(d, p)
        print(f"\nmeasured {wall:.0f} s; load average {load0:.2f} → {load1:.2f}; devfleet "
              f"uploads: {stats['ok']} ok, {stats['errors']} failed "
              f"{sorted(stats.get('statuses', []))}; {d_rows:,} raw rows in all; Prometheus "
              f"targets up at the end: {up[0]:.0f} of {up[1]:.0f}")  # fmt: skip
        print(f"{'':28}{'devfleet':>12}{'Prometheus':>12}{'ratio':>8}")
        rows = (("server CPU µs per value", "cpu_us_per_value", 2),
                ("server CPU ms per mach-min", "cpu_ms_per_machine_minute", 2),
                ("bytes on disk per value", "bytes_per_value", 2))  # fmt: skip
        for label, key, digits in rows:
            print(f"{label:28}{d[key]:12.{digits}f}{p[key]:12.{digits}f}{r[key]:7.2f}×")
        print(f"{'values per machine-minute':28}{d['values_per_machine_minute']:12.1f}"
              f"{p['values_per_machine_minute']:12.1f}")  # fmt: skip
        print(f"server CPU in the window: devfleet {d_cpu1 - d_cpu0:.1f} s (web, worker, beat, "
              f"PostgreSQL), Prometheus {p_cpu1 - p_cpu0:.1f} s")  # fmt: skip
        print(f"disk: devfleet raw tables {d_disk:,} B for {d_val1:,} values; Prometheus "
              f"snapshot block {p_block:,} B and WAL {p_wal:,} B ({p_wal_per_value:.2f} B per "
              f"value) for {int(p_val1):,} samples (a block of {total_s / 60:.0f} minutes; "
              "2 h blocks compress further)")  # fmt: skip
        print("ratio = devfleet ÷ Prometheus (below 1: devfleet costs less)")
        return 0
    finally:
        stop_uploads.set()
        stop(prom)
        if server is not None and server.is_alive():
            server.terminate()
            server.join(10)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may never have been set up
            pass
        if stack is not None:
            stack.stop()
        if redis_srv is not None:
            redis_srv.stop(15)
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
