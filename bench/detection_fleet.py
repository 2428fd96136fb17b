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


SYSTEM_COLUMNS = [
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
]
GOPLS_COLUMNS = [
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
]
SYSTEM_ROLLUP_COLUMNS = [
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
]
GOPLS_ROLLUP_COLUMNS = [
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
]


def _traces(n: int, steps: int, rel_h: np.ndarray, rng) -> dict[str, np.ndarray]:
    """(n, steps) arrays of heap, RSS, CPU and watches for n machines."""
    kinds = np.array([kind_of(i) for i in range(n)])
    base = rng.uniform(2e8, 8e8, (n, 1))
    # GC sawtooth: cycles of 20-90 s that vary from cycle to cycle (as in synthetic.py),
    # sampled every 15 s: each sample lands at an effectively random point of its cycle.
    sawtooth = 1 + 0.25 * rng.random((n, steps))
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
    mids = [m.pk for m in machines]
    pids = [p.pk for p in procs]
    raw_times = [t.isoformat() for t in times[first_raw:]]
    r = slice(first_raw, None)
    heap, rss = tr["heap"].astype(np.int64), tr["rss"].astype(np.int64)
    cpu, watches = tr["cpu"], tr["watches"].astype(np.int64)
    bucket_times = [
        datetime.fromtimestamp(int(b) * BUCKET_S, tz=UTC).isoformat() for b in bucket_of[old][edges]
    ]
    counts = np.diff(np.r_[edges, old.size])

    def reduce(values, how):
        return how.reduceat(values[:, old], edges, axis=1)

    agg = {
        "rss_min": reduce(rss, np.minimum),
        "rss_max": reduce(rss, np.maximum),
        "rss_avg": reduce(tr["rss"], np.add) / counts,
        "heap_min": reduce(heap, np.minimum),
        "heap_max": reduce(heap, np.maximum),
        "heap_avg": reduce(tr["heap"], np.add) / counts,
        "cpu_min": reduce(cpu, np.minimum),
        "cpu_max": reduce(cpu, np.maximum),
        "cpu_avg": reduce(cpu, np.add) / counts,
        "watches": reduce(watches, np.maximum),
    }
    first_t = [times[old[e]].isoformat() for e in edges]
    last_t = [times[old[e + c - 1]].isoformat() for e, c in zip(edges, counts)]
    mem, avail, disk = 32 * 2**30, 20 * 2**30, 100 * 10**9

    def system_rows(i):
        w = watches[i, r].tolist()
        return "".join(
            f"{mids[i]}\t{i}-{k}\t{t}\t{t}\t{t}\t{mem}\t{avail}\t{w[k]}\t65536\t{disk}\t0\t1\t0\t{{}}\n"
            for k, t in enumerate(raw_times)
        )

    def gopls_rows(i):
        rs, hp, cp = rss[i, r].tolist(), heap[i, r].tolist(), cpu[i, r].tolist()
        return "".join(
            f"{mids[i]}\t{pids[i]}\t{t}\t{t}\t{rs[k]}\t{hp[k]}\t{cp[k]}\t15\t30\t1024\t{{}}\n"
            for k, t in enumerate(raw_times)
        )

    def system_rollups(i):
        w = agg["watches"][i].tolist()
        return "".join(
            f"{mids[i]}\t{BUCKET_S}\t{b}\t{counts[j]}\t{mem}\t{avail}\t{float(avail)}\t0\t"
            f"{w[j]}\t65536\t{disk}\t1\n"
            for j, b in enumerate(bucket_times)
        )

    def gopls_rollups(i):
        a = {key: v[i].tolist() for key, v in agg.items()}
        return "".join(
            f"{mids[i]}\t{pids[i]}\t{BUCKET_S}\t{b}\t{counts[j]}\t{a['rss_min'][j]}\t"
            f"{a['rss_avg'][j]}\t{a['rss_max'][j]}\t{a['heap_min'][j]}\t{a['heap_avg'][j]}\t"
            f"{a['heap_max'][j]}\t{a['cpu_avg'][j]}\t{a['cpu_max'][j]}\t{a['cpu_min'][j]}\t"
            f"15\t30\t1024\t{first_t[j]}\t{last_t[j]}\n"
            for j, b in enumerate(bucket_times)
        )

    tables = [
        ("metrics_systemsample", SYSTEM_COLUMNS, system_rows, len(raw_times)),
        ("metrics_goplssample", GOPLS_COLUMNS, gopls_rows, len(raw_times)),
        ("metrics_systemrollup", SYSTEM_ROLLUP_COLUMNS, system_rollups, len(bucket_times)),
        ("metrics_goplsrollup", GOPLS_ROLLUP_COLUMNS, gopls_rollups, len(bucket_times)),
    ]
    rows = {}
    with connection.cursor() as wrapper:
        for table, columns, block, per_machine in tables:
            with wrapper.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n):
                    copy.write(block(i))
            rows[table] = n * per_machine
    raw_rows = rows["metrics_systemsample"] + rows["metrics_goplssample"]
    rollup_rows = rows["metrics_systemrollup"] + rows["metrics_goplsrollup"]
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
