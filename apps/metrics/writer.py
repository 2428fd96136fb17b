"""Bulk writes of samples: insert-if-new on (machine, sample id, collected_at), in one statement."""

from __future__ import annotations

import functools
from datetime import datetime

import orjson
from django.db import connection

from apps.metrics.models import GoplsSample, SystemSample

SYSTEM_FIELDS = [f.column for f in SystemSample._meta.concrete_fields if f.column != "id"]
GOPLS_FIELDS = [f.column for f in GoplsSample._meta.concrete_fields if f.column != "id"]


# SQLite allows 32,766 parameters per statement; 500 rows of ~35 columns stay well below.
CHUNK_ROWS = 500


def _adapt(value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def insert_system_samples(rows: list[dict]) -> set[str]:
    """Insert rows (dicts keyed by column) unless already stored; return the new sample ids.

    One INSERT … ON CONFLICT DO NOTHING RETURNING statement: concurrent uploads of the same
    samples are arbitrated by the unique constraint, so each sample is stored exactly once and
    only the winning request sees it as new.
    """
    new: set[str] = set()
    for start in range(0, len(rows), CHUNK_ROWS):
        cursor_rows = _insert(
            SystemSample,
            SYSTEM_FIELDS,
            rows[start : start + CHUNK_ROWS],
            " ON CONFLICT (machine_id, sample_uid, collected_at) DO NOTHING RETURNING sample_uid",
        )
        new |= {row[0] for row in cursor_rows}
    return new


def insert_gopls_samples(rows: list[dict]) -> None:
    """Insert gopls sample rows (dicts keyed by column); only ever called for new samples."""
    for start in range(0, len(rows), CHUNK_ROWS):
        _insert(GoplsSample, GOPLS_FIELDS, rows[start : start + CHUNK_ROWS], "")


def _insert(model, fields: list[str], rows: list[dict], suffix: str) -> list[tuple]:
    # Hand-built SQL: the ORM's per-row model instances and query compilation cost more than
    # the database work itself on this hot path (measured with bench/ingest.py).
    if connection.vendor == "postgresql":
        return _insert_unnest(model, fields, rows, suffix)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list = []
    for row in rows:
        params.extend(_adapt(row.get(column)) for column in fields)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(rows)) + suffix
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if "RETURNING" in suffix else []


_PG_TYPES = {
    "BigIntegerField": "bigint",
    "ForeignKey": "bigint",
    "IntegerField": "integer",
    "SmallIntegerField": "smallint",
    "FloatField": "double precision",
    "DateTimeField": "timestamptz",
    "CharField": "text",
    "JSONField": "jsonb",
}


def _insert_unnest(model, fields: list[str], rows: list[dict], suffix: str) -> list[tuple]:
    """All rows as one JSON parameter that PostgreSQL unpacks with json_to_recordset.

    One text parameter instead of one typed array per column: psycopg's per-array dumping was
    two thirds of the Python CPU of this insert (measured), and orjson writes the whole batch
    in microseconds. The statement text is the same for any number of rows, so it is prepared
    once per connection. Integer columns arrive as numeric and are cast, so 10.0 stores as 10
    exactly as the per-value coercion of the SQLite path does.
    """
    with connection.cursor() as cursor:
        cursor.execute(_recordset_sql(model, tuple(fields), suffix), [_rows_json(fields, rows)])
        return cursor.fetchall() if "RETURNING" in suffix else []


def _rows_json(fields: list[str], rows: list[dict]) -> str:
    return orjson.dumps([{c: row.get(c) for c in fields} for row in rows]).decode()


@functools.cache
def _recordset_sql(model, fields: tuple[str, ...], suffix: str) -> str:
    by_column = {f.column: f for f in model._meta.concrete_fields}
    declared, selected = [], []
    for column in fields:
        pg_type = _PG_TYPES[by_column[column].get_internal_type()]
        name = connection.ops.quote_name(column)
        if pg_type in ("bigint", "integer", "smallint"):
            declared.append(f"{name} numeric")
            selected.append(f"r.{name}::{pg_type}")
        else:
            declared.append(f"{name} {pg_type}")
            selected.append(f"r.{name}")
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in fields)
    return (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(selected)}"
        f" FROM json_to_recordset(%s::json) AS r({', '.join(declared)}){suffix}"
    )
