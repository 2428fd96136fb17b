"""PostgreSQL: an upload's samples, gopls lifetimes and machine row written in one statement.

One round trip instead of seven (BEGIN, sample INSERT, lifetime upsert, gopls sample INSERT,
machine UPDATE, COMMIT): a chain of data-modifying CTEs, atomic as one statement in autocommit.
What it stores is what the step-by-step path in services.py stores (SQLite, and uploads with
inventory, profiles or other sections, take that path): a sample is new when its INSERT wins the
unique constraint; gopls rows and lifetimes are written only for new samples; a lifetime's facts
come from the first entry of a new sample that carries them; the machine's newest sample and
summary move only forward.
"""

from __future__ import annotations

import functools
import math

import orjson
from django.db import connection

from apps.fleet.models import GoplsProcess, Machine, Project
from apps.fleet.recording import _UPSERT_FACTS
from apps.metrics.models import GoplsSample, SystemSample
from apps.metrics.writer import _PG_TYPES, GOPLS_FIELDS, SYSTEM_FIELDS

_INTEGER = ("bigint", "integer", "smallint")
# Columns of a gopls entry that are not GoplsSample columns: which sample it belongs to, its
# position in the upload, its lifetime key and the index of its facts in the facts list.
_ENTRY_KEYS = ("uid", "ord", "pid", "start_time", "fi")
GOPLS_ENTRY_FIELDS = [c for c in GOPLS_FIELDS if c != "process_id"]


def _recordset(model, fields) -> tuple[str, str]:
    """(declared, selected) lists for json_to_recordset over `fields` of `model`.

    Integer columns are declared as their own type: their values are made ints first
    (`_integer_columns`), which costs less than PostgreSQL reading every one as numeric and
    casting it (measured: ~6 % of its CPU per upload)."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    declared = []
    for column in fields:
        pg_type = _PG_TYPES[by_column[column].get_internal_type()]
        declared.append(f"{connection.ops.quote_name(column)} {pg_type}")
    return ", ".join(declared), ", ".join(connection.ops.quote_name(c) for c in fields)


def _integer_columns(model, fields) -> tuple[str, ...]:
    by_column = {f.column: f for f in model._meta.concrete_fields}
    return tuple(c for c in fields if _PG_TYPES[by_column[c].get_internal_type()] in _INTEGER)


SYSTEM_INTEGERS = _integer_columns(SystemSample, SYSTEM_FIELDS)
GOPLS_INTEGERS = _integer_columns(GoplsSample, GOPLS_ENTRY_FIELDS)


def _as_integer(value: float) -> int:
    """An integral float as its int (10.0 stores as 10, as SQLite's column affinity does); any
    other rounded half away from zero, as PostgreSQL's numeric-to-integer cast does."""
    if value.is_integer():
        return int(value)
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _integers(row: dict, columns: tuple[str, ...]) -> dict:
    """`row` with the float values of integer `columns` made ints (in place)."""
    for column in columns:
        if type(row.get(column)) is float:
            row[column] = _as_integer(row[column])
    return row


@functools.cache
def _statement(machine_columns: tuple[tuple[str, bool], ...]) -> str:
    q = connection.ops.quote_name
    sys_declared, sys_selected = _recordset(SystemSample, SYSTEM_FIELDS)
    g_declared, g_selected = _recordset(GoplsSample, GOPLS_ENTRY_FIELDS)
    g_selected = ", ".join(f"g.{c}" for c in g_selected.split(", "))
    facts = [c for c, _, _ in _UPSERT_FACTS]
    facts_declared = ", ".join(f"{c} {t}" for c, t, _ in _UPSERT_FACTS)
    facts_selected = ", ".join(f"COALESCE(f.{c}, '{e}'::{t})" for c, t, e in _UPSERT_FACTS)
    # As _upsert_sql in apps.fleet.recording: a fact sent replaces the stored one, an empty one
    # keeps it; first_seen/last_seen only widen.
    lifetime_sets = [
        "first_seen = LEAST(t.first_seen, EXCLUDED.first_seen)",
        "last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)",
    ] + [
        f"{c} = CASE WHEN EXCLUDED.{c} <> '{e}'::{t} THEN EXCLUDED.{c} ELSE t.{c} END"
        for c, t, e in _UPSERT_FACTS
    ]
    machine_sets = [f"{q(c)} = %s{'::jsonb' if is_json else ''}" for c, is_json in machine_columns]
    newer = "c.ts IS NOT NULL AND (m.last_sample_at IS NULL OR c.ts >= m.last_sample_at)"
    # Each candidate's summary is read as json (its text, kept as sent) and only the one that
    # becomes the machine's latest is converted to jsonb (measured: 8 % of PostgreSQL's CPU
    # per upload went to converting all of them).
    machine_sets += [
        f"last_sample_at = CASE WHEN {newer} THEN c.ts ELSE m.last_sample_at END",
        f"latest = CASE WHEN {newer} THEN c.latest::jsonb ELSE m.latest END",
    ]
    return f"""
WITH s AS (
  INSERT INTO {q(SystemSample._meta.db_table)} ({", ".join(q(c) for c in SYSTEM_FIELDS)})
  SELECT {sys_selected} FROM json_to_recordset(%s::json) AS r({sys_declared})
  ON CONFLICT (machine_id, sample_uid, collected_at) DO NOTHING
  RETURNING sample_uid
), g AS (
  SELECT * FROM json_to_recordset(%s::json) AS g(uid text, ord integer, pid numeric,
    start_time timestamptz, fi integer, {g_declared})
  WHERE g.uid IN (SELECT sample_uid FROM s)
), lt AS (
  SELECT g.pid::integer AS pid, g.start_time, min(g.ts) AS first_seen, max(g.ts) AS last_seen,
    (array_agg(g.fi ORDER BY g.ord) FILTER (WHERE g.fi IS NOT NULL))[1] AS fi
  FROM g GROUP BY 1, 2
), p AS (
  INSERT INTO {q(GoplsProcess._meta.db_table)} AS t
    (machine_id, pid, start_time, first_seen, last_seen, {", ".join(facts)})
  SELECT %s, lt.pid, lt.start_time, lt.first_seen, lt.last_seen, {facts_selected}
  FROM lt LEFT JOIN json_to_recordset(%s::json) AS f(fi integer, {facts_declared})
    ON f.fi = lt.fi
  ORDER BY lt.pid, lt.start_time
  ON CONFLICT (machine_id, pid, start_time) DO UPDATE SET {", ".join(lifetime_sets)}
  RETURNING t.id, t.pid, t.start_time, t.project_id, (t.xmax = 0) AS created
), gi AS (
  INSERT INTO {q(GoplsSample._meta.db_table)} (process_id, {", ".join(GOPLS_ENTRY_FIELDS)})
  SELECT p.id, {g_selected}
  FROM g JOIN p ON p.pid = g.pid::integer AND p.start_time = g.start_time
), c AS (
  SELECT k.ts, k.latest FROM json_to_recordset(%s::json) AS k(uid text, ord integer,
    ts timestamptz, latest json)
  WHERE k.uid IN (SELECT sample_uid FROM s) ORDER BY k.ts DESC, k.ord LIMIT 1
), mu AS (
  UPDATE {q(Machine._meta.db_table)} AS m SET {", ".join(machine_sets)}
  FROM (SELECT 1) AS one LEFT JOIN c ON true
  WHERE m.id = %s
)
SELECT s.sample_uid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM s
UNION ALL
SELECT NULL, p.id, p.pid, p.start_time, p.project_id, p.created, lt.fi, lt.last_seen,
  pr.module_path
FROM p JOIN lt ON lt.pid = p.pid AND lt.start_time = p.start_time
LEFT JOIN {q(Project._meta.db_table)} AS pr ON pr.id = p.project_id
"""


def _json(value) -> str:
    return orjson.dumps(value).decode()


def store_upload(
    machine_pk: int,
    sample_rows: list[dict],
    gopls_entries: list[dict],
    facts: list[dict],
    candidates: list[dict],
    machine_update: dict,
) -> tuple[set[str], list[tuple]]:
    """Write one upload; returns (new sample ids, lifetimes touched).

    sample_rows: SystemSample rows keyed by column. gopls_entries: GoplsSample columns (no
    process_id) plus uid, ord, pid, start_time and fi (index into `facts`, the lifetime
    columns of _UPSERT_FACTS, or None). candidates: {uid, ord, ts, latest} for the samples that
    may become the machine's newest. machine_update: machine columns (field name → value) set
    unconditionally. Lifetimes come back as (pk, pid, start_time, project_id, created, fi,
    last_seen, project module path).
    """
    fields = tuple(machine_update)
    columns = []
    values = []
    for name in fields:
        field = Machine._meta.get_field(name)
        is_json = field.get_internal_type() == "JSONField"
        columns.append((field.column, is_json))
        values.append(_json(machine_update[name]) if is_json else machine_update[name])
    params = [
        _json(
            [
                _integers({c: row.get(c) for c in SYSTEM_FIELDS}, SYSTEM_INTEGERS)
                for row in sample_rows
            ]
        ),
        _json([_integers(entry, GOPLS_INTEGERS) for entry in gopls_entries]),
        machine_pk,
        _json(facts),
        _json(candidates),
        *values,
        machine_pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_statement(tuple(columns)), params)
        returned = cursor.fetchall()
    new_ids = {row[0] for row in returned if row[0] is not None}
    lifetimes = [row[1:] for row in returned if row[0] is None]
    return new_ids, lifetimes
