"""Column codecs of a history chunk: delta-of-delta times, delta integers, XOR floats, then zlib.

A chunk holds N rows of one sample table as one encoded array per column. Every codec is
lossless: times are integer microseconds since the epoch (second-order deltas), integers are
first-order deltas, floats are the XOR of each value's IEEE-754 bits with the previous one's
(Gorilla's idea; exact, no float32 rounding), text and JSON values are one JSON array. Deltas
are stored in the narrowest integer type that holds them; nulls are a packed bitmap. The
whole chunk is compressed once with zlib (stdlib: the same bytes on SQLite and PostgreSQL, no
extra dependency). Decoding gives numpy arrays with a null mask.
"""

from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np

VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICRO = timedelta(microseconds=1)
KINDS = ("time", "int", "float", "text", "json")
# Decompressing more than this is refused: a chunk holds one hour of one machine or process.
MAX_RAW_BYTES = 64 * 1024 * 1024


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - EPOCH) // MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


def _narrow(values: np.ndarray) -> np.ndarray:
    """The same integers in the narrowest signed type that holds them."""
    if not values.size:
        return values.astype(np.int8)
    lo, hi = int(values.min()), int(values.max())
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= lo and hi <= info.max:
            return values.astype(kind)
    return values.astype(np.int64)


def _encode_ints(values: np.ndarray, order: int) -> tuple[bytes, str]:
    """Keep the first `order` values whole, then `order`-th differences, narrowed."""
    diffs = values.astype(np.int64)
    for _ in range(order):
        diffs = np.diff(diffs, prepend=np.int64(0))
    head = diffs[:order].astype("<i8").tobytes()
    tail = _narrow(diffs[order:])
    return head + tail.astype(tail.dtype.newbyteorder("<")).tobytes(), tail.dtype.str[1:]


def _decode_ints(data: bytes, count: int, order: int, dtype: str) -> np.ndarray:
    head = min(order, count)
    diffs = np.empty(count, np.int64)
    diffs[:head] = np.frombuffer(data[: 8 * head], "<i8")
    diffs[head:] = np.frombuffer(data[8 * head :], "<" + dtype)
    for _ in range(order):
        diffs = np.cumsum(diffs, dtype=np.int64)
    return diffs


def encode_column(kind: str, values: list) -> tuple[bytes, dict]:
    """One column's bytes (null bitmap first for numeric kinds) and its header fields."""
    if kind in ("text", "json"):
        return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode(), {}
    mask = np.array([v is None for v in values], dtype=bool)
    present = [v for v in values if v is not None]
    bitmap = np.packbits(mask).tobytes()
    if kind == "float":
        bits = np.array(present, dtype="<f8").view("<u8")
        xored = bits ^ np.concatenate([np.zeros(1, "<u8"), bits[:-1]]) if bits.size else bits
        return bitmap + xored.tobytes(), {}
    if kind == "time":
        ints = np.array([to_micros(v) for v in present], dtype=np.int64)
        body, dtype = _encode_ints(ints, 2)
    else:
        body, dtype = _encode_ints(np.array(present, dtype=np.int64), 1)
    return bitmap + body, {"dtype": dtype}


def decode_column(kind: str, data: bytes, count: int, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """(values, null mask). Numeric kinds give int64 (times: epoch microseconds) or float64
    arrays with zeros where null; text and JSON give object arrays."""
    if kind in ("text", "json"):
        values = np.empty(count, dtype=object)
        values[:] = json.loads(data.decode()) if count else []
        return values, np.array([v is None for v in values], dtype=bool)
    nbytes = (count + 7) // 8
    mask = np.unpackbits(np.frombuffer(data[:nbytes], np.uint8), count=count).astype(bool)
    body = data[nbytes:]
    present = int((~mask).sum())
    if kind == "float":
        bits = np.bitwise_xor.accumulate(np.frombuffer(body, "<u8")) if present else None
        out = np.zeros(count, np.float64)
        if present:
            out[~mask] = bits.view("<f8")
        return out, mask
    order = 2 if kind == "time" else 1
    out = np.zeros(count, np.int64)
    out[~mask] = _decode_ints(body, present, order, meta["dtype"])
    return out, mask


def pack(columns: dict[str, tuple[str, list]], count: int) -> bytes:
    """{name: (kind, values)} of `count` rows → one compressed chunk."""
    header = {"v": VERSION, "n": count, "cols": []}
    parts = []
    for name, (kind, values) in columns.items():
        body, meta = encode_column(kind, values)
        header["cols"].append({"name": name, "kind": kind, "len": len(body), **meta})
        parts.append(body)
    head = json.dumps(header, separators=(",", ":")).encode()
    return zlib.compress(struct.pack("<I", len(head)) + head + b"".join(parts), 6)


def unpack(
    blob: bytes, only: set[str] | None = None
) -> tuple[int, dict[str, tuple[str, np.ndarray, np.ndarray]]]:
    """A chunk → (row count, {name: (kind, values, null mask)}); with `only`, just those
    columns are decoded (the others are skipped, not returned)."""
    d = zlib.decompressobj()
    raw = d.decompress(bytes(blob), MAX_RAW_BYTES)
    if d.unconsumed_tail:
        raise ValueError("chunk too large")
    if not d.eof:
        raise ValueError("truncated chunk")
    (size,) = struct.unpack_from("<I", raw)
    header = json.loads(raw[4 : 4 + size])
    if header.get("v") != VERSION:
        raise ValueError(f"unknown chunk version {header.get('v')!r}")
    count = int(header["n"])
    offset = 4 + size
    out = {}
    for col in header["cols"]:
        data = raw[offset : offset + col["len"]]
        offset += col["len"]
        if only is not None and col["name"] not in only:
            continue
        values, mask = decode_column(col["kind"], data, count, col)
        out[col["name"]] = (col["kind"], values, mask)
    if offset != len(raw):
        raise ValueError("chunk length mismatch")
    return count, out
