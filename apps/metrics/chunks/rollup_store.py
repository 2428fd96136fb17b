"""Rollup compaction: old 5-minute and 1-hour rollup rows become chunks, one transaction each.

Per machine, resolution and period (a day of 5-minute buckets, a week of 1-hour buckets,
aligned to the epoch) the rollup rows are merged into one `SystemRollupChunk` and one
`GoplsRollupChunk` (all of the machine's gopls lifetimes, `process_id` a column), every rollup
column an encoded array (`codec`). A period is compacted once it has ended more than
ROLLUP_COMPACT_AFTER_HOURS ago; recent periods stay rows, which the rollup statements, the
range task of late samples and detection work on.

Rows win: a rollup row written after its period was compacted (late samples rolled up again)
overrides the chunk's entry for the same bucket in every read (`entries`), and the next
compaction merges it into the chunk. One transaction per machine, resolution and period locks
the chunk and the rows, writes the merged chunk and deletes exactly the rows it read, so a
crash or kill before the commit leaves the rows as they were, after it the chunk holds them:
nothing is lost or stored twice, and the next run carries on.

Readers go through `entries` (rows first, then chunks, so a compaction committing in between
cannot hide a bucket). `roll_up_hours_merged` recomputes hourly buckets of machines whose
5-minute history is partly compacted, from chunk and rows together.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import repeat

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction

from apps.metrics.chunks import codec
from apps.metrics.chunks.store import decode_rows, encode_rows
from apps.metrics.models import (
    GoplsRollup,
    GoplsRollupChunk,
    Resolution,
    SystemRollup,
    SystemRollupChunk,
)
from apps.metrics.rollups import GOPLS_AGGREGATES, SYSTEM_AGGREGATES, bucket_sql, floor_time

# Buckets per chunk: a day of 5-minute buckets (288), a week of hourly ones (168); measured
# in bench/storage.py (README "Bytes on disk").
PERIODS = {
    int(Resolution.FIVE_MINUTES): timedelta(days=1),
    int(Resolution.ONE_HOUR): timedelta(days=7),
}
BATCH = 500
_SKIP = ("id", "machine_id", "resolution")


def _kind(field: models.Field) -> str:
    if isinstance(field, models.DateTimeField):
        return "time"
    if isinstance(field, models.FloatField):
        return "float"
    return "int"  # every other rollup column is an integer (or the process foreign key)


def _spec(model) -> list[tuple[str, str]]:
    """[(column, codec kind)] a rollup chunk stores: every rollup column but the chunk's keys."""
    return [(f.column, _kind(f)) for f in model._meta.concrete_fields if f.column not in _SKIP]


SYSTEM_SPEC = _spec(SystemRollup)
GOPLS_SPEC = _spec(GoplsRollup)


def models_for(per_process: bool):
    """(rollup model, chunk model, chunk spec)."""
    if per_process:
        return GoplsRollup, GoplsRollupChunk, GOPLS_SPEC
    return SystemRollup, SystemRollupChunk, SYSTEM_SPEC


def period_of(resolution: int) -> timedelta:
    return PERIODS[int(resolution)]


def period_start(bucket: datetime, resolution: int) -> datetime:
    return floor_time(bucket, int(period_of(resolution).total_seconds()))


def compact_after() -> timedelta:
    return timedelta(hours=settings.ROLLUP_COMPACT_AFTER_HOURS)


# --- Compaction -------------------------------------------------------------------------------


def _key(per_process: bool, row: tuple, index: dict) -> tuple:
    bucket = codec.to_micros(row[index["bucket"]])
    return (row[index["process_id"]], bucket) if per_process else (bucket,)


def _delete(model, ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        model.objects.filter(pk__in=ids[start : start + BATCH])._raw_delete(connection.alias)


@transaction.atomic
def compact_period(machine_pk: int, resolution: int, start: datetime) -> int:
    """Fold one machine's rollup rows of one resolution and period into its chunks (rows win
    over the chunk's entries for the same bucket); returns the rows folded."""
    end = start + period_of(resolution)
    folded = 0
    for per_process in (False, True):
        rollup, chunk_model, spec = models_for(per_process)
        names = [name for name, _ in spec]
        index = {name: i for i, name in enumerate(names)}
        chunk = (
            chunk_model.objects.select_for_update()
            .filter(machine_id=machine_pk, resolution=resolution, start=start)
            .first()
        )
        rows = list(
            rollup.objects.select_for_update()
            .filter(machine_id=machine_pk, resolution=resolution, bucket__gte=start, bucket__lt=end)
            .order_by("pk")
            .values_list("pk", *names)
        )
        if not rows:
            continue
        merged = {}
        for row in decode_rows(chunk.data, spec) if chunk else []:
            merged[_key(per_process, row, index)] = row
        for row in rows:
            merged[_key(per_process, row[1:], index)] = row[1:]
        ordered = [merged[k] for k in sorted(merged)]
        data = encode_rows(ordered, spec)
        if chunk is None:
            chunk_model.objects.create(
                machine_id=machine_pk, resolution=resolution, start=start, n=len(ordered), data=data
            )
        else:
            chunk_model.objects.filter(pk=chunk.pk).update(n=len(ordered), data=data)
        _delete(rollup, [r[0] for r in rows])
        folded += len(rows)
    return folded


def due_periods(now: datetime, after: timedelta) -> list[tuple[int, int, datetime]]:
    """(resolution, machine pk, period start) with rollup rows in periods that ended at least
    `after` before now, oldest first.

    Rollup tables keep only recent periods as rows, yet tens of millions of them at 50,000
    machines: rather than scanning them, each machine's oldest bucket is one probe of the
    (machine, resolution, bucket) index, and only machines with a due bucket are read
    further, over their due rows only."""
    from apps.fleet.models import Machine

    adapt = connection.ops.adapt_datetimefield_value
    machines = Machine._meta.db_table
    due: set[tuple[int, int, datetime]] = set()
    for resolution, period in PERIODS.items():
        seconds = int(period.total_seconds())
        cutoff = floor_time(now - after, seconds)  # periods starting before it have ended
        for model in (SystemRollup, GoplsRollup):
            table = model._meta.db_table
            probe = (
                f"SELECT 1 FROM {table} r WHERE r.machine_id = m.id AND r.resolution = %s "
                "AND r.bucket < %s"
            )
            if connection.vendor == "postgresql":  # one index probe per machine, never a scan
                oldest = f"SELECT m.id FROM {machines} m CROSS JOIN LATERAL ({probe} LIMIT 1) x"
            else:
                oldest = f"SELECT m.id FROM {machines} m WHERE EXISTS ({probe})"
            day = bucket_sql("bucket", 86400)  # days; periods are whole days from the epoch
            with connection.cursor() as cursor:
                cursor.execute(oldest, [resolution, adapt(cutoff)])
                for (machine_pk,) in cursor.fetchall():
                    cursor.execute(
                        f"SELECT DISTINCT {day} FROM {table} "
                        "WHERE machine_id = %s AND resolution = %s AND bucket < %s",
                        [machine_pk, resolution, adapt(cutoff)],
                    )
                    for (value,) in cursor.fetchall():
                        due.add((resolution, machine_pk, floor_time(_aware(value), seconds)))
    return sorted(due, key=lambda d: (d[2], d[0], d[1]))


def _aware(value) -> datetime:
    from apps.metrics.reader import _aware as aware

    return aware(value)


def compact_rollups(now: datetime, after: timedelta | None = None) -> dict[str, int]:
    """Compact every machine's rollup periods that ended `after` (ROLLUP_COMPACT_AFTER_HOURS)
    before now; returns counts. Idempotent: a period with no rows left is not visited."""
    after = compact_after() if after is None else after
    done = {"periods": 0, "rows": 0, "conflicts": 0}
    for resolution, machine_pk, start in due_periods(now, after):
        try:
            done["rows"] += compact_period(machine_pk, resolution, start)
        except IntegrityError:  # another run created the same chunk first; it has the rows
            done["conflicts"] += 1
            continue
        done["periods"] += 1
    return done


# --- Reading chunks and rows together ---------------------------------------------------------


def _chunks(per_process: bool, machine_pks, resolution: int, since: datetime, until: datetime):
    """Chunks of the machines whose period overlaps [since, until]."""
    _, chunk_model, _ = models_for(per_process)
    return chunk_model.objects.filter(
        machine_id__in=list(machine_pks),
        resolution=resolution,
        start__gt=since - period_of(resolution),
        start__lte=until,
    )


def chunked_machines(
    per_process: bool, resolution: int, since: datetime, until: datetime, machine_pks=None
) -> set[int]:
    """Machines with rollup chunks of `resolution` whose period overlaps [since, until]."""
    _, chunk_model, _ = models_for(per_process)
    qs = chunk_model.objects.filter(
        resolution=resolution, start__gt=since - period_of(resolution), start__lte=until
    )
    if machine_pks is not None:
        qs = qs.filter(machine_id__in=list(machine_pks))
    return set(qs.values_list("machine_id", flat=True).distinct())


def entries(
    per_process: bool,
    machine_pks,
    resolution: int,
    since: datetime,
    until: datetime,
    columns: list[str],
    *,
    until_inclusive: bool = True,
) -> list[tuple]:
    """Rollup buckets of the machines over [since, until] (or [since, until)), from rows and
    chunks, each bucket once (a row wins over a chunk's entry): tuples (machine pk,
    [process pk,] bucket, *columns), sorted by machine, [process,] bucket."""
    rollup, _, _ = models_for(per_process)
    machine_pks = list(machine_pks)
    keys = ("machine_id", "process_id") if per_process else ("machine_id",)
    width = len(keys)
    end = {"bucket__lte" if until_inclusive else "bucket__lt": until}
    # Rows before chunks: a compaction committing between the two reads moves rows into a
    # chunk, so they are seen in one or the other (or both, and the row wins).
    rows = list(
        rollup.objects.filter(
            machine_id__in=machine_pks, resolution=resolution, bucket__gte=since, **end
        ).values_list(*keys, "bucket", *columns)
    )
    merged: dict[tuple, tuple] = {}
    lo, hi = codec.to_micros(since), codec.to_micros(until)
    needed = {"bucket", "process_id", *columns}
    for machine_pk, blob in _chunks(per_process, machine_pks, resolution, since, until).values_list(
        "machine_id", "data"
    ):
        _, cols = codec.unpack(blob, needed)
        buckets = cols["bucket"][1]
        keep = (buckets >= lo) & ((buckets <= hi) if until_inclusive else (buckets < hi))
        if not keep.any():
            continue
        stamps = buckets[keep].tolist()
        values = [[codec.from_micros(t) for t in stamps]]
        for column in columns:
            if column not in cols:
                values.append([None] * len(stamps))
                continue
            kind, data, mask = cols[column]
            data, mask = data[keep].tolist(), mask[keep]
            if kind == "time":
                data = [codec.from_micros(v) for v in data]
            if mask.any():
                data = [None if m else v for v, m in zip(data, mask.tolist())]
            values.append(data)
        if per_process:
            procs = cols["process_id"][1][keep].tolist()
            keys_of = zip(repeat(machine_pk), procs, stamps)
            rows_of = zip(repeat(machine_pk), procs, *values)
        else:
            keys_of = zip(repeat(machine_pk), stamps)
            rows_of = zip(repeat(machine_pk), *values)
        merged.update(zip(keys_of, rows_of))
    for row in rows:
        bucket = _aware(row[width])
        merged[(*row[:width], codec.to_micros(bucket))] = (*row[:width], bucket, *row[width + 1 :])
    return [merged[k] for k in sorted(merged)]


# --- Hourly buckets from 5-minute chunks and rows ---------------------------------------------


def _aggregate(group: list[tuple], aggregates, offset: int) -> list:
    """One hourly bucket's n and aggregates from its 5-minute entries (n at `offset`, the
    aggregated columns after it, in `aggregates` order): as roll_up_hours' SQL does."""
    out = [sum(e[offset] for e in group)]
    for i, (_, agg, _) in enumerate(aggregates, start=offset + 1):
        present = [(e[i], e[offset]) for e in group if e[i] is not None]
        if not present:
            out.append(None)
        elif agg == "min":
            out.append(min(v for v, _ in present))
        elif agg == "max":
            out.append(max(v for v, _ in present))
        else:
            weight = sum(n for _, n in present)
            out.append(sum(v * n for v, n in present) / weight if weight else None)
    return out


def roll_up_hours_merged(
    per_process: bool, machine_pks, since: datetime, until: datetime, *, every_hour: bool = False
) -> int:
    """Recompute the hourly buckets in [since, until) of machines with compacted 5-minute
    rollups there, from chunks and rows together.

    `every_hour`: every hour with a 5-minute bucket (the range task of one machine's late
    samples: a compaction committing between its 5-minute and hourly statements may already
    have folded the new 5-minute rows into a chunk). Otherwise only hours holding a 5-minute
    row: an hour whose 5-minute buckets are all in a chunk was rolled up before they were
    compacted (rows are only written by rollup passes, which roll up their hours next), and
    a pass over the whole fleet need not decode every chunk it touches."""
    from apps.metrics.rollups import upsert_values

    rollup, _, _ = models_for(per_process)
    five = int(Resolution.FIVE_MINUTES)
    keys = ["machine_id", "process_id"] if per_process else ["machine_id"]
    aggregates = GOPLS_AGGREGATES if per_process else SYSTEM_AGGREGATES
    machine_pks = sorted(machine_pks)
    written = 0
    for part in range(0, len(machine_pks), BATCH):
        batch = machine_pks[part : part + BATCH]
        stale = {
            (*k, floor_time(_aware(b), 3600))
            for *k, b in rollup.objects.filter(
                machine_id__in=batch, resolution=five, bucket__gte=since, bucket__lt=until
            ).values_list(*keys, "bucket")
        }
        if not stale and not every_hour:
            continue
        first = since if every_hour else min(s[-1] for s in stale)
        last = until if every_hour else max(s[-1] for s in stale) + timedelta(hours=1)
        owners = batch if every_hour else {s[0] for s in stale}
        columns = ["n", *[a[0] for a in aggregates]]
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for e in entries(per_process, owners, five, first, last, columns, until_inclusive=False):
            key = (*e[: len(keys)], floor_time(e[len(keys)], 3600))
            if every_hour or key in stale:
                groups[key].append(e)
        values = [
            [*key[:-1], int(Resolution.ONE_HOUR), key[-1],
             *_aggregate(group, aggregates, len(keys) + 1)]
            for key, group in sorted(groups.items())
        ]  # fmt: skip
        written += upsert_values(rollup, keys, aggregates, values)
    return written


# --- Detection's bucket matrices --------------------------------------------------------------


def chunk_bucket_rows(
    per_process: bool, series: dict, ids, owner: dict, since: datetime, until: datetime, *, times
) -> dict:
    """{key: rows [key, bucket number, *series, (t_first, t_last, n)]} of the 5-minute
    buckets in [since, until) of the keys (gopls lifetimes or machines) whose machine has
    compacted rollups there, from chunks and rows together; `reader.read_buckets` reads the
    other keys' rows in SQL. Missing values are NaN."""
    import numpy as np

    five = int(Resolution.FIVE_MINUTES)
    machines = chunked_machines(
        per_process, five, since, until - timedelta(microseconds=1), {owner[k] for k in ids}
    )
    if not machines:
        return {}
    wanted = {k for k in ids if owner[k] in machines}
    columns = [roll for _, _, roll in series.values()]
    if times:
        columns += ["ts_first", "ts_last", "n"]
    width = 2 if per_process else 1
    out: dict[int, list] = defaultdict(list)
    for e in entries(per_process, machines, five, since, until, columns, until_inclusive=False):
        key = e[width - 1]
        if key not in wanted:
            continue
        row = [float(key), float(codec.to_micros(e[width]) // 1_000_000 // five)]
        for value in e[width + 1 :]:
            if value is None:
                row.append(np.nan)
            elif isinstance(value, datetime):
                row.append(codec.to_micros(value) / 1e6)
            else:
                row.append(float(value))
        out[key].append(row)
    return {k: np.array(rows, dtype=float) for k, rows in out.items()}
