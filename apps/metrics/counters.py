"""Ingest throughput counters in the cache (Redis in production): uploads and samples per minute.

Counted in memory and written to the cache at most once a second per process (FLUSH_AFTER_S):
an upload costs no cache round trip (one per upload was about a tenth of an upload's CPU,
measured), and the counts of each minute still land in that minute's keys. A timer thread writes
what one second gathered, so counts never wait for the next upload; `rates()` writes this
process's counts first, and they are written at exit. These are throughput figures for
`/metrics`: at most the last second of a process killed outright goes uncounted.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import datetime, timedelta

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

WINDOW_MINUTES = 5
FLUSH_AFTER_S = 1.0

log = logging.getLogger(__name__)


def _key(kind: str, minute: datetime) -> str:
    return f"ingest:{kind}:{minute:%Y%m%d%H%M}"


class _Pending:
    """This process's counts not yet in the cache: {minute: [uploads, samples]}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[datetime, list[int]] = {}
        self.timer: threading.Timer | None = None
        self.pid = os.getpid()

    def add(self, minute: datetime, samples: int) -> None:
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's counts are the parent's
                self.counts, self.timer, self.pid = {}, None, os.getpid()
            entry = self.counts.get(minute)
            if entry is None:
                self.counts[minute] = [1, samples]
            else:
                entry[0] += 1
                entry[1] += samples
            if self.timer is None:
                self.timer = threading.Timer(FLUSH_AFTER_S, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def take(self) -> dict[datetime, list[int]]:
        with self.lock:
            counts, self.counts = self.counts, {}
            if self.timer is not None and self.pid == os.getpid():
                self.timer.cancel()
            self.timer = None
            return counts if self.pid == os.getpid() else {}

    def flush(self) -> None:
        counts = self.take()
        if not counts:
            return
        try:
            _write(counts)
        except Exception:  # the cache is down: these counts are lost, uploads are not
            log.warning("could not write the ingest counters", exc_info=True)


_pending = _Pending()
atexit.register(_pending.flush)


def count_upload(samples: int, now: datetime | None = None) -> None:
    """Count one stored upload of `samples` new samples (written to the cache within a second)."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    _pending.add(minute, samples)


def flush_counts() -> None:
    """Write this process's pending counts to the cache now."""
    _pending.flush()


def _write(counts: dict[datetime, list[int]]) -> None:
    timeout = (WINDOW_MINUTES + 2) * 60
    client = _redis_client()
    if client is not None:
        # One round trip on one pooled client (Django builds a client per command).
        pipe = client.pipeline(transaction=False)
        for minute, amounts in counts.items():
            for kind, amount in zip(("uploads", "samples"), amounts):
                key = cache.make_and_validate_key(_key(kind, minute))
                pipe.set(key, 0, ex=timeout, nx=True)  # = cache.add(key, 0, timeout)
                pipe.incrby(key, amount)
        pipe.execute()
        return
    for minute, amounts in counts.items():
        for kind, amount in zip(("uploads", "samples"), amounts):
            key = _key(kind, minute)
            # add() then incr(): the key expires once out of every window.
            cache.add(key, 0, timeout=timeout)
            try:
                cache.incr(key, amount)
            except ValueError:  # expired between add and incr
                cache.set(key, amount, timeout=timeout)


_clients: dict = {}  # {(pid, Redis servers): client}


def _redis_client():
    """The pooled, thread-safe redis-py client behind the default cache if it is Django's
    one-server Redis cache, else None; one per process and server (the flushes run on timer
    threads, and Django's cache objects, each with its own connection pool, are per thread)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache) or len(backend._cache._servers) != 1:
        return None
    key = (os.getpid(), tuple(backend._cache._servers))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = backend._cache.get_client(write=True)
    return client


def rates(now: datetime | None = None) -> dict[str, float]:
    """Per-second upload and sample rates over the last complete minutes."""
    flush_counts()
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    minutes = [minute - timedelta(minutes=i) for i in range(1, WINDOW_MINUTES + 1)]
    out = {}
    for kind in ("uploads", "samples"):
        values = cache.get_many([_key(kind, m) for m in minutes])
        out[kind] = sum(values.values()) / (WINDOW_MINUTES * 60)
    return out
