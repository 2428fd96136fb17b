"""Bucket aggregates over raw samples and chunks together, for detection's fleet reads.

`apps.metrics.reader.read_buckets` aggregates raw samples in SQL; keys (machines or gopls
lifetimes) that also have compacted hours in the range are aggregated here instead, in numpy,
from their raw rows and their chunks: the same rows [key, bucket, *series, (t_first, t_last,
n)] with the same aggregates (nulls ignored, as SQL's min/avg/max do).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from apps.metrics.chunks import codec
from apps.metrics.models import GoplsChunk, GoplsSample, SystemChunk, SystemSample
from apps.metrics.rollups import floor_time

REDUCE = {"min": np.nanmin, "max": np.nanmax, "avg": np.nanmean}


def _models(per_process: bool):
    return (GoplsChunk, GoplsSample) if per_process else (SystemChunk, SystemSample)


def keys_with_chunks(per_process: bool, keys, since: datetime, until: datetime) -> set[int]:
    chunk, _ = _models(per_process)
    field = "process_id" if per_process else "machine_id"
    return set(
        chunk.objects.filter(
            **{f"{field}__in": list(keys)},
            hour__gte=floor_time(since, 3600),
            hour__lte=until,
        )
        .values_list(field, flat=True)
        .distinct()
    )


def _points(per_process: bool, key: int, columns: list[str], since, until) -> np.ndarray:
    """[epoch seconds, *columns] rows of one key from raw samples and chunks (NaN for null),
    each sample once: raw copies of samples a chunk holds (resends) are skipped."""
    chunk, raw = _models(per_process)
    field = "process_id" if per_process else "machine_id"
    lo, hi = codec.to_micros(since), codec.to_micros(until)
    parts = []
    known: set = set()
    blobs = chunk.objects.filter(
        **{field: key}, hour__gte=floor_time(since, 3600), hour__lte=until
    ).values_list("data", flat=True)
    for blob in blobs:
        _, cols = codec.unpack(blob)
        ts = cols["ts"][1]
        keep = (ts >= lo) & (ts <= hi)
        if not keep.any():
            continue
        collected = cols["collected_at"][1][keep].tolist()
        if per_process:
            known.update((key, t) for t in collected)
        else:
            known.update(zip(cols["sample_uid"][1][keep].tolist(), collected))
        block = [ts[keep] / 1e6]
        for column in columns:
            if column not in cols:
                block.append(np.full(int(keep.sum()), np.nan))
                continue
            _, values, mask = cols[column]
            v = values.astype(float)
            v[mask] = np.nan
            block.append(v[keep])
        parts.append(np.column_stack(block))
    identity = ("collected_at",) if per_process else ("sample_uid", "collected_at")
    rows = raw.objects.filter(**{field: key}, ts__gte=since, ts__lte=until).values_list(
        "ts", *columns, *identity
    )
    width = 1 + len(columns)
    listed = []
    for row in rows:
        collected = codec.to_micros(row[-1])
        if ((key, collected) if per_process else (row[-2], collected)) in known:
            continue
        t, rest = row[0], row[1:width]
        listed.append(
            (codec.to_micros(t) / 1e6, *(np.nan if v is None else float(v) for v in rest))
        )
    if listed:  # raw rows first, as before chunks existed: the same float sums
        parts.insert(0, np.array(listed, dtype=float))
    if not parts:
        return np.empty((0, width), float)
    return np.vstack(parts)


def bucket_rows(per_process, series: dict, keys, since, until, bucket_s: int, *, times):
    """The reader's bucket rows of `keys`, sorted by key and bucket."""
    columns = [column for _, column, _ in series.values()]
    aggs = [agg for agg, _, _ in series.values()]
    out = []
    for key in sorted(keys):
        pts = _points(per_process, key, columns, since, until)
        if not pts.shape[0]:
            continue
        buckets = np.floor(pts[:, 0] / bucket_s)
        for b in np.unique(buckets):
            sel = pts[buckets == b]
            row = [float(key), float(b)]
            for i, agg in enumerate(aggs):
                col = sel[:, 1 + i]
                row.append(float(REDUCE[agg](col)) if np.isfinite(col).any() else np.nan)
            if times:
                row += [float(sel[:, 0].min()), float(sel[:, 0].max()), float(sel.shape[0])]
            out.append(row)
    width = 2 + len(columns) + (3 if times else 0)
    return np.array(out, dtype=float) if out else np.empty((0, width), float)
