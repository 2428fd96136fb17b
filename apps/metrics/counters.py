"""Ingest throughput counters in the cache (Redis in production): uploads and samples per minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

WINDOW_MINUTES = 5


def _key(kind: str, minute: datetime) -> str:
    return f"ingest:{kind}:{minute:%Y%m%d%H%M}"


def count_upload(samples: int, now: datetime | None = None) -> None:
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    timeout = (WINDOW_MINUTES + 2) * 60
    counts = (("uploads", 1), ("samples", samples))
    client = _redis_client()
    if client is not None:
        # Every upload counts: one round trip on one pooled client instead of four commands,
        # each on a client Django builds anew (measured: a fifth of an upload's CPU).
        pipe = client.pipeline(transaction=False)
        for kind, amount in counts:
            key = cache.make_and_validate_key(_key(kind, minute))
            pipe.set(key, 0, ex=timeout, nx=True)  # = cache.add(key, 0, timeout)
            pipe.incrby(key, amount)
        pipe.execute()
        return
    for kind, amount in counts:
        key = _key(kind, minute)
        # add() then incr(): the key expires once out of every window.
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key, amount)
        except ValueError:  # expired between add and incr
            cache.set(key, amount, timeout=timeout)


def _redis_client():
    """The pooled, thread-safe redis-py client behind the default cache if it is Django's
    one-server Redis cache, else None; kept on the cache object (one per thread)."""
    backend = caches["default"]
    client = getattr(backend, "_counter_client", False)
    if client is False:
        client = None
        if isinstance(backend, RedisCache) and len(backend._cache._servers) == 1:
            client = backend._cache.get_client(write=True)
        backend._counter_client = client
    return client


def rates(now: datetime | None = None) -> dict[str, float]:
    """Per-second upload and sample rates over the last complete minutes."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    minutes = [minute - timedelta(minutes=i) for i in range(1, WINDOW_MINUTES + 1)]
    out = {}
    for kind in ("uploads", "samples"):
        values = cache.get_many([_key(kind, m) for m in minutes])
        out[kind] = sum(values.values()) / (WINDOW_MINUTES * 60)
    return out
