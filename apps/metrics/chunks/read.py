"""Reading compacted history: one machine's chunk points over a time range, with numpy."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from apps.metrics.chunks import codec
from apps.metrics.models import GoplsChunk, SystemChunk
from apps.metrics.rollups import floor_time


def identity(per_process: bool, key, uid, collected_micros: int) -> tuple:
    """A sample's identity: (sample id, agent time) of a machine's system sample, (gopls
    lifetime, agent time) of a gopls sample. Two copies of a sample (a resend) share it even
    when their skew-corrected `ts` differ."""
    return (key, collected_micros) if per_process else (uid, collected_micros)


def chunk_points(
    per_process: bool,
    machine_pk: int,
    columns: list[str],
    since: datetime,
    until: datetime,
    keys: set | None = None,
) -> dict:
    """{process pk or None: {column: [(ts, value)]}} of the samples in chunks with
    since <= ts <= until, nulls skipped, in time order within each chunk. `keys`, when given,
    receives the `identity` of every sample in the range (readers skip raw copies of them)."""
    model = GoplsChunk if per_process else SystemChunk
    rows = (
        model.objects.filter(
            machine_id=machine_pk, hour__gte=floor_time(since, 3600), hour__lte=until
        )
        .order_by("hour")
        .values_list("process_id" if per_process else "machine_id", "data")
    )
    lo, hi = codec.to_micros(since), codec.to_micros(until)
    out: dict = {}
    for key, blob in rows:
        _, cols = codec.unpack(blob)
        ts = cols["ts"][1]
        keep = (ts >= lo) & (ts <= hi)
        if not keep.any():
            continue
        per = out.setdefault(key if per_process else None, {c: [] for c in columns})
        if keys is not None:
            keys.update(_identities(per_process, key, cols, keep))
        times = [codec.from_micros(t) for t in ts.tolist()]
        for column in columns:
            if column not in cols:
                continue
            _, values, mask = cols[column]
            take = np.flatnonzero(keep & ~mask)
            listed = values.tolist()
            per[column].extend((times[i], listed[i]) for i in take.tolist())
    return out


def _identities(per_process: bool, key, cols: dict, keep: np.ndarray) -> list[tuple]:
    collected = cols["collected_at"][1][keep].tolist()
    if per_process:
        return [(key, t) for t in collected]
    return list(zip(cols["sample_uid"][1][keep].tolist(), collected))


def latest_value(machine_pk: int, column: str, since: datetime, until: datetime):
    """The newest non-null value of a system column in chunks over [since, until], or None."""
    points = chunk_points(False, machine_pk, [column], since, until).get(None, {}).get(column)
    return max(points, key=lambda p: p[0])[1] if points else None


def machines_with_chunks(machine_pks, since: datetime, until: datetime) -> set[int]:
    """Machines with compacted system samples in hours touching [since, until]."""
    return set(
        SystemChunk.objects.filter(
            machine_id__in=list(machine_pks), hour__gte=floor_time(since, 3600), hour__lte=until
        )
        .values_list("machine_id", flat=True)
        .distinct()
    )


def oom_victims(machine_pks, since: datetime, until: datetime) -> dict[int, dict[tuple, list]]:
    """{machine pk: {sample identity: victims}} from `detail.system.oom_victims` of compacted
    samples in [since, until]; only chunks flagged at compaction as holding some are decoded."""
    out: dict[int, dict[tuple, list]] = {}
    rows = SystemChunk.objects.filter(
        machine_id__in=list(machine_pks),
        hour__gte=floor_time(since, 3600),
        hour__lte=until,
        has_oom_victims=True,
    ).values_list("machine_id", "data")
    lo, hi = codec.to_micros(since), codec.to_micros(until)
    for machine_pk, blob in rows:
        _, cols = codec.unpack(blob)
        ts, details = cols["ts"][1].tolist(), cols["detail"][1].tolist()
        uids, collected = cols["sample_uid"][1].tolist(), cols["collected_at"][1].tolist()
        for t, detail, uid, at in zip(ts, details, uids, collected):
            if lo <= t <= hi and isinstance(detail, dict):
                system = detail.get("system")
                victims = system.get("oom_victims") if isinstance(system, dict) else None
                if isinstance(victims, list):
                    out.setdefault(machine_pk, {})[identity(False, None, uid, at)] = victims
    return out
