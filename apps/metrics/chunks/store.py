"""Compaction: a machine's raw samples of one hour become chunks, in one transaction.

Per machine and hour: the raw system samples (and, per gopls process, its raw gopls samples)
are merged with the hour's existing chunks (late samples, retried uploads: a sample already
in the chunk is kept once, keyed by sample id and agent time, or by process and agent time),
encoded (`codec`) and written, and the raw rows read are deleted by id, all in one
transaction: a crash or kill before the commit leaves the raw rows as they were, after it the
chunk holds them, so nothing is lost or stored twice and the next run simply carries on.

A sample is identified by (sample id, agent time) for system samples and (gopls lifetime,
agent time) for gopls samples; `ts` is the server's skew-corrected time and may differ between
two copies of one sample (an upload retried after the agent's clock was corrected). The first
stored copy wins, as at ingest: a raw copy of a sample already in any chunk of the machine
(found by the chunks' agent-time range) is dropped, in its own hour or another one.

The first compaction of an hour recomputes its 5-minute and hourly rollups from the raw rows
first (in the same transaction), so rollups never miss what went into a chunk, even when the
run is killed before it ends; when copies were dropped
from the hour its rollups are rebuilt without them. A machine's hours inside
its pending rollup range are left raw; the range task expands chunks it overlaps back into raw
rows (`expand`) before rolling up, and a later run compacts them again.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, models, transaction

from apps.metrics.chunks import codec
from apps.metrics.models import (
    GoplsChunk,
    GoplsRollup,
    GoplsSample,
    PendingRollup,
    SystemChunk,
    SystemRollup,
    SystemSample,
)
from apps.metrics.rollups import bucket_sql, floor_time, roll_up_hours, roll_up_raw
from apps.metrics.writer import insert_gopls_samples, insert_system_samples

HOUR = timedelta(hours=1)
KEYS = ("id", "machine_id", "process_id")
BATCH = 500


def _kind(field: models.Field) -> str:
    if isinstance(field, models.DateTimeField):
        return "time"
    if isinstance(field, models.FloatField):
        return "float"
    if isinstance(field, models.IntegerField):  # Small/Big/Positive are subclasses
        return "int"
    if isinstance(field, models.JSONField):
        return "json"
    return "text"


def fields(model) -> list[tuple[str, str]]:
    """[(column, codec kind)] a chunk of `model` rows stores: every column but the keys."""
    return [(f.column, _kind(f)) for f in model._meta.concrete_fields if f.column not in KEYS]


SYSTEM_FIELDS = fields(SystemSample)
GOPLS_FIELDS = fields(GoplsSample)
# A sample's identity within its machine (system) or gopls lifetime (gopls).
SYSTEM_KEY = ("sample_uid", "collected_at")
GOPLS_KEY = ("collected_at",)


def _python(kind: str, value, null: bool):
    if null:
        return None
    if kind == "time":
        return codec.from_micros(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value


def decode_rows(blob: bytes, spec: list[tuple[str, str]]) -> list[tuple]:
    """A chunk's rows as tuples in `spec` order (columns the chunk lacks read as None)."""
    count, cols = codec.unpack(blob)
    out = []
    for name, _ in spec:
        if name in cols:
            stored, values, mask = cols[name]
            out.append([_python(stored, v, m) for v, m in zip(values.tolist(), mask.tolist())])
        else:
            out.append([None] * count)
    return list(zip(*out)) if out else []


def encode_rows(rows: list[tuple], spec: list[tuple[str, str]]) -> bytes:
    columns = {name: (kind, [r[i] for r in rows]) for i, (name, kind) in enumerate(spec)}
    return codec.pack(columns, len(rows))


# Test hook, off unless the environment sets it: DEVFLEET_COMPACTION_PAUSE="<point>:<n>:<file>"
# makes the n-th pass through <point> create <file> and then wait forever, so a test can kill
# the process at a known place (tests/metrics/test_compaction_kill.py). Points: "written" (an
# hour's system chunk written, its raw rows not yet deleted, the transaction open),
# "deleted" (the hour's raw rows deleted, not yet committed), "committed" (after the commit).
PAUSE_ENV = "DEVFLEET_COMPACTION_PAUSE"
_passes: dict[str, int] = {}


def _pause_point(point: str) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    name, count, path = spec.split(":", 2)
    if name != point:
        return
    _passes[point] = _passes.get(point, 0) + 1
    if _passes[point] == int(count):
        with open(path + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(path + ".tmp", path)  # the file appears whole
        while True:
            time.sleep(1)


def _key(spec, row: tuple, names: tuple[str, ...]) -> tuple:
    index = {name: i for i, (name, _) in enumerate(spec)}
    return tuple(
        codec.to_micros(row[index[n]]) if isinstance(row[index[n]], datetime) else row[index[n]]
        for n in names
    )


def _merge(spec, old: list[tuple], raw: list[tuple], names: tuple[str, ...]) -> list[tuple]:
    """Chunk rows plus raw rows not already in them, in time order."""
    seen = {_key(spec, r, names) for r in old}
    rows = list(old)
    for r in raw:
        key = _key(spec, r, names)
        if key not in seen:
            seen.add(key)
            rows.append(r)
    ts = [name for name, _ in spec].index("ts")
    return sorted(rows, key=lambda r: r[ts])


def _delete(model, ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        model.objects.filter(pk__in=ids[start : start + BATCH])._raw_delete(connection.alias)


def _collected(rows: list[tuple], spec) -> dict:
    """The chunk columns holding the agent-time range of its rows."""
    index = [name for name, _ in spec].index("collected_at")
    times = [r[index] for r in rows]
    return {"collected_lo": min(times), "collected_hi": max(times)}


def _identities(blobs, spec, names: tuple[str, ...]) -> set[tuple]:
    """(prefix, *identity) of every row of the (prefix, chunk data) pairs given."""
    out = set()
    for prefix, blob in blobs:
        out.update((prefix, *_key(spec, row, names)) for row in decode_rows(blob, spec))
    return out


def _copies_elsewhere(machine_pk: int, hour: datetime, system, gopls) -> tuple[set, set]:
    """Raw ids (system, gopls) of this hour's rows whose sample is already in a chunk of
    another hour: copies whose skew correction differs from the stored original's."""
    found: tuple[set, set] = (set(), set())
    for model, chunk_model, rows, spec, names, first, owner in (
        (SystemSample, SystemChunk, system, SYSTEM_FIELDS, SYSTEM_KEY, 1, "machine_id"),
        (GoplsSample, GoplsChunk, gopls, GOPLS_FIELDS, GOPLS_KEY, 2, "process_id"),
    ):
        if not rows:
            continue
        times = [row[first + [n for n, _ in spec].index("collected_at")] for row in rows]
        owners = {machine_pk} if owner == "machine_id" else {row[1] for row in rows}
        blobs = (
            chunk_model.objects.filter(**{f"{owner}__in": list(owners)})
            .filter(collected_lo__lte=max(times), collected_hi__gte=min(times))
            .exclude(hour=hour)
            .values_list(owner, "data")
        )
        known = _identities(blobs, spec, names)
        if not known:
            continue
        target = found[0] if model is SystemSample else found[1]
        for row in rows:
            key = machine_pk if owner == "machine_id" else row[1]
            if (key, *_key(spec, row[first:], names)) in known:
                target.add(row[0])
    return found


def _forget_rollups(machine_pk: int, hour: datetime) -> None:
    """Drop the machine's rollups of the hour (they counted copies) before rebuilding them."""
    for model in (SystemRollup, GoplsRollup):
        model.objects.filter(
            machine_id=machine_pk, bucket__gte=hour, bucket__lt=hour + HOUR
        ).delete()


def _write(model, existing, data: bytes, n: int, **keys) -> None:
    extra = keys.pop("extra", {})
    if existing is None:
        model.objects.create(data=data, n=n, **keys, **extra)
    else:
        model.objects.filter(pk=existing.pk).update(data=data, n=n, **extra)


def _has_oom_victims(rows: list[tuple]) -> bool:
    detail = [name for name, _ in SYSTEM_FIELDS].index("detail")
    for row in rows:
        system = row[detail].get("system") if isinstance(row[detail], dict) else None
        if isinstance(system, dict) and system.get("oom_victims"):
            return True
    return False


def _raw(model, spec, machine_pk: int, hour: datetime, **extra) -> list[tuple]:
    names = [name for name, _ in spec]
    return list(
        model.objects.filter(machine_id=machine_pk, ts__gte=hour, ts__lt=hour + HOUR, **extra)
        .order_by("ts", "pk")
        .values_list("pk", *(["process_id"] if model is GoplsSample else []), *names)
    )


@transaction.atomic
def compact_hour(machine_pk: int, hour: datetime) -> int:
    """Compact one machine's hour; returns the raw rows folded into chunks."""
    system_chunk = (
        SystemChunk.objects.select_for_update().filter(machine_id=machine_pk, hour=hour).first()
    )
    gopls_chunks = {
        c.process_id: c
        for c in GoplsChunk.objects.select_for_update().filter(machine_id=machine_pk, hour=hour)
    }
    system = _raw(SystemSample, SYSTEM_FIELDS, machine_pk, hour)
    gopls = _raw(GoplsSample, GOPLS_FIELDS, machine_pk, hour)
    if not system and not gopls:
        return 0
    system_copies, gopls_copies = _copies_elsewhere(machine_pk, hour, system, gopls)
    if system_copies or gopls_copies:
        _delete(SystemSample, sorted(system_copies))
        _delete(GoplsSample, sorted(gopls_copies))
        system = [r for r in system if r[0] not in system_copies]
        gopls = [r for r in gopls if r[0] not in gopls_copies]
    if system_chunk is None and not gopls_chunks:
        if system_copies or gopls_copies:
            _forget_rollups(machine_pk, hour)
        roll_up_raw(hour, hour + HOUR - timedelta(microseconds=1), machine_ids=[machine_pk])
        roll_up_hours(hour, hour, machine_ids=[machine_pk])
    if system:
        old = decode_rows(system_chunk.data, SYSTEM_FIELDS) if system_chunk else []
        rows = _merge(SYSTEM_FIELDS, old, [r[1:] for r in system], SYSTEM_KEY)
        data = encode_rows(rows, SYSTEM_FIELDS)
        extra = {"has_oom_victims": _has_oom_victims(rows), **_collected(rows, SYSTEM_FIELDS)}
        _write(
            SystemChunk, system_chunk, data, len(rows),
            machine_id=machine_pk, hour=hour, extra=extra,
        )  # fmt: skip
        _pause_point("written")
        _delete(SystemSample, [r[0] for r in system])
    by_process: dict[int, list[tuple]] = {}
    for r in gopls:
        by_process.setdefault(r[1], []).append(r[2:])
    for process_pk, raw in by_process.items():
        chunk = gopls_chunks.get(process_pk)
        old = decode_rows(chunk.data, GOPLS_FIELDS) if chunk else []
        rows = _merge(GOPLS_FIELDS, old, raw, GOPLS_KEY)
        data = encode_rows(rows, GOPLS_FIELDS)
        _write(
            GoplsChunk, chunk, data, len(rows),
            machine_id=machine_pk, process_id=process_pk, hour=hour,
            extra=_collected(rows, GOPLS_FIELDS),
        )  # fmt: skip
    _delete(GoplsSample, [r[0] for r in gopls])
    _pause_point("deleted")
    return len(system) + len(gopls) + len(system_copies) + len(gopls_copies)


def due_hours(cutoff: datetime) -> list[tuple[int, datetime]]:
    """(machine pk, hour) pairs with raw samples before `cutoff`, oldest first."""
    adapt = connection.ops.adapt_datetimefield_value
    pairs: set[tuple[int, datetime]] = set()
    for model in (SystemSample, GoplsSample):
        bucket = bucket_sql("ts", 3600)
        sql = f"SELECT DISTINCT machine_id, {bucket} FROM {model._meta.db_table} WHERE ts < %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [adapt(cutoff)])
            for machine_pk, hour in cursor.fetchall():
                pairs.add((machine_pk, _aware(hour)))
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def _aware(value) -> datetime:
    from apps.metrics.reader import _aware as aware

    return aware(value)


def _pending(machine_pk: int, hour: datetime) -> bool:
    return PendingRollup.objects.filter(
        machine_id=machine_pk, lo__lt=hour + HOUR, hi__gte=hour
    ).exists()


def compact(now: datetime, older_than: timedelta) -> dict:
    """Compact every machine hour that ended before now - older_than; returns counts and the
    first and last hour compacted (None when none was)."""
    cutoff = floor_time(now - older_than, 3600)
    done = {"hours": 0, "rows": 0, "skipped_pending": 0, "conflicts": 0}
    span: list[datetime] = []
    for machine_pk, hour in due_hours(cutoff):
        if _pending(machine_pk, hour):
            done["skipped_pending"] += 1
            continue
        try:
            done["rows"] += compact_hour(machine_pk, hour)
        except IntegrityError:  # another run created the same chunk first; it has the rows
            done["conflicts"] += 1
            continue
        _pause_point("committed")
        done["hours"] += 1
        span = [min(span[0], hour), max(span[1], hour)] if span else [hour, hour]
    return {**done, "span": span or None}


def _drop_raw_copies(model, chunk, rows: list[tuple], spec, names) -> None:
    """Delete raw rows that are copies of the chunk's samples (in any hour): the chunk holds
    the first stored copy, which is kept."""
    keys = {_key(spec, row, names) for row in rows}
    times = [row[[n for n, _ in spec].index("collected_at")] for row in rows]
    if model is SystemSample:
        uids = sorted({k[0] for k in keys})
        candidates = []
        for start in range(0, len(uids), BATCH):
            candidates += SystemSample.objects.filter(
                machine_id=chunk.machine_id, sample_uid__in=uids[start : start + BATCH]
            ).values_list("pk", "sample_uid", "collected_at")
        copies = [pk for pk, uid, at in candidates if (uid, codec.to_micros(at)) in keys]
    else:
        candidates = GoplsSample.objects.filter(
            process_id=chunk.process_id, collected_at__gte=min(times), collected_at__lte=max(times)
        ).values_list("pk", "collected_at")
        copies = [pk for pk, at in candidates if (codec.to_micros(at),) in keys]
    _delete(model, copies)


@transaction.atomic
def expand(machine_pk: int, lo: datetime, hi: datetime) -> int:
    """Turn the machine's chunks of hours touching [lo, hi] back into raw rows; returns the
    rows restored. A raw copy of a chunk's sample (a resend) gives way to the chunk's row, the
    first stored. The range task calls this before rolling up, so rollups over a compacted
    hour see all of its samples."""
    start = floor_time(lo, 3600)
    restored = 0
    names = [name for name, _ in SYSTEM_FIELDS]
    for chunk in SystemChunk.objects.select_for_update().filter(
        machine_id=machine_pk, hour__gte=start, hour__lte=hi
    ):
        decoded = decode_rows(chunk.data, SYSTEM_FIELDS)
        _drop_raw_copies(SystemSample, chunk, decoded, SYSTEM_FIELDS, SYSTEM_KEY)
        rows = [{"machine_id": machine_pk, **dict(zip(names, r))} for r in decoded]
        restored += len(insert_system_samples(rows))
        chunk.delete()
    names = [name for name, _ in GOPLS_FIELDS]
    for chunk in GoplsChunk.objects.select_for_update().filter(
        machine_id=machine_pk, hour__gte=start, hour__lte=hi
    ):
        decoded = decode_rows(chunk.data, GOPLS_FIELDS)
        _drop_raw_copies(GoplsSample, chunk, decoded, GOPLS_FIELDS, GOPLS_KEY)
        rows = [
            {"machine_id": machine_pk, "process_id": chunk.process_id, **dict(zip(names, r))}
            for r in decoded
        ]
        insert_gopls_samples(rows)
        restored += len(rows)
        chunk.delete()
    return restored
