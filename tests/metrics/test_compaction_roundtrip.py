"""Every column of every metric in the catalogue round-trips through compaction exactly.

The rows are written the way ingest writes them (`apps.metrics.writer`), with values at the
edges of each column's type: nulls, 0, integers past 2^53 and at the signed 64-, 32- and 16-bit
limits (negative ones too, which ingest's schema refuses but the columns hold), floats that
need all 64 bits (5e-324, 1e150, 0.1, -0.0, 33.333333333333336), JSON details with nesting,
unicode and integers past 2^53. Floats are compared bit for bit: chunks store IEEE-754 doubles
exactly (no float32 rounding anywhere). NaN and infinities are not stored: a report is JSON,
which has neither, and the schema bounds every number (SQLite would store NaN as NULL).

Times cover a partial first hour, a gap of hours, two samples at the same instant, and agent
clocks off by minutes and by days (collected_at in another hour than ts), so nothing in a
chunk may assume its agent times lie in its hour or in order."""

from __future__ import annotations

import struct
import uuid
from datetime import datetime, timedelta, timezone
from itertools import cycle

import pytest
from django.db import models

from apps.fleet.models import GoplsProcess
from apps.metrics.catalog import GOPLS, SYSTEM
from apps.metrics.chunks.store import GOPLS_FIELDS, SYSTEM_FIELDS, compact
from apps.metrics.models import GoplsChunk, GoplsSample, SystemChunk, SystemSample
from apps.metrics.reader import read_columns
from apps.metrics.writer import insert_gopls_samples, insert_system_samples
from tests.metrics.test_compaction import gopls_rows, system_rows

NOW = datetime(2026, 11, 23, 12, 2, 30, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=6)  # every row is old enough to compact
BASE = datetime(2026, 11, 23, 5, 41, 7, 250001, tzinfo=timezone.utc)  # a partial first hour
N = 400

BIG = [None, 0, 2**53 + 1, 2**63 - 1, -(2**63), -1, 3_999_999_999, 2**53 - 1, -(2**53) - 3]
INT = [None, 0, 2**31 - 1, -(2**31), 7, -1, 65536]
SMALL = [0, 2**15 - 1, -(2**15), 3]
# 1e150, not 1e308: PostgreSQL's avg() over float8 also sums squares and fails on overflow,
# so values past ~1e154 break the rollup statements (not the chunks) there.
FLOAT = [None, 0.0, -0.0, 5e-324, 1e150, -1e150, 0.1, 33.333333333333336, 2.5e-7, 99999.99999]
DETAILS = [
    {},
    {"interval_s": 15, "gopls_excluded": {"telemetry_sidecars": 1}},
    {"system": {"oom_victims": [{"pid": 1, "name": "gopls", "rss_bytes": 2**53 + 7}]}},
    {"text": "\u202e<script>\u00e9\u4e2d\U0001f600", "list": [1, 2.5, None, True, "x"]},
    {"deep": {"a": {"b": {"c": [[], {}, [{"d": -(2**62)}]]}}}},
]


def values_for(field: models.Field) -> list:
    if isinstance(field, models.FloatField):
        return FLOAT
    if isinstance(field, models.SmallIntegerField):
        return SMALL if not field.null else [None, *SMALL]
    if isinstance(field, models.BigIntegerField):
        return BIG
    if isinstance(field, models.IntegerField):
        return INT
    raise AssertionError(f"no test values for {field!r}: add them here")


def metric_fields(model, entries) -> dict[str, models.Field]:
    """The catalogue's columns of `model`, each a field of the model and of the chunk spec."""
    spec = {name for name, _ in (GOPLS_FIELDS if model is GoplsSample else SYSTEM_FIELDS)}
    fields = {f.column: f for f in model._meta.concrete_fields}
    out = {}
    for e in entries:
        assert e.column in fields, e.column
        assert e.column in spec, f"{e.column} is not stored in chunks"
        out[e.column] = fields[e.column]
    return out


def times(i: int) -> tuple[datetime, datetime]:
    """(ts, collected_at) of row i: 37 s apart, a gap of 3 h after row 150, rows 200 and 201
    at the same instant, agent clocks off by -3 days to +25 minutes."""
    ts = BASE + timedelta(seconds=37 * i, microseconds=i)
    if i > 150:
        ts += timedelta(hours=3)
    if i == 201:
        ts = times(200)[0]
    skew = [timedelta(0), timedelta(minutes=25), -timedelta(days=3, seconds=1), timedelta(0)][i % 4]
    return ts, ts - skew


@pytest.fixture
def stored(enrolled):
    machine, _ = enrolled
    process = GoplsProcess.objects.create(
        machine=machine, pid=4242, start_time=BASE, first_seen=BASE, last_seen=NOW
    )
    system = metric_fields(SystemSample, SYSTEM)
    gopls = metric_fields(GoplsSample, GOPLS)
    # Each column cycles through its values at its own offset, so every value meets every
    # neighbour (the codecs are delta/XOR encoded) and nulls fall at different rows.
    sys_cycles = {c: cycle(values_for(f)[k % 3 :] + values_for(f)[: k % 3])
                  for k, (c, f) in enumerate(system.items())}  # fmt: skip
    g_cycles = {c: cycle(values_for(f)[k % 4 :] + values_for(f)[: k % 4])
                for k, (c, f) in enumerate(gopls.items())}  # fmt: skip
    details = cycle(DETAILS)
    sys_rows, g_rows = [], []
    for i in range(N):
        ts, collected = times(i)
        skewed = ts != collected
        sys_rows.append(
            {
                "machine_id": machine.pk,
                "sample_uid": str(uuid.UUID(int=i)) if i % 5 else f"s-{i}-\u00e9",
                "collected_at": collected,
                "ts": ts,
                "received_at": ts + timedelta(seconds=i % 90),
                "clock_skew_s": (ts - collected).total_seconds() if skewed else None,
                "detail": next(details),
                **{c: next(v) for c, v in sys_cycles.items()},
            }
        )
        if i % 7 != 3:  # some samples without a gopls entry: gaps in the process's series
            g_rows.append(
                {
                    "machine_id": machine.pk,
                    "process_id": process.pk,
                    "collected_at": collected,
                    "ts": ts,
                    "detail": next(details),
                    **{c: next(v) for c, v in g_cycles.items()},
                }
            )
    assert len(insert_system_samples(sys_rows)) == N
    insert_gopls_samples(g_rows)
    return machine


def exact(rows: list[tuple]) -> list[tuple]:
    """Rows with floats as their bits, so -0.0 and 0.0 (or 0.1 and its neighbour) differ."""
    return [tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row) for row in rows]


@pytest.mark.django_db
def test_every_catalogue_column_round_trips_exactly_through_compaction(stored):
    before = exact(system_rows(stored)), exact(gopls_rows(stored))
    assert len(before[0]) == N
    done = compact(LATER, timedelta(hours=2))
    assert done["hours"] >= 6
    assert not SystemSample.objects.filter(machine=stored).exists()
    assert not GoplsSample.objects.filter(machine=stored).exists()
    assert SystemChunk.objects.filter(machine=stored).count() == done["hours"]
    assert GoplsChunk.objects.filter(machine=stored).exists()
    assert (exact(system_rows(stored)), exact(gopls_rows(stored))) == before


@pytest.mark.django_db
def test_every_served_metric_reads_the_same_points_from_chunks_as_from_raw_rows(stored):
    since, until = BASE - timedelta(minutes=1), BASE + timedelta(hours=5, minutes=59)

    def read() -> dict:
        out = {}
        for per_process, entries in ((False, SYSTEM), (True, GOPLS)):
            columns = [e.column for e in entries]
            found = read_columns(stored.pk, columns, since, until, per_process=per_process)
            for key, per in found.items():
                for column, points in per.items():
                    out[(per_process, key, column)] = [
                        (t, struct.pack("<d", v) if isinstance(v, float) else v) for t, v in points
                    ]
        return out

    before = read()
    assert before[(False, None, "mem_total_bytes")]  # the range holds the samples
    compact(NOW, timedelta(hours=2))  # up to 10:00: the range is read from chunks and raw rows
    assert SystemSample.objects.filter(machine=stored, ts__lte=until).exists()
    assert read() == before
    compact(LATER, timedelta(hours=2))
    assert not SystemSample.objects.filter(machine=stored).exists()
    assert read() == before
