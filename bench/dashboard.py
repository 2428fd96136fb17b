"""Dashboard benchmark: seed a 20,000-machine fleet, print p50/p95 server time and bytes per page.

What is seeded, and why (20,000 machines x 30 days of raw 15 s samples is ~3.5 billion rows,
which no laptop can hold; raw samples are kept 14 days and charts read rollups beyond 6 hours):

* every machine: its Machine row with the `latest` summary the fleet pages read, one live gopls
  lifetime, a project link, and open findings on ~15 % of machines (with 30 days of resolved
  history for the trend chart); then every machine's stored health level is computed, as the
  evaluation pass does (its cost is printed);
* `--sample-machines` machines (default 40): 30 days of samples every `--interval` s
  (default 300 s), with a gopls restart every 3 days, rolled up to 5-minute and 1-hour rollups;
* one "raw" machine: 7 days of raw 15 s samples (40,320 rows per table), also rolled up.

Times are measured in-process with Django's test client (middleware, views, queries,
templates: the server's share of a request, no network), on SQLite unless DATABASE_URL is set.
Each page is measured cold (the cache emptied before every request) and warm (cache kept).

usage: python bench/dashboard.py [--machines 20000] [--days 30] [--repeat 15] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cpu_meter import proc_cpu  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GIB = 1024**3
VERSIONS = ["v0.16.2", "v0.17.1", "v0.18.1", "v0.19.1", "v0.20.0", "v0.21.0", "v0.21.1"]
EDITORS = ["vscode", "vscode-server", "neovim", "cursor", "jetbrains", "emacs"]
RULES = [
    ("gopls_memory_high", "critical"),
    ("inotify_watches", "warning"),
    ("gopls_memory_leak", "warning"),
    ("cache_disk_full", "critical"),
    ("gopls_cpu_busy_idle", "warning"),
    ("gomemlimit_bad_suffix", "critical"),
]


def setup_django(db_path: Path) -> None:
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(db_path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def latest_for(rng: random.Random, version: str, editor: str, project: str, wsl: bool) -> dict:
    rss = int(rng.lognormvariate(20.3, 0.8))  # median ~650 MiB, long tail
    total = rng.choice([16, 32, 64]) * GIB
    return {
        "mem_total_bytes": total,
        "mem_available_bytes": int(total * rng.uniform(0.05, 0.7)),
        "cpu_percent": rng.uniform(1, 60),
        "oom_kill_count": 1 if rng.random() < 0.01 else 0,
        "inotify_watches_used": rng.randint(1000, 120_000),
        "inotify_watches_max": 124_000,
        "inotify_instances_used": rng.randint(1, 40),
        "inotify_instances_max": 128,
        "wsl_mem_total_bytes": total // 2 if wsl else None,
        "disk_free_min_bytes": rng.randint(2, 400) * 10**9,
        "gocache_bytes": rng.randint(1, 20) * GIB,
        "gomodcache_bytes": rng.randint(1, 30) * GIB,
        "gopls_cache_bytes": rng.randint(100, 4000) * 1024**2,
        "gopls_count": 1,
        "gopls_rss_bytes": rss,
        "ts": datetime.now(timezone.utc).isoformat(),
        "gopls": [
            {
                "pid": 1000,
                "rss_bytes": rss,
                "cpu_percent": rng.uniform(0, 30),
                "heap_inuse_bytes": int(rss * 0.6),
                "goroutines": rng.randint(10, 200),
                "version": version,
                "go_version": rng.choice(["go1.22.8", "go1.23.2", "go1.23.4"]),
                "completion_p95_ms": rng.uniform(40, 900),
                "editor": editor,
                "project": project,
            }
        ],
    }


def seed_fleet(n: int, days: int, rng: random.Random) -> None:
    from django.contrib.auth import get_user_model

    from apps.anomalies.models import Finding
    from apps.fleet.models import GoplsProcess, Machine, MachineProject, Membership, Project, Team

    now = datetime.now(timezone.utc)
    User = get_user_model()
    User.objects.create_user("bench-staff", "", "pw", is_staff=True)
    teams = Team.objects.bulk_create(
        [Team(name=f"Team {i:02d}", slug=f"team-{i:02d}") for i in range(20)]
    )
    users = User.objects.bulk_create([User(username=f"dev{i:05d}") for i in range(n // 10)])
    Membership.objects.bulk_create(
        [
            Membership(user=u, team=teams[i % 20], role="lead" if i < 20 else "member")
            for i, u in enumerate(users)
        ]
    )
    projects = Project.objects.bulk_create(
        [
            Project(module_path=f"github.com/acme/service-{i:03d}", slug=f"service-{i:03d}")
            for i in range(200)
        ]
    )
    machines = []
    for i in range(n):
        wsl = rng.random() < 0.25
        version, editor = rng.choice(VERSIONS), rng.choice(EDITORS)
        project = projects[int(rng.paretovariate(1.2)) % 200]
        m = Machine(
            machine_id=f"bench-{i:06d}",
            hostname=f"host-{i:06d}",
            os="linux" if wsl or rng.random() < 0.6 else rng.choice(["darwin", "windows"]),
            wsl_version=2 if wsl else None,
            team=teams[i % 20],
            owner=users[i // 10],
            cpu_count=8,
            mem_total_bytes=32 * GIB,
            last_seen=now,
            latest=latest_for(rng, version, editor, project.module_path, wsl),
        )
        m._bench = (version, editor, project)
        machines.append(m)
    Machine.objects.bulk_create(machines, batch_size=2000)
    MachineProject.objects.bulk_create(
        [MachineProject(machine=m, project=m._bench[2]) for m in machines], batch_size=5000
    )
    GoplsProcess.objects.bulk_create(
        [
            GoplsProcess(
                machine=m,
                pid=1000,
                start_time=now - timedelta(hours=5),
                version=v,
                go_version="go1.23.2",
                editor=e,
                project=p,
                first_seen=now - timedelta(hours=5),
                last_seen=now,
            )
            for m in machines
            for v, e, p in [m._bench]
        ],
        batch_size=5000,
    )
    findings = []
    for m in rng.sample(machines, n * 15 // 100):
        for rule_id, severity in rng.sample(RULES, rng.randint(1, 2)):
            first = now - timedelta(hours=rng.uniform(1, 24 * days))
            findings.append(
                Finding(
                    machine=m,
                    rule_id=rule_id,
                    severity=severity,
                    title=rule_id,
                    subject="machine",
                    first_seen=first,
                    last_seen=now,
                    evidence={"window": [first.timestamp(), now.timestamp()]},
                )
            )
    for m in rng.sample(machines, n // 10):  # resolved history for the trend
        first = now - timedelta(days=rng.uniform(1, days))
        findings.append(
            Finding(
                machine=m,
                rule_id=RULES[1][0],
                subject="old",
                severity="warning",
                state="resolved",
                title="old",
                first_seen=first,
                last_seen=first + timedelta(hours=6),
                resolved_at=first + timedelta(hours=8),
            )
        )
    Finding.objects.bulk_create(findings, batch_size=5000)


def seed_samples(machine, days: float, interval_s: int, rng: random.Random) -> int:
    """Samples for one machine (a gopls restart every 3 days), bulk-inserted; returns rows."""
    from apps.fleet.models import GoplsProcess
    from apps.metrics.models import GoplsSample, SystemSample

    now = datetime.now(timezone.utc)
    start = now - timedelta(days=days)
    steps = int(days * 86400 / interval_s)
    lifetimes: dict[int, GoplsProcess] = {}
    system, gopls = [], []
    for i in range(steps):
        t = start + timedelta(seconds=i * interval_s)
        life = int((t - start).total_seconds() // (3 * 86400))
        if life not in lifetimes:
            lifetimes[life] = GoplsProcess.objects.create(
                machine=machine,
                pid=20000 + life,
                start_time=t,
                version="v0.21.0",
                first_seen=t,
                last_seen=t + timedelta(days=3),
            )
        age = (t - lifetimes[life].start_time).total_seconds() / 86400
        rss = int((0.8 + 0.4 * age + rng.uniform(-0.1, 0.1)) * GIB)
        system.append(
            SystemSample(
                machine=machine,
                sample_uid=f"b{i}",
                collected_at=t,
                ts=t,
                received_at=t,
                mem_total_bytes=32 * GIB,
                mem_available_bytes=int(rng.uniform(8, 20) * GIB),
                mem_cached_bytes=6 * GIB,
                cpu_percent=rng.uniform(2, 50),
                inotify_watches_used=40_000 + i % 5000,
                inotify_watches_max=124_000,
                disk_free_min_bytes=90 * 10**9,
                gocache_bytes=5 * GIB,
                gomodcache_bytes=9 * GIB,
                gopls_cache_bytes=GIB,
                gopls_count=1,
                gopls_rss_bytes=rss,
            )
        )
        gopls.append(
            GoplsSample(
                machine=machine,
                process=lifetimes[life],
                collected_at=t,
                ts=t,
                rss_bytes=rss,
                heap_inuse_bytes=int(rss * 0.6),
                cpu_percent=rng.uniform(0, 20),
                goroutines=rng.randint(40, 90),
                completion_p95_ms=rng.uniform(80, 400),
            )
        )
    SystemSample.objects.bulk_create(system, batch_size=5000)
    GoplsSample.objects.bulk_create(gopls, batch_size=5000)
    return 2 * steps


def backend() -> int | None:
    """PID of this connection's PostgreSQL backend when it runs on this host, else None.

    Parallel query is turned off for the session so that all of a query's work is done (and
    its CPU time counted) in that one backend; on 2 shared cores it saves no CPU anyway."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def cpu_ms(pid: int | None) -> float:
    """CPU time (user + system) of a process so far, in ms; 0 without a process."""
    return 0.0 if pid is None else proc_cpu(pid) * 1000


def measure(client, url: str, repeat: int, cold: bool) -> tuple[float, float, float, int]:
    """(p50 ms, p95 ms, p50 CPU ms, bytes) of GET url; `cold` empties the cache first.

    The CPU figure is what the request cost in CPU time, this process (views, ORM, templates)
    plus its PostgreSQL backend (queries): what it would take on an idle machine, whatever
    the other load on this one does to the wall time."""
    from django.core.cache import cache

    times, cpu, size = [], [], 0
    client.get(url)  # fill the cache, open the connection
    pid = backend()
    for _ in range(repeat):
        if cold:
            cache.clear()
        t0, c0, d0 = time.perf_counter(), time.process_time(), cpu_ms(pid)
        response = client.get(url)
        elapsed = (time.perf_counter() - t0) * 1000
        cpu.append((time.process_time() - c0) * 1000 + cpu_ms(pid) - d0)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        size = len(response.content)
        times.append(elapsed)
    if pid is not None and backend() != pid:
        raise SystemExit("the database connection changed during the measurement")
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, statistics.median(cpu), size


def roll_up(machine_pks: list[int], days: float) -> None:
    from apps.metrics.rollups import roll_up_hours, roll_up_raw

    now = datetime.now(timezone.utc)
    roll_up_raw(now - timedelta(days=days + 1), now, machine_pks)
    roll_up_hours(now - timedelta(days=days + 1), now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sample-machines", type=int, default=40)
    parser.add_argument("--interval", type=int, default=300)
    parser.add_argument("--raw-days", type=float, default=7)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", default=str(ROOT / "var" / "bench-dashboard.sqlite3"))
    parser.add_argument("--reuse", action="store_true", help="Keep an already seeded database.")
    args = parser.parse_args()
    db = Path(args.db)
    if not args.reuse and db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    setup_django(db)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from apps.fleet.models import Machine

    rng = random.Random(5)
    call_command("migrate", verbosity=0)
    if not Machine.objects.exists():
        t0 = time.perf_counter()
        seed_fleet(args.machines, args.days, rng)
        rows = sum(
            seed_samples(m, args.days, args.interval, rng)
            for m in Machine.objects.order_by("pk")[: args.sample_machines]
        )
        raw = Machine.objects.order_by("-pk").first()
        rows += seed_samples(raw, args.raw_days, 15, rng)
        print(
            f"seeded {args.machines} machines, {rows:,} sample rows "
            f"in {time.perf_counter() - t0:.0f} s"
        )
    from apps.metrics.models import SystemRollup

    if not SystemRollup.objects.exists():
        t0 = time.perf_counter()
        sampled = Machine.objects.order_by("pk").values_list("pk", flat=True)
        sampled = list(sampled[: args.sample_machines])
        roll_up([*sampled, Machine.objects.order_by("-pk").first().pk], args.days)
        print(f"rolled up in {time.perf_counter() - t0:.1f} s")
    from apps.anomalies.machine_health import refresh_health
    from apps.fleet.models import GoplsProcess

    # The fleet is live: every machine and its gopls reported just now (as agents keep doing).
    live = datetime.now(timezone.utc)
    Machine.objects.update(last_seen=live)
    GoplsProcess.objects.filter(last_seen__gte=live - timedelta(days=1)).update(last_seen=live)

    t0 = time.perf_counter()
    changed = refresh_health(list(Machine.objects.values_list("pk", flat=True)))
    print(
        f"stored health of {Machine.objects.count():,} machines refreshed in "
        f"{time.perf_counter() - t0:.1f} s ({changed:,} changed): the evaluation pass's share"
    )
    if connection.vendor == "postgresql":  # what autovacuum does to a live database
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    coarse = Machine.objects.order_by("pk").first()
    raw = Machine.objects.order_by("-pk").first()
    staff, dev = Client(), Client()
    staff.login(username="bench-staff", password="pw")
    from django.contrib.auth import get_user_model

    dev.force_login(get_user_model().objects.get(username="dev00042"))
    m, r = f"/machines/{coarse.machine_id}/", f"/machines/{raw.machine_id}/"
    pages = [
        ("fleet overview (staff)", staff, "/"),
        ("fleet overview (developer)", dev, "/"),
        ("fleet, filtered by team", staff, "/?team=team-03"),
        ("fleet, critical only", staff, "/?health=critical"),
        ("machine list, critical", staff, "/machines/?health=critical"),
        ("machine page", staff, m + "?range=30d"),
        ("chart memory 24h (5-min rollups)", staff, m + "charts/memory/?range=24h"),
        ("chart memory 30d (1-h rollups)", staff, m + "charts/memory/?range=30d"),
        ("chart sysmem 30d (1-h rollups)", staff, m + "charts/sysmem/?range=30d"),
        ("chart memory 6h (raw 15 s)", staff, r + "charts/memory/?range=6h"),
        ("chart memory 7d (5-min, 15 s raw)", staff, r + "charts/memory/?range=7d"),
        ("chart sysmem 7d (5-min, 15 s raw)", staff, r + "charts/sysmem/?range=7d"),
        ("findings", staff, "/findings/"),
        ("versions", staff, "/versions/"),
        ("project (largest, ~55% of fleet)", staff, "/projects/service-001/"),
        ("project (developer)", dev, "/projects/service-001/"),
        ("me (developer)", dev, "/me/"),
    ]
    load = os.getloadavg()
    cores = os.cpu_count()
    print(f"\nload average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({cores} cores)")
    print(
        f"\n{'page':36} {'cold p50':>8} {'cold p95':>8} {'cold cpu':>8} {'warm p50':>8} "
        f"{'warm p95':>8} {'bytes':>10}"
    )
    for name, client, url in pages:
        c50, c95, ccpu, size = measure(client, url, args.repeat, cold=True)
        w50, w95, _, _ = measure(client, url, args.repeat, cold=False)
        print(f"{name:36} {c50:8.0f} {c95:8.0f} {ccpu:8.0f} {w50:8.0f} {w95:8.0f} {size:10,}")
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(
        "\nms of server time per request (wall clock). 'cold cpu': CPU time of a cold request,"
        "\nDjango process plus its PostgreSQL backend (parallel query off), i.e. its cost on an"
        "\nidle machine. Cold: the cache is emptied before every request (the"
        "\nfleet aggregates are then recomputed with GROUP BYs on the stored health level); warm:"
        "\nthe fleet aggregates come from the 30 s cache (DASHBOARD_FLEET_CACHE_S)."
    )
    print(
        "Chart endpoints are fetched by the machine page after it loads; a machine page view"
        "\ncosts the page plus its 7 charts. plotly.min.js (~4.7 MB, cached) is not counted."
    )


if __name__ == "__main__":
    main()
