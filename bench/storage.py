"""Bytes on disk per sample: raw system and gopls samples and their 5-minute and 1-hour rollups.

Generates a realistic fleet day (apps/simulator traces: machines with one to several gopls
processes, injected problems, detail JSON) and stores it the way ingest does, through
apps/metrics/writer.py, into daily partitions; then builds the rollups with apps/metrics/
rollups.py, measures each table with everything it owns: on PostgreSQL
pg_total_relation_size (heap, indexes, TOAST) summed over the partitions, on SQLite the pages
dbstat counts for the table and its indexes. Prints bytes per row and the disk a fleet of
1,000 and 50,000 machines needs under the default retention (RETENTION_* in settings).

PostgreSQL runs in a private cluster (initdb, free port) unless --database-url is given; the
database is created afresh either way.

usage: python bench/storage.py [--machines 200] [--hours 24] [--sqlite] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
PROJECTED_FLEETS = (1_000, 50_000)


def configure(args, work: Path) -> object | None:
    """Point Django at the database to measure; returns the private cluster to stop, if any."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEVFLEET_VAR_DIR"] = str(work / "var")
    os.environ.pop("REDIS_URL", None)
    cluster = None
    if args.sqlite:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = str(work / "storage.sqlite3")
    elif args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
        recreate(args.database_url)
    else:
        from soak_services import PrivatePostgres, free_port

        cluster = PrivatePostgres(work / "pg", free_port())
        cluster.start()
        os.environ["DATABASE_URL"] = cluster.url("devfleet")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return cluster


def recreate(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def store_fleet(machines: int, hours: float, seed: int, end: datetime) -> dict[str, int]:
    """Generate and store every machine's samples, a few hours at a time, as ingest does."""
    from apps.common.timestamps import parse_timestamp
    from apps.fleet.recording import resolve_processes
    from apps.ingest.services import lifetime_start
    from apps.metrics.columns import gopls_row, system_row
    from apps.metrics.partitions import ensure_partitions
    from apps.metrics.writer import insert_gopls_samples, insert_system_samples
    from apps.simulator.reports import MachineSim
    from apps.simulator.runner import RunConfig, enroll_all

    start = end - timedelta(hours=hours)
    day = start.date()
    while day <= end.date():
        ensure_partitions(day, days_back=0, days_ahead=0)
        day += timedelta(days=1)
    cfg = RunConfig(machines=machines, hours=hours, seed=seed, end=end.timestamp())
    specs = cfg.fleet()
    enrolled = enroll_all(specs)
    counts = {"system": 0, "gopls": 0}
    started = time.monotonic()
    for n, spec in enumerate(specs, 1):
        machine = enrolled[spec.machine_id]
        sim = MachineSim(spec, cfg.interval)
        t = cfg.start
        while t < cfg.end:
            hi = min(cfg.end, t + 6 * 3600)
            samples = sim.samples(t, hi)
            t = hi
            received = datetime.fromtimestamp(hi, tz=timezone.utc)
            rows, by_uid = [], {}
            for sample in samples:
                columns, detail = system_row(sample)
                collected = parse_timestamp(sample["collected_at"])
                columns.update(
                    machine_id=machine.pk, sample_uid=sample["id"], collected_at=collected,
                    ts=collected, received_at=received, clock_skew_s=None, detail=detail,
                )  # fmt: skip
                rows.append(columns)
                by_uid[sample["id"]] = (sample, collected)
            new = insert_system_samples(rows)
            entries = [
                (proc, lifetime_start(proc), ts)
                for uid in new
                for sample, ts in [by_uid[uid]]
                for proc in sample.get("gopls") or []
            ]
            lifetimes = resolve_processes(machine, entries) if entries else {}
            gopls = []
            for proc, life, ts in entries:
                columns, detail = gopls_row(proc)
                columns.update(
                    machine_id=machine.pk, process_id=lifetimes[(proc["pid"], life)],
                    collected_at=ts, ts=ts, detail=detail,
                )  # fmt: skip
                gopls.append(columns)
            insert_gopls_samples(gopls)
            counts["system"] += len(new)
            counts["gopls"] += len(gopls)
        if n % 20 == 0 or n == len(specs):
            rate = counts["system"] / (time.monotonic() - started)
            print(f"  {n}/{len(specs)} machines, {counts['system']:,} samples "
                  f"({rate:,.0f}/s)", flush=True)  # fmt: skip
    return counts


def roll_up(start: datetime, end: datetime) -> None:
    from apps.metrics.rollups import roll_up_hours, roll_up_raw

    t = start
    while t < end:  # a few hours per statement, as the range tasks do
        roll_up_raw(t, min(end, t + timedelta(hours=4)))
        t += timedelta(hours=4)
    roll_up_hours(start, end)


def table_bytes(table: str) -> int:
    """Everything the table owns on disk: partitions, indexes and TOAST (PostgreSQL), or the
    pages of the table and its indexes (SQLite)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(  # a plain table has no partition tree: its own size
                "SELECT COALESCE((SELECT SUM(pg_total_relation_size(relid)) "
                "FROM pg_partition_tree(%s::regclass)), pg_total_relation_size(%s::regclass))",
                [table, table],
            )
        else:
            cursor.execute(
                "SELECT COALESCE(SUM(d.pgsize), 0) FROM dbstat d JOIN sqlite_master m "
                "ON m.name = d.name WHERE m.tbl_name = %s",
                [table],
            )
        return int(cursor.fetchone()[0])


def count(sql: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def measure(machines: int, hours: float) -> dict:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # visibility maps and statistics, as autovacuum
    rows = {
        "raw system sample": count("SELECT count(*) FROM metrics_systemsample"),
        "raw gopls sample": count("SELECT count(*) FROM metrics_goplssample"),
    }
    for res, name in ((300, "5-minute"), (3600, "1-hour")):
        rows[f"{name} system rollup"] = count(
            f"SELECT count(*) FROM metrics_systemrollup WHERE resolution = {res}"
        )
        rows[f"{name} gopls rollup"] = count(
            f"SELECT count(*) FROM metrics_goplsrollup WHERE resolution = {res}"
        )
    size = {
        "raw system sample": table_bytes("metrics_systemsample"),
        "raw gopls sample": table_bytes("metrics_goplssample"),
        "system rollup": table_bytes("metrics_systemrollup"),
        "gopls rollup": table_bytes("metrics_goplsrollup"),
    }
    per_row = {
        "raw system sample": size["raw system sample"] / rows["raw system sample"],
        "raw gopls sample": size["raw gopls sample"] / rows["raw gopls sample"],
    }
    for kind in ("system", "gopls"):
        both = rows[f"5-minute {kind} rollup"] + rows[f"1-hour {kind} rollup"]
        per_row[f"{kind} rollup (5 min or 1 h)"] = size[f"{kind} rollup"] / both
    machine_days = machines * hours / 24
    per_machine_day = {
        "raw": size["raw system sample"] + size["raw gopls sample"],
        "5m": sum(rows[f"5-minute {k} rollup"] * per_row[f"{k} rollup (5 min or 1 h)"]
                  for k in ("system", "gopls")),
        "1h": sum(rows[f"1-hour {k} rollup"] * per_row[f"{k} rollup (5 min or 1 h)"]
                  for k in ("system", "gopls")),
    }  # fmt: skip
    per_machine_day = {k: v / machine_days for k, v in per_machine_day.items()}
    retention = {
        "raw": settings.RETENTION_RAW_DAYS,
        "5m": settings.RETENTION_5M_DAYS,
        "1h": settings.RETENTION_1H_DAYS,
    }
    per_machine = {k: per_machine_day[k] * retention[k] for k in retention}
    return {
        "vendor": connection.vendor,
        "rows": rows,
        "bytes": size,
        "per_row": per_row,
        "gopls_per_sample": rows["raw gopls sample"] / rows["raw system sample"],
        "per_machine_day": per_machine_day,
        "retention_days": retention,
        "per_machine_retained": per_machine,
    }


def compact_all(end: datetime) -> tuple[dict, float]:
    """Compact every stored hour and reclaim the space the deleted raw rows held."""
    from django.conf import settings
    from django.db import connection

    from apps.metrics.chunks.store import compact

    started = time.monotonic()
    done = compact(end + timedelta(hours=settings.COMPACT_AFTER_HOURS + 1), timedelta(hours=1))
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("metrics_systemsample", "metrics_goplssample"):
                parts = "SELECT relid::regclass::text FROM pg_partition_tree(%s::regclass)"
                cursor.execute(parts, [table])
                for (name,) in cursor.fetchall():
                    cursor.execute(f"VACUUM FULL {name}")
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("VACUUM")
    return done, seconds


def measure_compacted(m: dict, machines: int, hours: float) -> dict:
    """Bytes per sample after compaction: chunks replace the raw tier, rollups are as before."""
    system = table_bytes("metrics_systemchunk")
    gopls = table_bytes("metrics_goplschunk")
    left = table_bytes("metrics_systemsample") + table_bytes("metrics_goplssample")
    samples = m["rows"]["raw system sample"]
    machine_days = machines * hours / 24
    raw_day = (system + gopls + left) / machine_days
    retained = dict(m["per_machine_retained"], raw=raw_day * m["retention_days"]["raw"])
    samples_retained = samples / machine_days * m["retention_days"]["raw"]
    before = sum(m["per_machine_retained"].values()) / samples_retained
    return {
        "chunk bytes per system sample": system / samples,
        "chunk bytes per gopls sample": gopls / m["rows"]["raw gopls sample"],
        "raw tables left": left,
        "per_machine_retained": retained,
        "per_sample_all_tiers_before": before,
        "per_sample_all_tiers": sum(retained.values()) / samples_retained,
    }


def report_compacted(c: dict, done: dict, seconds: float) -> None:
    print(f"\n== after compaction: {done['hours']:,} machine hours, {done['rows']:,} raw rows "
          f"in {seconds:.0f} s ({done['rows'] / max(seconds, 1e-9):,.0f} rows/s)")  # fmt: skip
    print(f"  chunk bytes per system sample {c['chunk bytes per system sample']:8,.1f}")
    print(f"  chunk bytes per gopls sample  {c['chunk bytes per gopls sample']:8,.1f}")
    print(f"  raw tables left after VACUUM   {human(c['raw tables left'])}")
    total = sum(c["per_machine_retained"].values())
    print("  retained per machine: "
          + ", ".join(f"{k} {human(v)}" for k, v in c["per_machine_retained"].items())
          + f"; total {human(total)}")  # fmt: skip
    for fleet in PROJECTED_FLEETS:
        print(f"  projected for {fleet:,} machines: {human(total * fleet)}")
    print(f"  bytes per sample across all tiers: {c['per_sample_all_tiers_before']:,.0f} before, "
          f"{c['per_sample_all_tiers']:,.0f} after compaction (target <= 300)")  # fmt: skip


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return str(n)


def report(m: dict, machines: int, hours: float, seconds: float) -> None:
    print(f"\n== bytes on disk ({m['vendor']}): {machines} machines x {hours:g} h at 15 s, "
          f"{m['rows']['raw system sample']:,} samples, {m['gopls_per_sample']:.2f} gopls "
          f"processes per sample (stored in {seconds:.0f} s)")  # fmt: skip
    owned = "heap, indexes, TOAST" if m["vendor"] == "postgresql" else "table and its indexes"
    for name, value in m["per_row"].items():
        print(f"  {name:30} {value:8,.0f} bytes per row ({owned})")
    for name, n in m["rows"].items():
        print(f"  rows: {name:28} {n:>12,}")
    print("  per machine and day: "
          + ", ".join(f"{k} {human(v)}" for k, v in m["per_machine_day"].items()))  # fmt: skip
    r = m["retention_days"]
    total = sum(m["per_machine_retained"].values())
    print(f"  retained per machine (raw {r['raw']} d, 5-minute {r['5m']} d, 1-hour {r['1h']} d): "
          + ", ".join(f"{k} {human(v)}" for k, v in m["per_machine_retained"].items())
          + f"; total {human(total)}")  # fmt: skip
    for fleet in PROJECTED_FLEETS:
        parts = ", ".join(f"{k} {human(v * fleet)}" for k, v in m["per_machine_retained"].items())
        print(f"  projected for {fleet:,} machines: {human(total * fleet)} ({parts})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="measure SQLite instead")
    parser.add_argument("--database-url", help="a PostgreSQL database to recreate and use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devfleet-storage-") as tmp:
        work = Path(tmp)
        cluster = configure(args, work)
        try:
            end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
            started = time.monotonic()
            counts = store_fleet(args.machines, args.hours, args.seed, end)
            roll_up(end - timedelta(hours=args.hours), end)
            seconds = time.monotonic() - started
            print(f"stored {counts['system']:,} system and {counts['gopls']:,} gopls samples")
            m = measure(args.machines, args.hours)
            report(m, args.machines, args.hours, seconds)
            done, seconds = compact_all(end)
            report_compacted(measure_compacted(m, args.machines, args.hours), done, seconds)
        finally:
            from django.db import connections

            connections.close_all()
            if cluster:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
