"""Bulk writes of samples: insert-if-new on (machine, sample id, collected_at), in one statement."""

from __future__ import annotations

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


_PG_ARRAY_TYPES = {
    "BigIntegerField": ("bigint", int),
    "ForeignKey": ("bigint", int),
    "IntegerField": ("integer", int),
    "SmallIntegerField": ("smallint", int),
    "FloatField": ("double precision", float),
    "DateTimeField": ("timestamptz", None),
    "CharField": ("text", str),
    "JSONField": ("jsonb", None),
}


def _insert_unnest(model, fields: list[str], rows: list[dict], suffix: str) -> list[tuple]:
    """One column array per parameter: the statement text is the same for any number of rows,
    so psycopg prepares it once per connection instead of parsing ~150 placeholders per upload."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    casts, arrays = [], []
    for column in fields:
        pg_type, coerce = _PG_ARRAY_TYPES[by_column[column].get_internal_type()]
        values = [row.get(column) for row in rows]
        if pg_type == "jsonb":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        elif coerce is not None:
            values = [None if v is None else coerce(v) for v in values]
        casts.append(f"%b::{pg_type}[]")  # binary: no per-element text escaping
        arrays.append(values)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in fields)
    sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({', '.join(casts)}){suffix}"
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.fetchall() if "RETURNING" in suffix else []
