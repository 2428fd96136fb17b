"""Ingest throughput counters in the cache (Redis in production): uploads and samples per minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

WINDOW_MINUTES = 5


def _key(kind: str, minute: datetime) -> str:
    return f"ingest:{kind}:{minute:%Y%m%d%H%M}"


def count_upload(samples: int, now: datetime | None = None) -> None:
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    for kind, amount in (("uploads", 1), ("samples", samples)):
        key = _key(kind, minute)
        # add() then incr(): atomic in Redis; the key expires once out of every window.
        cache.add(key, 0, timeout=(WINDOW_MINUTES + 2) * 60)
        try:
            cache.incr(key, amount)
        except ValueError:  # expired between add and incr
            cache.set(key, amount, timeout=(WINDOW_MINUTES + 2) * 60)


def rates(now: datetime | None = None) -> dict[str, float]:
    """Per-second upload and sample rates over the last complete minutes."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    minutes = [minute - timedelta(minutes=i) for i in range(1, WINDOW_MINUTES + 1)]
    out = {}
    for kind in ("uploads", "samples"):
        values = cache.get_many([_key(kind, m) for m in minutes])
        out[kind] = sum(values.values()) / (WINDOW_MINUTES * 60)
    return out
