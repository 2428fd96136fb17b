"""Bytes on disk per sample: raw system and gopls samples and their 5-minute and 1-hour rollups,
before and after compaction (raw samples into hourly chunks, rollups into rollup chunks).

Generates a realistic fleet day (apps/simulator traces: machines with one to several gopls
processes, injected problems, detail JSON) and stores it the way ingest does, through
apps/metrics/writer.py, into daily partitions; then builds the rollups with apps/metrics/
rollups.py, measures each table with everything it owns: on PostgreSQL
pg_total_relation_size (heap, indexes, TOAST) summed over the partitions, on SQLite the pages
dbstat counts for the table and its indexes. Prints bytes per row and the disk a fleet of
1,000 and 50,000 machines needs under the default retention (RETENTION_* in settings).

Then compacts the raw tier and the rollup tiers (apps/metrics/chunks/) and prints chunk bytes
per sample and per rollup bucket, per-tier MiB per machine under the default retention in the
steady state (recent periods stay rows: on average 1.5 days of 5-minute and 4.5 days of 1-hour
rollups; a rollup chunk outlives its tier's limit by half a period on average), the total for
50,000 machines, and bytes per sample across all tiers. A study encodes full periods of
rollups (several machines' days laid end to end) to compare period lengths. The fleet's day
ends at UTC midnight, so every machine's 5-minute rollups fill exactly one daily chunk.

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


def period_study() -> dict:
    """Blob bytes per bucket of rollup chunks holding 1, 7 or 30 days: machines' days laid
    end to end as if they were one machine's consecutive days (zlib over a longer period)."""
    from apps.metrics.chunks.rollup_store import models_for
    from apps.metrics.chunks.store import encode_rows

    out = {}
    for per_process in (False, True):
        rollup, _, spec = models_for(per_process)
        names = [n for n, _ in spec]
        b = names.index("bucket")
        for resolution in (300, 3600):
            by_machine: dict[int, list] = {}
            for machine_pk, *row in rollup.objects.filter(resolution=resolution).values_list(
                "machine_id", *names
            ):
                by_machine.setdefault(machine_pk, []).append(row)
            days = [sorted(rows, key=lambda r: (r[0], r[b])) for rows in by_machine.values()]
            for span in (1, 7, 30):
                if len(days) < span:
                    continue
                total = buckets = 0
                for first in range(0, len(days) - span + 1, span):
                    rows = []
                    for i, day in enumerate(days[first : first + span]):
                        shift = timedelta(days=i)
                        rows += [(*r[:b], r[b] + shift, *r[b + 1 :]) for r in day]
                    total += len(encode_rows(rows, spec))
                    buckets += len(rows)
                kind = "gopls" if per_process else "system"
                out[(kind, resolution, span)] = total / buckets
    return out


def compact_rollups_all(end: datetime) -> tuple[dict, float]:
    """Compact every rollup period (all have ended a week after `end`), then reclaim the
    space of the deleted rows."""
    from django.db import connection

    from apps.metrics.chunks.rollup_store import compact_rollups

    started = time.monotonic()
    done = compact_rollups(end + timedelta(days=8), timedelta(hours=1))
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("metrics_systemrollup", "metrics_goplsrollup"):
                cursor.execute(f"VACUUM FULL {table}")
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("VACUUM")
    return done, seconds


def _data_bytes(table: str, resolution: int | None = None) -> int:
    from django.db import connection

    length = "octet_length" if connection.vendor == "postgresql" else "length"
    where = "" if resolution is None else f" WHERE resolution = {resolution}"
    return count(f"SELECT COALESCE(SUM({length}(data)), 0) FROM {table}{where}")


def row_overhead(table: str, copies: int = 40) -> float:
    """On-disk bytes a chunk row costs besides its blob (tuple, TOAST chunks, index entries),
    measured at scale: the table's growth when its rows are copied `copies` times (to other
    periods), per copied row, less the blobs' bytes. A few dozen machines' tables are mostly
    the fixed pages any table has; this is what each further row adds."""
    from django.db import connection

    rows = count(f"SELECT count(*) FROM {table}")
    if not rows:
        return 0.0
    blob = _data_bytes(table) / rows
    before = table_bytes(table)
    with connection.cursor() as cursor:
        for k in range(1, copies + 1):
            if connection.vendor == "postgresql":
                shifted = f"start + INTERVAL '{400 * k} days'"
            else:
                shifted = f"datetime(start, '+{400 * k} days')"
            cursor.execute(
                f"INSERT INTO {table} (machine_id, resolution, start, n, data) "
                f"SELECT machine_id, resolution, {shifted}, n, data FROM {table} "
                f"WHERE start < %s",
                [
                    connection.ops.adapt_datetimefield_value(
                        datetime.now(timezone.utc) + timedelta(days=300)
                    )
                ],
            )
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM ANALYZE {table}")
    grown = (table_bytes(table) - before) / (rows * copies)
    return grown - blob


def measure_rollup_chunks(m: dict, c: dict, study: dict, machines: int, hours: float) -> dict:
    """Per-tier bytes per machine under the default retention once rollups are compacted:
    per bucket, a full period's blob bytes (from the study) plus the measured per-row
    overhead spread over a full period's buckets."""
    machine_days = machines * hours / 24
    retention = m["retention_days"]
    # Steady state: rows of recent periods (see the module docstring), chunks for the rest
    # plus half a period past the limit (a chunk goes once its whole period is past it).
    rows_days = {"5m": 1.5, "1h": 4.5}
    slack_days = {"5m": 0.5, "1h": 3.5}
    span = {"5m": 1, "1h": 7}  # PERIODS in apps/metrics/chunks/rollup_store.py, in days
    overhead = {kind: row_overhead(f"metrics_{kind}rollupchunk") for kind in ("system", "gopls")}
    per_bucket, per_machine_day, retained = {}, {}, {}
    for label, resolution in (("5m", 300), ("1h", 3600)):
        name = "5-minute" if label == "5m" else "1-hour"
        day = 0.0
        for kind in ("system", "gopls"):
            buckets_day = m["rows"][f"{name} {kind} rollup"] / machine_days
            per_chunk = buckets_day * span[label]
            blob = study.get((kind, resolution, span[label]))
            if blob is None:  # too few machines to lay a full period end to end
                blob = study[(kind, resolution, 1)]
            cost = blob + overhead[kind] / per_chunk
            per_bucket[f"{name} {kind}"] = cost
            day += cost * buckets_day
        per_machine_day[label] = day
        row_day = m["per_machine_day"][label]
        retained[label] = row_day * rows_days[label] + day * (
            retention[label] - rows_days[label] + slack_days[label]
        )
    all_tiers = dict(raw=c["per_machine_retained"]["raw"], **retained)
    samples_retained = m["rows"]["raw system sample"] / machine_days * retention["raw"]
    return {
        "per_bucket": per_bucket,
        "overhead": overhead,
        "chunk_per_machine_day": per_machine_day,
        "per_machine_retained": all_tiers,
        "per_sample_all_tiers": sum(all_tiers.values()) / samples_retained,
    }


def report_rollups(r: dict, study: dict, done: dict, seconds: float) -> None:
    rate = done["rows"] / max(seconds, 1e-9)
    print(f"\n== after rollup compaction: {done['periods']:,} machine periods, {done['rows']:,} "
          f"rollup rows in {seconds:.1f} s ({rate:,.0f} rows/s)")  # fmt: skip
    print("  per-row overhead of a rollup chunk (tuple, TOAST, indexes; measured at scale): "
          + ", ".join(f"{k} {v:,.0f} B" for k, v in r["overhead"].items()))  # fmt: skip
    for name, value in r["per_bucket"].items():
        print(f"  rollup chunk bytes per {name:16} bucket {value:8,.1f} (full period)")
    print("  zlib blob bytes per bucket for chunks of 1 / 7 / 30 days (days laid end to end):")
    for kind in ("system", "gopls"):
        for resolution, label in ((300, "5-minute"), (3600, "1-hour")):
            sizes = [study.get((kind, resolution, span)) for span in (1, 7, 30)]
            print(f"    {kind:6} {label:8} "
                  + " / ".join("-" if v is None else f"{v:6,.1f}" for v in sizes))  # fmt: skip
    per = r["per_machine_retained"]
    total = sum(per.values())
    mib = 1024 * 1024
    print("  retained per machine (raw chunks 14 d, 5-minute 90 d, 1-hour 730 d): "
          + ", ".join(f"{k} {v / mib:,.2f} MiB" for k, v in per.items())
          + f"; total {total / mib:,.2f} MiB")  # fmt: skip
    for fleet in PROJECTED_FLEETS:
        print(f"  projected for {fleet:,} machines: {human(total * fleet)}")
    print(
        f"  bytes per sample across all tiers: {r['per_sample_all_tiers']:,.0f} "
        f"(target <= 300: {'met' if r['per_sample_all_tiers'] <= 300 else 'NOT met'})"
    )


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
            end = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            started = time.monotonic()
            counts = store_fleet(args.machines, args.hours, args.seed, end)
            roll_up(end - timedelta(hours=args.hours), end)
            seconds = time.monotonic() - started
            print(f"stored {counts['system']:,} system and {counts['gopls']:,} gopls samples")
            m = measure(args.machines, args.hours)
            report(m, args.machines, args.hours, seconds)
            done, seconds = compact_all(end)
            c = measure_compacted(m, args.machines, args.hours)
            report_compacted(c, done, seconds)
            study = period_study()
            done, seconds = compact_rollups_all(end)
            left = count("SELECT count(*) FROM metrics_systemrollup") + count(
                "SELECT count(*) FROM metrics_goplsrollup"
            )
            print(f"  rollup rows left after rollup compaction: {left}")
            r = measure_rollup_chunks(m, c, study, args.machines, args.hours)
            report_rollups(r, study, done, seconds)
        finally:
            from django.db import connections

            connections.close_all()
            if cluster:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
