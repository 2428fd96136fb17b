"""Pure parsers for Linux /proc and /sys text files (no I/O; tests feed them real captures)."""

from __future__ import annotations

import math
import re

KB = 1024
# Larger values cannot be real counters and do not fit the report schema's 64-bit integers.
MAX_VALUE = 2**63 - 1


def parse_kv_kb(text: str) -> dict[str, int]:
    """Parse `Key:  123 kB` lines (meminfo, status) to bytes; unit-less values stay as is.

    Lines whose value is not a number in 0 .. 2**63-1 (after the kB scaling) are skipped.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1] == "kB":
            value *= KB
        if 0 <= value <= MAX_VALUE:
            out[key.strip()] = value
    return out


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo → {"MemTotal": bytes, ...}."""
    return parse_kv_kb(text)


def parse_status(text: str) -> dict[str, object]:
    """/proc/PID/status → name, ppid, uids, threads, vm_rss_bytes, vm_hwm_bytes."""
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep:
            raw[key.strip()] = rest.strip()
    kb = parse_kv_kb(text)
    uid = raw.get("Uid", "").split()
    return {
        "name": raw.get("Name"),
        "pid": _int(raw.get("Pid")),
        "ppid": _int(raw.get("PPid")),
        "uid": _int(uid[0]) if uid else None,
        "threads": _int(raw.get("Threads")),
        "vm_rss_bytes": kb.get("VmRSS"),
        "vm_hwm_bytes": kb.get("VmHWM"),
        "vm_swap_bytes": kb.get("VmSwap"),
    }


def parse_stat(text: str) -> dict[str, object]:
    """/proc/PID/stat → pid, comm, state, ppid, utime/stime ticks, threads, starttime ticks.

    Raises ValueError when the text is not a whole stat line (a truncated read included).
    """
    lparen, rparen = text.find("("), text.rfind(")")
    if lparen < 0 or rparen < lparen:
        raise ValueError("not a /proc/PID/stat line")
    fields = text[rparen + 2 :].split()
    if len(fields) < 22:
        raise ValueError(f"/proc/PID/stat line has {len(fields)} fields after comm, not 22+")
    return {
        "pid": int(text[:lparen].strip()),
        "comm": text[lparen + 1 : rparen],
        "state": fields[0],
        "ppid": int(fields[1]),
        "utime_ticks": int(fields[11]),
        "stime_ticks": int(fields[12]),
        "threads": int(fields[17]),
        "starttime_ticks": int(fields[19]),
        "rss_pages": int(fields[21]),
    }


def parse_cmdline(data: bytes) -> list[str]:
    """NUL-separated /proc/PID/cmdline → argv (a trailing NUL is not an extra argument)."""
    if not data:
        return []
    return [a.decode("utf-8", "replace") for a in data.rstrip(b"\0").split(b"\0")]


def parse_environ(data: bytes, keep: frozenset[str] | set[str]) -> dict[str, str]:
    """NUL-separated environ → only the whitelisted variables."""
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            name = key.decode("utf-8", "replace")
            if name in keep:
                out[name] = value.decode("utf-8", "replace")[:1024]
    return out


def parse_limits(text: str) -> dict[str, tuple[int | None, int | None]]:
    """/proc/PID/limits → {"Max open files": (soft, hard)}; None means unlimited.

    Lines whose limits are neither a number nor `unlimited` are skipped.
    """
    out: dict[str, tuple[int | None, int | None]] = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            try:
                out[m.group(1)] = (_limit(m.group(2)), _limit(m.group(3)))
            except ValueError:
                continue
    return out


def parse_fd_links(text: str) -> dict[int, str]:
    """`fd -> target` lines (a capture of readlink over /proc/PID/fd) → {fd: target}."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        fd, sep, target = line.partition(" -> ")
        if sep and fd.strip().isdigit():
            out[int(fd.strip())] = target.strip()
    return out


def count_inotify_watches(fdinfo: str) -> int:
    """Number of `inotify wd:` lines in one /proc/PID/fdinfo/FD file."""
    return sum(1 for line in fdinfo.splitlines() if line.startswith("inotify wd:"))


def parse_loadavg(text: str) -> list[float]:
    """/proc/loadavg → the 1, 5 and 15 minute loads; ValueError unless finite and >= 0."""
    loads = [float(x) for x in text.split()[:3]]
    if not all(math.isfinite(x) and x >= 0 for x in loads):
        raise ValueError(f"not load averages: {text[:64]!r}")
    return loads


def parse_vmstat(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def vmstat_value(text: str, name: str) -> int | None:
    """One counter of /proc/vmstat without parsing the other ~180 lines."""
    prefix = name + " "
    if text.startswith(prefix):
        start = 0
    else:
        start = text.find("\n" + prefix)
        if start < 0:
            return None
        start += 1
    end = text.find("\n", start)
    try:
        return int(text[start : end if end >= 0 else None].split()[1])
    except (IndexError, ValueError):
        return None


def parse_inotify_limits(text: str) -> dict[str, int]:
    """`name value` lines (a capture of /proc/sys/fs/inotify/*) → {name: value}."""
    return parse_vmstat(text)


def parse_cgroup(text: str) -> str | None:
    """/proc/PID/cgroup → the cgroup v2 path (the `0::` line), or None on a v1-only host."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def parse_cgroup_value(text: str) -> int | None:
    """memory.max / memory.current → bytes; `max` → None (no limit); ValueError otherwise."""
    value = text.strip()
    if not value or value == "max":
        return None
    number = int(value)
    if not 0 <= number <= MAX_VALUE:
        raise ValueError(f"not a byte count: {value[:64]!r}")
    return number


def parse_oom_victims(kmsg: str, limit: int = 32) -> list[dict[str, object]]:
    """`Out of memory: Killed process PID (name) ... anon-rss:NkB` kernel lines → victims."""
    out: list[dict[str, object]] = []
    pat = re.compile(
        r"(?:\[\s*(?P<at>[\d.]+)\])?.*?Killed process (?P<pid>\d+) \((?P<name>[^)]*)\)"
        r"(?:.*?anon-rss:(?P<rss>\d+)kB)?"
    )
    for line in kmsg.splitlines():
        m = pat.search(line)
        if m:
            rss = m.group("rss")
            out.append({
                "pid": int(m.group("pid")),
                "name": m.group("name")[:512],
                "rss_bytes": int(rss) * KB if rss else None,
                "at": m.group("at"),
            })
    return out[-limit:]


def _int(value: str | None) -> int | None:
    """A non-negative int, or None when absent or not one (pids, uids and counts are >= 0)."""
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is None or 0 <= number <= MAX_VALUE else None


def _limit(value: str) -> int | None:
    if value == "unlimited":
        return None
    number = int(value)
    if not 0 <= number <= MAX_VALUE:
        raise ValueError(f"not a limit: {value!r}")
    return number
