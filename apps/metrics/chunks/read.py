"""Reading compacted history: one machine's chunk points over a time range, with numpy."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from apps.metrics.chunks import codec
from apps.metrics.models import GoplsChunk, SystemChunk
from apps.metrics.rollups import floor_time


def chunk_points(
    per_process: bool, machine_pk: int, columns: list[str], since: datetime, until: datetime
) -> dict:
    """{process pk or None: {column: [(ts, value)]}} of the samples in chunks with
    since <= ts <= until, nulls skipped, in time order within each chunk."""
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
        times = [codec.from_micros(t) for t in ts.tolist()]
        for column in columns:
            if column not in cols:
                continue
            _, values, mask = cols[column]
            take = np.flatnonzero(keep & ~mask)
            listed = values.tolist()
            per[column].extend((times[i], listed[i]) for i in take.tolist())
    return out
