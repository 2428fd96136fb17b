"""Ingest profile: where one upload's CPU goes, in-process, through the real middleware and view.

Enrolls --machines machines in a fresh PostgreSQL database (as bench/ingest.py does), then sends
--uploads uploads (4 samples of one gopls process, gzip, the bench's report) through Django's
WSGI handler in this process, each from the next machine in turn, and prints the Python CPU per
upload, the PostgreSQL backend's CPU per upload (read from /proc, so the server must be local),
the database round trips per upload, and the cProfile breakdown (CPU time) by top-level phase
and by function (--top).

usage: python bench/ingest_profile.py [--machines 2000] [--uploads 2000] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from cpu_meter import proc_cpu  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/devfleet_ingestprofile"

# Functions whose cumulative time names a phase of an upload.
PHASES = [
    ("read + gunzip + JSON decode", "body.py", "read_json_body"),
    ("validation", "validation.py", "validate_report"),
    ("ingest_report (all)", "services.py", "ingest_report"),
    ("system sample insert", "writer.py", "insert_system_samples"),
    ("gopls lifetimes", "recording.py", "resolve_processes"),
    ("gopls sample insert", "writer.py", "insert_gopls_samples"),
    ("one-statement write", "write_sql.py", "store_upload"),
    ("machine update", "services.py", "update_machine_row"),
    ("report_stored receivers", "tasks.py", "_send"),
    ("credential lookup", "http.py", "_wrapped"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "false")

    from ingest import build_request, ensure_database, setup_fleet  # bench/ingest.py

    ensure_database(os.environ["DATABASE_URL"])
    creds = setup_fleet(args.machines)
    template = json.loads((ROOT / "docs/examples/report-v1.json").read_text())["samples"][0]

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    handler = WSGIHandler()
    now = datetime.now(timezone.utc)
    n = args.warmup + 2 * args.uploads
    environs = [
        _environ(build_request("x", creds[i % len(creds)], template, i % len(creds), now))
        for i in range(n)
    ]

    def send(environ) -> None:
        environ = dict(environ, **{"wsgi.input": io.BytesIO(environ["_body"])})
        status = []
        body = b"".join(handler(environ, lambda s, h: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"upload failed: {status[0]} {body[:300]!r}")

    for environ in environs[: args.warmup]:
        send(environ)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    # First without the profiler (its overhead inflates many small calls), then with it.
    k = args.uploads
    plain = environs[args.warmup : args.warmup + k]
    pg0, cpu0, wall0 = proc_cpu(backend), time.process_time(), time.perf_counter()
    for environ in plain:
        send(environ)
    print(
        f"{k} uploads, {args.machines} machines, load average {os.getloadavg()[0]:.2f}, no "
        f"profiler: Python {(time.process_time() - cpu0) / k * 1000:.2f} ms CPU/upload, "
        f"PostgreSQL backend {(proc_cpu(backend) - pg0) / k * 1000:.2f} ms/upload, wall "
        f"{(time.perf_counter() - wall0) / k * 1000:.2f} ms/upload"
    )
    queries = _QueryCounter()
    # CPU time, not wall: waiting on PostgreSQL or Redis is not this process's cost.
    profile = cProfile.Profile(time.process_time)
    pg0, cpu0, wall0 = proc_cpu(backend), time.process_time(), time.perf_counter()
    with connection.execute_wrapper(queries):
        profile.enable()
        for environ in environs[args.warmup + k :]:
            send(environ)
        profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pg = proc_cpu(backend) - pg0
    print(
        f"{k} more uploads under cProfile: Python {cpu / k * 1000:.2f} ms CPU/upload, "
        "PostgreSQL backend "
        f"{pg / k * 1000:.2f} ms/upload, wall {wall / k * 1000:.2f} ms/upload, "
        f"{queries.count / k:.2f} statements/upload (+ BEGIN/COMMIT when in a transaction)"
    )
    for kind, count in sorted(queries.kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count / k:5.2f} x {kind}")
    stats = pstats.Stats(profile)
    total = sum(v[2] for v in stats.stats.values())  # all internal time = profiled CPU
    print(f"\n{'phase (cumulative, share of profiled time)':48} {'ms/upload':>9} {'share':>6}")
    for label, filename, func in PHASES:
        cum = sum(
            v[3]
            for (fname, _, name), v in stats.stats.items()
            if name == func and fname.endswith(filename)
        )
        if cum:
            print(f"{label:48} {cum / k * 1000:9.3f} {cum / total * 100:5.1f}%")
    print(f"\ntop {args.top} functions by internal time:")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print("\n".join(out.getvalue().splitlines()[6:]))


class _QueryCounter:
    def __init__(self):
        self.count = 0
        self.kinds: dict[str, int] = {}

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        kind = " ".join(sql.split())[:70]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return execute(sql, params, many, context)


def _environ(raw: bytes) -> dict:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "_body": body,
    }
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value.strip()
        else:
            environ[f"HTTP_{key}"] = value.strip()
    return environ


if __name__ == "__main__":
    main()
