"""Chunk column codecs: every kind round-trips exactly, including nulls, extremes, skewed
clocks and hostile blobs (which are refused, never half-read)."""

from __future__ import annotations

import math
import struct
import zlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from apps.metrics.chunks import codec

T0 = datetime(2026, 11, 23, 9, 0, 7, 123456, tzinfo=timezone.utc)


def roundtrip(kind: str, values: list) -> list:
    blob = codec.pack({"c": (kind, values)}, len(values))
    count, cols = codec.unpack(blob)
    assert count == len(values)
    _stored, data, mask = cols["c"]
    out = []
    for v, m in zip(data.tolist(), mask.tolist()):
        if m:
            out.append(None)
        elif kind == "time":
            out.append(codec.from_micros(v))
        else:
            out.append(v)
    return out


def test_times_with_gaps_duplicates_and_a_clock_stepping_back_round_trip_exactly():
    times = [T0 + timedelta(seconds=15 * i) for i in range(50)]
    times += [times[-1], times[-1] + timedelta(hours=5, microseconds=1)]  # duplicate, gap
    times += [times[-1] - timedelta(minutes=7, microseconds=3)]  # clock skew: back in time
    times += [None, T0]
    assert roundtrip("time", times) == times


def test_integers_with_nulls_and_extremes_round_trip_exactly():
    big = 2**63 - 1
    values = [0, 5, None, -(2**63), big, big, 7, None, 3_999_999_999, -1]
    assert roundtrip("int", values) == values
    assert roundtrip("int", []) == []
    assert roundtrip("int", [None, None]) == [None, None]
    assert roundtrip("int", [42]) == [42]


def test_floats_round_trip_bit_for_bit():
    values = [0.1, 0.1, None, -0.0, 1e308, 5e-324, math.inf, -math.inf, 33.333333333333336]
    out = roundtrip("float", values)
    assert [None if v is None else struct.pack("<d", v) for v in out] == [
        None if v is None else struct.pack("<d", v) for v in values
    ]
    assert math.isnan(roundtrip("float", [math.nan])[0])


def test_text_and_json_round_trip_including_hostile_strings():
    texts = ["a", "", None, "\u202e<script>", "line\nbreak", "\x00"]
    assert roundtrip("text", texts) == texts
    docs = [{}, {"system": {"disks": [{"free_bytes": 1}]}}, None, {"k": "\ud7ff"}]
    assert roundtrip("json", docs) == docs


def test_steady_samples_compress_to_a_few_bytes_per_value():
    n = 240
    times = [T0 + timedelta(seconds=15 * i) for i in range(n)]
    blob = codec.pack(
        {"ts": ("time", times), "limit": ("int", [65536] * n), "cpu": ("float", [1.5] * n)}, n
    )
    assert len(blob) / (3 * n) < 1.0


def test_a_truncated_or_corrupt_chunk_is_refused():
    blob = codec.pack({"c": ("int", [1, 2, 3])}, 3)
    with pytest.raises(ValueError, match="truncated"):
        codec.unpack(blob[:-3])
    with pytest.raises(ValueError):
        codec.unpack(zlib.compress(struct.pack("<I", 8) + b'{"v": 9}'))


def test_a_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(codec, "MAX_RAW_BYTES", 1 << 20)
    bomb = zlib.compress(b"\0" * (codec.MAX_RAW_BYTES + 1024), 9)
    with pytest.raises(ValueError, match="too large"):
        codec.unpack(bomb)


def test_decoded_arrays_are_numpy():
    _count, cols = codec.unpack(codec.pack({"x": ("float", [1.0, 2.0])}, 2))
    assert isinstance(cols["x"][1], np.ndarray)
    assert cols["x"][1].dtype == np.float64
