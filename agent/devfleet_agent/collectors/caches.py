"""Go cache sizes (GOCACHE, GOMODCACHE, gopls, goimports): an incremental, budgeted walk."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from devfleet_agent.collectors.base import CollectorContext, collector
from devfleet_agent.timefmt import iso

FIELDS = {"gocache": "gocache_bytes", "gomodcache": "gomodcache_bytes",
          "gopls_cache": "gopls_cache_bytes", "goimports_cache": "goimports_cache_bytes"}


class CacheWalk:
    """Resumable du: a stack of directories per cache; `step()` stops when its budget is spent."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.pending = [(purpose, [str(path)]) for purpose, path in roots.items()]
        self.roots = {purpose: str(path) for purpose, path in roots.items()}
        self.sizes: dict[str, int | None] = {p: 0 for p in roots}
        self.entries = 0
        self.started = time.time()

    @property
    def done(self) -> bool:
        return not self.pending

    def step(self, budget_s: float) -> None:
        deadline = time.perf_counter() + budget_s
        while self.pending:
            purpose, stack = self.pending[0]
            while stack:
                directory = stack.pop()
                try:
                    with os.scandir(directory) as it:
                        for entry in it:
                            self.entries += 1
                            try:
                                if entry.is_dir(follow_symlinks=False):
                                    stack.append(entry.path)
                                    continue
                                st = entry.stat(follow_symlinks=False)
                            except OSError:
                                continue
                            blocks = getattr(st, "st_blocks", None)
                            self.sizes[purpose] = (self.sizes[purpose] or 0) + (
                                blocks * 512 if blocks is not None else st.st_size)
                except FileNotFoundError:
                    if directory == self.roots[purpose]:
                        self.sizes[purpose] = None  # the cache does not exist
                except OSError:
                    pass
                if time.perf_counter() > deadline:
                    if not stack:
                        self.pending.pop(0)
                    return
            self.pending.pop(0)


@collector("go_caches", budget_ms=250.0)
def collect_go_caches(ctx: CollectorContext) -> dict[str, Any]:
    """Advance the cache walk by at most cache_walk_budget_ms; report sizes when a walk ends."""
    st = ctx.cache("go_caches")
    if "last" not in st:
        st.update(_load(ctx))
    walk: CacheWalk | None = st.get("walk")
    now = ctx.now()
    # after a restart, report the last finished walk once (it carries its measured_at)
    replay = {"go": {"caches": st["last"]}} if st.get("last") and not st.get("replayed") else {}
    st["replayed"] = True
    if walk is None:
        dirs = ctx.facts.cache_dirs
        interval = ctx.config.cache_walk_interval_s
        if st.get("next_at", 0) > now + interval:  # the clock was set back since then
            st["next_at"] = now + interval
        if not dirs or now < st.get("next_at", 0):
            return replay
        walk = st["walk"] = CacheWalk(dirs)
    walk.step(ctx.config.cache_walk_budget_ms / 1000.0)
    if not walk.done:
        return replay
    del st["walk"]
    st["next_at"] = now + ctx.config.cache_walk_interval_s
    caches: dict[str, Any] = {FIELDS[k]: v for k, v in walk.sizes.items() if k in FIELDS}
    caches.update(measured_at=iso(now), complete=True)
    st["last"], st["replayed"] = caches, True
    st["last_stats"] = {"entries": walk.entries, "seconds": round(now - walk.started, 3)}
    _save(ctx, caches, st["next_at"])
    return {"go": {"caches": caches}}


def _file(ctx: CollectorContext) -> Path | None:
    return ctx.state_dir / "caches.json" if ctx.state_dir else None


def _load(ctx: CollectorContext) -> dict[str, Any]:
    path = _file(ctx)
    try:
        data = json.loads(path.read_text()) if path and path.exists() else {}
        next_at = float(data.get("next_at", 0))
        # a hand-edited or corrupt file (inf, nan) must not postpone the walk forever
        return {"last": data.get("last"), "next_at": next_at if math.isfinite(next_at) else 0.0}
    except (OSError, ValueError, AttributeError, TypeError):  # corrupt: walk again
        return {"last": None}


def _save(ctx: CollectorContext, last: dict[str, Any], next_at: float) -> None:
    path = _file(ctx)
    if path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"last": last, "next_at": next_at}))
        except OSError:
            pass
