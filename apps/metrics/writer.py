"""Bulk writes of samples: insert-if-new on (machine, sample id, collected_at), in one statement."""

from __future__ import annotations

from datetime import datetime

import orjson
from django.db import connection

from apps.metrics.models import GoplsSample, SystemSample

SYSTEM_FIELDS = [f.column for f in SystemSample._meta.concrete_fields if f.column not in ("id",)]


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
        new |= _insert_chunk(rows[start : start + CHUNK_ROWS])
    return new


def _insert_chunk(rows: list[dict]) -> set[str]:
    table = connection.ops.quote_name(SystemSample._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in SYSTEM_FIELDS)
    placeholders = "(" + ", ".join(["%s"] * len(SYSTEM_FIELDS)) + ")"
    params: list = []
    for row in rows:
        params.extend(_adapt(row.get(column)) for column in SYSTEM_FIELDS)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES "
        + ", ".join([placeholders] * len(rows))
        + " ON CONFLICT (machine_id, sample_uid, collected_at) DO NOTHING RETURNING sample_uid"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def insert_gopls_samples(rows: list[GoplsSample]) -> None:
    if rows:
        GoplsSample.objects.bulk_create(rows, batch_size=500)
