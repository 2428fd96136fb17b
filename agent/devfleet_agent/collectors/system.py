"""System collector: memory, swap, CPU, load, uptime, OOM kills, free disk under Go caches."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import psutil

from devfleet_agent.collectors.base import CollectorContext, collector
from devfleet_agent.probes import procfs

DISK_EVERY_S = 60.0


@collector("system", budget_ms=30.0)
def collect_system(ctx: CollectorContext) -> dict[str, Any]:
    """Machine memory/CPU/load/uptime/OOM facts and free space where Go caches and code live."""
    st = ctx.cache("system")
    linux = ctx.platform.startswith("linux") and (ctx.proc_root / "meminfo").exists()
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if linux:
        out.update(_linux_memory(ctx))
        out["cpu_percent"] = _linux_cpu_percent(ctx, st)
        try:
            out["load"] = procfs.parse_loadavg(ctx.read_text(ctx.proc_root / "loadavg", 4096))
        except (OSError, ValueError):
            out["load"] = None
        try:
            out["uptime_s"] = float(ctx.read_text(ctx.proc_root / "uptime", 256).split()[0])
        except (OSError, ValueError, IndexError):
            out["uptime_s"] = None
        out.update(_oom(ctx, st))
    else:
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        out.update({
            "mem_total_bytes": vm.total, "mem_available_bytes": vm.available,
            "mem_cached_bytes": getattr(vm, "cached", None), "swap_total_bytes": sw.total,
            "swap_used_bytes": sw.used, "cpu_percent": psutil.cpu_percent(None),
            "uptime_s": max(0.0, ctx.now() - psutil.boot_time()),
        })
        try:
            out["load"] = [round(x, 2) for x in psutil.getloadavg()]
        except (OSError, AttributeError):
            out["load"] = None
    ctx.facts.meminfo = {k: out.get(k) for k in ("mem_total_bytes", "mem_cached_bytes")}
    now = ctx.monotonic()
    if now >= st.get("disks_at", 0):
        st["disks_at"] = now + DISK_EVERY_S
        st["disks"] = disks(ctx)
    out["disks"] = st["disks"]
    return {"system": out}


def _linux_memory(ctx: CollectorContext) -> dict[str, Any]:
    mem = procfs.parse_meminfo(ctx.read_text(ctx.proc_root / "meminfo", 65536))
    swap_total = mem.get("SwapTotal")
    return {
        "mem_total_bytes": mem.get("MemTotal"),
        "mem_available_bytes": mem.get("MemAvailable"),
        "mem_cached_bytes": mem.get("Cached"),
        "swap_total_bytes": swap_total,
        "swap_used_bytes": (swap_total - mem.get("SwapFree", 0))
        if swap_total is not None else None,
    }


def _linux_cpu_percent(ctx: CollectorContext, st: dict[str, Any]) -> float | None:
    try:
        first = ctx.read_text(ctx.proc_root / "stat", 4096).splitlines()[0].split()
        values = [int(x) for x in first[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + values[4]
    total = sum(values)
    prev = st.get("cpu")
    st["cpu"] = (idle, total)
    if not prev or total <= prev[1]:
        return None
    return round(100.0 * (1 - (idle - prev[0]) / (total - prev[1])), 2)


def _oom(ctx: CollectorContext, st: dict[str, Any]) -> dict[str, Any]:
    try:
        count = procfs.vmstat_value(ctx.read_text(ctx.proc_root / "vmstat", 1 << 16), "oom_kill")
    except OSError:
        return {"oom_kill_count": None}
    out: dict[str, Any] = {"oom_kill_count": count}
    if count and count != st.get("oom_seen"):
        st["oom_seen"] = count
        victims = read_oom_victims(ctx)
        if victims is not None:
            st["oom_victims"] = victims
    if st.get("oom_victims"):
        out["oom_victims"] = st["oom_victims"]
    return out


def read_oom_victims(ctx: CollectorContext, max_bytes: int = 2 << 20) -> list[dict] | None:
    """Recent OOM victims from the kernel log (/dev/kmsg), when this user may read it."""
    path = ctx.host_path("/dev/kmsg")
    chunks: list[str] = []
    total = 0
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        while total < max_bytes:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE when records were overwritten: keep going
                continue
            if not rec:
                break
            total += len(rec)
            chunks.append(rec.decode("utf-8", "replace"))
    finally:
        os.close(fd)
    return procfs.parse_oom_victims("\n".join(chunks))


def disks(ctx: CollectorContext) -> list[dict[str, Any]]:
    """Free/total bytes per volume holding the Go caches, workspaces and home."""
    purposes: dict[str, list[str]] = {}
    for purpose, path in ctx.facts.cache_dirs.items():
        purposes.setdefault(str(path), []).append(purpose)
    for proc in ctx.facts.gopls.values():
        if proc.cwd:
            purposes.setdefault(proc.cwd, []).append("workspace")
    purposes.setdefault(str(ctx.home), []).append("home")
    mounts = _mounts(ctx)
    by_dev: dict[Any, dict[str, Any]] = {}
    for raw_path, kinds in purposes.items():
        path = _existing_parent(ctx.host_path(raw_path))
        if path is None:
            continue
        try:
            dev = os.stat(path).st_dev
            usage = shutil.disk_usage(path)
        except OSError:
            continue
        disk = by_dev.get(dev)
        if disk is None:
            mount, fstype = _mount_of(str(path), mounts)
            disk = by_dev[dev] = {"path": mount or str(path), "purposes": [], "fstype": fstype,
                                  "free_bytes": usage.free, "total_bytes": usage.total}
        for kind in kinds:
            if kind not in disk["purposes"]:
                disk["purposes"].append(kind)
    return list(by_dev.values())[:16]


def _existing_parent(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def _mounts(ctx: CollectorContext) -> list[tuple[str, str]]:
    if ctx.platform.startswith("linux"):
        try:
            text = ctx.read_text(ctx.proc_root / "self" / "mounts", 1 << 20)
            return [(p[1].replace("\\040", " "), p[2]) for p in
                    (line.split() for line in text.splitlines()) if len(p) >= 3]
        except OSError:
            return []
    try:
        return [(p.mountpoint, p.fstype) for p in psutil.disk_partitions(all=False)]
    except (OSError, RuntimeError):
        return []


def _mount_of(path: str, mounts: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    best: tuple[str | None, str | None] = (None, None)
    for mount, fstype in mounts:
        prefix = mount.rstrip("/\\") + ("/" if mount not in ("/", "") else "")
        if (path == mount or path.startswith(prefix) or mount == "/") and \
                len(mount) >= len(best[0] or ""):
            best = (mount, fstype)
    return best
