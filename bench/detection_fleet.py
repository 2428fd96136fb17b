"""A simulated fleet in PostgreSQL for timing detection: machines, lifetimes, samples, rollups.

Used by bench/detection_quality.py. Each machine gets `hours` of history as the database holds
it after the rollup task has run: 5-minute rollups for the whole window and raw 15-second
samples for the newest `raw_minutes` (the raw tier holds 14 days in production; detection
reads only the newest ~20 minutes of it). Rows go in with COPY.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

STEP_S = 15
BUCKET_S = 300
PROJECTS = 40
# i % 20: 0 leaking, 1 pegged CPU, 2 near the inotify limit; the rest healthy
KINDS = {0: "leak", 1: "pegged", 2: "inotify"}


def kind_of(i: int) -> str:
    return KINDS.get(i % 20, "healthy")


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _traces(n: int, steps: int, rel_h: np.ndarray, rng) -> dict[str, np.ndarray]:
    """(n, steps) arrays of heap, RSS, CPU and watches for n machines."""
    kinds = np.array([kind_of(i) for i in range(n)])
    base = rng.uniform(2e8, 8e8, (n, 1))
    sawtooth = 1 + 0.2 * ((np.arange(steps) * STEP_S % 600) / 600)
    heap = base * sawtooth + np.where(kinds[:, None] == "leak", 150e6 * rel_h[None, :], 0.0)
    cpu = rng.uniform(0, 3, (n, steps))
    cpu[kinds == "pegged"] = rng.uniform(110, 130, ((kinds == "pegged").sum(), steps))
    watches = np.where(kinds == "inotify", 60000, 2000)[:, None] * np.ones((1, steps))
    return {"heap": heap, "rss": heap * 1.4, "cpu": cpu, "watches": watches, "kinds": kinds}


def write_fleet(n: int, hours: float, raw_minutes: int, end: datetime, seed: int = 3) -> dict:
    """Create the fleet; returns {"seconds", "raw_rows", "rollup_rows"}."""
    from django.db import connection, transaction

    from apps.fleet.models import GoplsProcess, InventoryItem, Machine, Project, Team
    from apps.metrics.partitions import ensure_partitions
    from apps.metrics.rollups import roll_up_raw

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    ensure_partitions(end.date())
    steps = int(hours * 3600 // STEP_S) + 1
    times = [end - timedelta(seconds=STEP_S * (steps - 1 - k)) for k in range(steps)]
    epoch = np.array([t.timestamp() for t in times])
    rel_h = (epoch - epoch[0]) / 3600
    tr = _traces(n, steps, rel_h, rng)
    raw_start = end - timedelta(minutes=raw_minutes)
    raw_start -= timedelta(seconds=raw_start.timestamp() % BUCKET_S)  # whole buckets raw
    first_raw = int(np.searchsorted(epoch, raw_start.timestamp()))
    # Buckets fully before the raw part come from numpy; roll_up_raw computes the rest.
    bucket_of = (epoch // BUCKET_S).astype(int)
    old = np.flatnonzero(bucket_of < bucket_of[first_raw])
    edges = np.flatnonzero(np.r_[True, np.diff(bucket_of[old]) != 0])
    with transaction.atomic():
        team, _ = Team.objects.get_or_create(name="Bench")
        projects = [
            Project.objects.get_or_create(
                module_path=f"github.com/acme/p{p}", defaults={"slug": f"acme-p{p}"}
            )[0]
            for p in range(PROJECTS)
        ]
        machines = Machine.objects.bulk_create(
            (
                Machine(
                    machine_id=f"bench-{i:06d}",
                    hostname=f"bench-{i}",
                    os="linux",
                    wsl_version=2 if i % 50 == 7 else None,
                    team=team,
                    mem_total_bytes=32 * 2**30,
                    cpu_count=8,
                    last_seen=end,
                    last_sample_at=end,
                    latest={
                        "ts": end.isoformat(),
                        "gopls": [
                            {
                                "pid": 1000 + i,
                                "rss_bytes": int(tr["rss"][i, -1]),
                                "cpu_percent": float(tr["cpu"][i, -1]),
                                "version": "v0.21.0" if i % 3 else "v0.20.0",
                                "project": f"github.com/acme/p{i % PROJECTS}",
                            }
                        ],
                        "oom_kill_count": 0,
                        "inotify_watches_used": int(tr["watches"][i, -1]),
                        "inotify_watches_max": 65536,
                        "inotify_top": [{"pid": 1000 + i, "name": "gopls", "watches": 900}],
                        "drvfs_workspaces": [],
                    },
                )
                for i in range(n)
            ),
            batch_size=2000,
        )
        procs = GoplsProcess.objects.bulk_create(
            (
                GoplsProcess(
                    machine=m,
                    pid=1000 + i,
                    start_time=times[0] - timedelta(minutes=30),
                    version="v0.21.0" if i % 3 else "v0.20.0",
                    go_version="go1.25.1",
                    editor="vscode",
                    argv=["gopls", "-debug=localhost:0"],
                    debug_addr="localhost:1",
                    project=projects[i % PROJECTS],
                    first_seen=times[0],
                    last_seen=end,
                )
                for i, m in enumerate(machines)
            ),
            batch_size=2000,
        )
        InventoryItem.objects.bulk_create(
            (
                InventoryItem(
                    machine=m,
                    section="editor_settings",
                    digest=str(m.pk),
                    value=[{"editor": "vscode", "settings": {}, "has_go_goplsArgs": False}],
                )
                for m in machines
            ),
            batch_size=2000,
        )
    mids = np.array([m.pk for m in machines])
    pids = np.array([p.pk for p in procs])
    raw_rows = rollup_rows = 0
    with connection.cursor() as wrapper:
        cur = wrapper.cursor
        raw_times = times[first_raw:]
        raw_rows += _copy(
            cur,
            "metrics_systemsample",
            [
                "machine_id",
                "sample_uid",
                "collected_at",
                "ts",
                "received_at",
                "mem_total_bytes",
                "mem_available_bytes",
                "inotify_watches_used",
                "inotify_watches_max",
                "disk_free_min_bytes",
                "oom_kill_count",
                "gopls_count",
                "error_count",
                "detail",
            ],
            (
                (
                    int(mids[i]),
                    f"{i}-{k}",
                    t,
                    t,
                    t,
                    32 * 2**30,
                    20 * 2**30,
                    int(tr["watches"][i, first_raw + k]),
                    65536,
                    100 * 10**9,
                    0,
                    1,
                    0,
                    "{}",
                )
                for i in range(n)
                for k, t in enumerate(raw_times)
            ),
        )
        raw_rows += _copy(
            cur,
            "metrics_goplssample",
            [
                "machine_id",
                "process_id",
                "collected_at",
                "ts",
                "rss_bytes",
                "heap_inuse_bytes",
                "cpu_percent",
                "goroutines",
                "open_fds",
                "fd_limit",
                "detail",
            ],
            (
                (
                    int(mids[i]),
                    int(pids[i]),
                    t,
                    t,
                    int(tr["rss"][i, first_raw + k]),
                    int(tr["heap"][i, first_raw + k]),
                    float(tr["cpu"][i, first_raw + k]),
                    15,
                    30,
                    1024,
                    "{}",
                )
                for i in range(n)
                for k, t in enumerate(raw_times)
            ),
        )
        bucket_times = [
            datetime.fromtimestamp(int(b) * BUCKET_S, tz=UTC) for b in bucket_of[old][edges]
        ]
        counts = np.diff(np.r_[edges, old.size])

        def reduce(values, how):
            return how.reduceat(values[:, old], edges, axis=1)

        agg = {
            "rss_min": reduce(tr["rss"], np.minimum),
            "rss_max": reduce(tr["rss"], np.maximum),
            "rss_avg": reduce(tr["rss"], np.add) / counts,
            "heap_min": reduce(tr["heap"], np.minimum),
            "heap_max": reduce(tr["heap"], np.maximum),
            "heap_avg": reduce(tr["heap"], np.add) / counts,
            "cpu_min": reduce(tr["cpu"], np.minimum),
            "cpu_max": reduce(tr["cpu"], np.maximum),
            "cpu_avg": reduce(tr["cpu"], np.add) / counts,
            "watches": reduce(tr["watches"], np.maximum),
        }
        first_t = [times[old[e]] for e in edges]
        last_t = [times[old[e + c - 1]] for e, c in zip(edges, counts)]
        rollup_rows += _copy(
            cur,
            "metrics_systemrollup",
            [
                "machine_id",
                "resolution",
                "bucket",
                "n",
                "mem_total_bytes",
                "mem_available_min",
                "mem_available_avg",
                "oom_kill_count_max",
                "inotify_watches_max",
                "inotify_watches_limit",
                "disk_free_min",
                "gopls_count_max",
            ],
            (
                (
                    int(mids[i]),
                    BUCKET_S,
                    b,
                    int(counts[j]),
                    32 * 2**30,
                    20 * 2**30,
                    20.0 * 2**30,
                    0,
                    int(agg["watches"][i, j]),
                    65536,
                    100 * 10**9,
                    1,
                )
                for i in range(n)
                for j, b in enumerate(bucket_times)
            ),
        )
        rollup_rows += _copy(
            cur,
            "metrics_goplsrollup",
            [
                "machine_id",
                "process_id",
                "resolution",
                "bucket",
                "n",
                "rss_min",
                "rss_avg",
                "rss_max",
                "heap_inuse_min",
                "heap_inuse_avg",
                "heap_inuse_max",
                "cpu_percent_avg",
                "cpu_percent_max",
                "cpu_percent_min",
                "goroutines_max",
                "open_fds_max",
                "fd_limit_min",
                "ts_first",
                "ts_last",
            ],
            (
                (
                    int(mids[i]),
                    int(pids[i]),
                    BUCKET_S,
                    b,
                    int(counts[j]),
                    int(agg["rss_min"][i, j]),
                    float(agg["rss_avg"][i, j]),
                    int(agg["rss_max"][i, j]),
                    int(agg["heap_min"][i, j]),
                    float(agg["heap_avg"][i, j]),
                    int(agg["heap_max"][i, j]),
                    float(agg["cpu_avg"][i, j]),
                    float(agg["cpu_max"][i, j]),
                    float(agg["cpu_min"][i, j]),
                    15,
                    30,
                    1024,
                    first_t[j],
                    last_t[j],
                )
                for i in range(n)
                for j, b in enumerate(bucket_times)
            ),
        )
    rolled = roll_up_raw(times[first_raw], end)  # the real rollup SQL for the raw part
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "seconds": time.perf_counter() - started,
        "raw_rows": raw_rows,
        "rollup_rows": rollup_rows + rolled,
        "kinds": tr["kinds"],
        "machine_pks": mids,
    }
