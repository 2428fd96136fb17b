"""PostgreSQL range partitions of the raw sample tables: one per UTC day, plus a default.

Raw samples are partitioned by `collected_at` (the agent's clock, part of a sample's
identity), so retention drops whole partitions instead of deleting rows, and a day's inserts
touch one small set of indexes. A DEFAULT partition catches samples far outside the prepared
days (a badly skewed clock) so nothing is ever refused; creating a day's partition first moves
that day's rows out of the default. On SQLite these functions do nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from django.db import connection, transaction

PARTITIONED_TABLES = ("metrics_systemsample", "metrics_goplssample")
DAYS_AHEAD = 3


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def existing_partitions(table: str) -> dict[str, tuple[datetime, datetime] | None]:
    """{partition name: (from, to)} (None for the default partition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s",
            [table],
        )
        rows = cursor.fetchall()
    out: dict[str, tuple[datetime, datetime] | None] = {}
    for name, bound in rows:
        if bound == "DEFAULT":
            out[name] = None
            continue
        stamp = name.rsplit("_p", 1)[1]
        day = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
        out[name] = _bounds(day)
    return out


def ensure_partitions(today: date, days_back: int = 1, days_ahead: int = DAYS_AHEAD) -> list[str]:
    """Create the daily partitions from today-days_back to today+days_ahead; returns new names."""
    if not is_partitioned():
        return []
    created = []
    for table in PARTITIONED_TABLES:
        have = existing_partitions(table)
        for offset in range(-days_back, days_ahead + 1):
            day = today + timedelta(days=offset)
            name = partition_name(table, day)
            if name not in have:
                _create_day(table, name, day)
                created.append(name)
    return created


@transaction.atomic
def _create_day(table: str, name: str, day: date) -> None:
    start, end = _bounds(day)
    default = f"{table}_default"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        # Rows of that day that landed in the default partition move first, or ATTACH fails.
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE collected_at >= %s AND collected_at < %s "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )


def drop_partitions_before(cutoff: datetime) -> list[str]:
    """Drop every daily partition that ends at or before cutoff; returns the dropped names."""
    if not is_partitioned():
        return []
    dropped = []
    for table in PARTITIONED_TABLES:
        for name, bounds in existing_partitions(table).items():
            if bounds is not None and bounds[1] <= cutoff:
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE {name}")
                dropped.append(name)
    return dropped


def convert_to_partitioned(schema_editor) -> None:
    """Migration step: rebuild the raw tables as partitioned tables, keeping their rows."""
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    today = datetime.now(timezone.utc).date()
    for table in PARTITIONED_TABLES:
        old = f"{table}_unpartitioned"
        run(f"ALTER TABLE {table} RENAME TO {old}")
        run(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY) "
            "PARTITION BY RANGE (collected_at)"
        )
        # The primary key and unique keys of a partitioned table must include the partition key.
        run(f"ALTER TABLE {table} ADD PRIMARY KEY (id, collected_at)")
        run(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        for offset in range(-1, DAYS_AHEAD + 1):
            day = today + timedelta(days=offset)
            start, end = _bounds(day)
            run(
                f"CREATE TABLE {partition_name(table, day)} PARTITION OF {table} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        run(f"INSERT INTO {table} SELECT * FROM {old}")
        run(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )
        run(f"DROP TABLE {old} CASCADE")
        run(
            f"ALTER TABLE {table} ADD FOREIGN KEY (machine_id) REFERENCES fleet_machine (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )
    run(
        "ALTER TABLE metrics_systemsample ADD CONSTRAINT uniq_system_sample "
        "UNIQUE (machine_id, sample_uid, collected_at)"
    )
    run("CREATE INDEX system_sample_machine_ts ON metrics_systemsample (machine_id, ts)")
    run(
        "ALTER TABLE metrics_goplssample ADD FOREIGN KEY (process_id) "
        "REFERENCES fleet_goplsprocess (id) DEFERRABLE INITIALLY DEFERRED"
    )
    run("CREATE INDEX gopls_sample_process_ts ON metrics_goplssample (process_id, ts)")
    run("CREATE INDEX gopls_sample_machine_ts ON metrics_goplssample (machine_id, ts)")
