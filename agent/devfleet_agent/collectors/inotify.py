"""inotify collector: per-user limits, watches and instances in use, top consumers (Linux)."""

from __future__ import annotations

import os
from typing import Any

from devfleet_agent.collectors.base import CollectorContext, CollectorUnsupported, collector
from devfleet_agent.probes import procfs

FULL_RESCAN_S = 300.0
FDINFO_MAX_BYTES = 16 << 20
LIMITS = ("max_user_watches", "max_user_instances", "max_queued_events")


@collector("inotify", interval_key="inotify_interval_s", budget_ms=150.0, platforms={"linux"})
def collect_inotify(ctx: CollectorContext) -> dict[str, Any]:
    """Watches/instances per process of this user (`inotify wd:` lines in fdinfo) vs the limits."""
    base = ctx.proc_root / "sys" / "fs" / "inotify"
    if not base.is_dir():
        raise CollectorUnsupported("no /proc/sys/fs/inotify")
    out: dict[str, Any] = {}
    for name in LIMITS:
        try:
            out[name] = int(ctx.read_text(base / name, 64).strip())
        except (OSError, ValueError):
            out[name] = None
    st = ctx.cache("inotify")
    now = ctx.monotonic()
    full = now >= st.get("full_at", 0)
    if full:
        st["full_at"] = now + FULL_RESCAN_S
    known: dict[int, bool] = st.setdefault("has_inotify", {})
    uid = _uid(ctx)
    users: list[dict[str, Any]] = []
    errors: list[str] = []
    live = set()
    for entry in os.scandir(ctx.proc_root):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        live.add(pid)
        if not full and known.get(pid) is False:
            continue
        try:
            if uid is not None and entry.stat().st_uid != uid:
                known[pid] = False
                continue
            counted = count_process(ctx, pid)
        except OSError:
            known.pop(pid, None)  # vanished or unreadable: try again next time
            continue
        if counted is None:
            known[pid] = False
            continue
        known[pid] = True
        watches, instances, truncated = counted
        if truncated:
            errors.append(f"pid {pid}: fdinfo over {FDINFO_MAX_BYTES} bytes, count truncated")
        users.append({"pid": pid, "name": _name(ctx, pid), "watches": watches,
                      "instances": instances})
    for pid in list(known):
        if pid not in live:
            del known[pid]
    out["watches_used"] = sum(u["watches"] for u in users)
    out["instances_used"] = sum(u["instances"] for u in users)
    out["top"] = sorted(users, key=lambda u: (-u["watches"], -u["instances"], u["pid"]))[:10]
    result: dict[str, Any] = {"inotify": out}
    ctx.facts.inotify_limits = {k: out[k] for k in LIMITS}
    if errors:
        result["_errors"] = errors[:8]
    return result


def count_process(ctx: CollectorContext, pid: int) -> tuple[int, int, bool] | None:
    """(watches, instances, truncated) of one process, or None when it has no inotify fd."""
    fd_dir = ctx.proc_root / str(pid) / "fd"
    instances = watches = 0
    truncated = False
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if target != "anon_inode:inotify":
            continue
        instances += 1
        try:
            n, cut = count_fdinfo(ctx.proc_root / str(pid) / "fdinfo" / fd)
        except OSError:
            continue
        watches += n
        truncated = truncated or cut
    return (watches, instances, truncated) if instances else None


def count_fdinfo(path: Any, max_bytes: int = FDINFO_MAX_BYTES) -> tuple[int, bool]:
    """Count `inotify wd:` lines while streaming, reading at most max_bytes."""
    count, total, carry = 0, 0, b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 16)
            if not chunk:
                return count + (1 if carry.startswith(b"inotify wd:") else 0), False
            total += len(chunk)
            data = carry + chunk
            lines = data.split(b"\n")
            carry = lines.pop()
            count += sum(1 for line in lines if line.startswith(b"inotify wd:"))
            if total >= max_bytes:
                return count + (1 if carry.startswith(b"inotify wd:") else 0), True


def _uid(ctx: CollectorContext) -> int | None:
    if str(ctx.proc_root) != "/proc" or not hasattr(os, "getuid"):
        return None  # fake trees: count everything
    return os.getuid()


def _name(ctx: CollectorContext, pid: int) -> str | None:
    try:
        return ctx.read_text(ctx.proc_root / str(pid) / "comm", 64).strip()
    except OSError:
        try:
            return procfs.parse_status(ctx.read_text(ctx.proc_root / str(pid) / "status"))["name"]
        except OSError:
            return None
