"""Pure parsers for gopls debug-server pages: memstats trailer, goroutines, /metrics/, /rpc/."""

from __future__ import annotations

import html
import math
import re
from typing import Any
from urllib.parse import unquote, urlparse

_MEMSTATS = {
    "HeapInuse": "heap_inuse_bytes",
    "HeapAlloc": "heap_alloc_bytes",
    "Sys": "sys_bytes",
    "NextGC": "next_gc_bytes",
    "NumGC": "num_gc",
    "GCCPUFraction": "gc_cpu_fraction",
    "MaxRSS": "max_rss_bytes",
}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", ""}
# Figures outside these bounds are not real (and the report schema refuses them).
MAX_COUNT = 2**63 - 1
MAX_COUNT32 = 2**31 - 1


def _figure(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= MAX_COUNT


def parse_memstats_trailer(text: str) -> dict[str, Any]:
    """`# Name = value` lines of /debug/pprof/heap?debug=1 → schema field names."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.startswith("# ") or " = " not in line:
            continue
        name, _, value = line[2:].partition(" = ")
        field = _MEMSTATS.get(name.strip())
        if not field:
            continue
        try:
            number = float(value) if field == "gc_cpu_fraction" else int(value)
        except ValueError:
            continue
        if _figure(number):
            out[field] = number
    return out


def parse_goroutine_total(text: str) -> int | None:
    """First line of /debug/pprof/goroutine?debug=1: `goroutine profile: total N`."""
    m = re.match(r"\s*goroutine profile: total (\d+)", text)
    total = int(m.group(1)) if m else None
    return total if total is not None and total <= MAX_COUNT32 else None


def parse_debug_addr(argv: list[str]) -> str | None:
    """The -debug address from gopls argv (`-debug=ADDR`, `-debug ADDR`, `--debug=ADDR`)."""
    for i, arg in enumerate(argv[1:], 1):
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or name != "debug":
            continue
        if sep:
            return value
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def split_addr(addr: str) -> tuple[str, int] | None:
    """`localhost:6060` / `:6060` / `[::1]:0` → (host, port); None if not parseable."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def is_local(host: str) -> bool:
    return host.lower() in LOCAL_HOSTS


# ---- /metrics/ (lenient: labels are printed as a Go slice in brackets) -------------------

_METRIC_LINE = re.compile(r"^([A-Za-z_:][\w:]*)\{(.*)\}\s+(\S+)\s*$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[str, dict[str, Any]]:
    """/metrics/ text → {method: {count, errors, mean_ms, p50_ms, p95_ms, p99_ms}} (inbound)."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    sums: dict[str, float] = {}
    started: dict[str, int] = {}
    errors: dict[str, int] = {}
    scale: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC_LINE.match(line.strip())
        if not m:
            continue
        name, labels_text, value_text = m.groups()
        labels = dict(_LABEL.findall(labels_text))
        method = labels.get("method")
        if not method or labels.get("direction", "in") != "in":
            continue
        try:
            value = float(value_text)
        except ValueError:
            continue
        if not _figure(value):
            continue
        if name.startswith("latency"):
            factor = 1000.0 if "second" in name else 1.0
            if name.endswith("_bucket") and "le" in labels:
                try:
                    le = float("inf") if labels["le"] == "+Inf" else float(labels["le"]) * factor
                except ValueError:
                    continue
                if math.isnan(le) or le < 0:
                    continue
                buckets.setdefault(method, []).append((le, value))
            elif name.endswith("_sum"):
                sums[method] = value * factor
            scale[method] = factor
        elif name == "started":
            started[method] = int(value)
        elif name == "completed":
            status = labels.get("status") or labels.get("code") or ""
            if status and status.upper() not in ("OK", "0"):
                errors[method] = errors.get(method, 0) + int(value)
    out: dict[str, dict[str, Any]] = {}
    for method in set(started) | set(buckets):
        entry: dict[str, Any] = {"count": started.get(method), "errors": errors.get(method, 0)}
        cum = sorted(buckets.get(method, []))
        total = cum[-1][1] if cum else 0
        if total:
            entry["count"] = int(total)
            if method in sums:
                entry["mean_ms"] = round(sums[method] / total, 3)
            for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
                entry[key] = _quantile_cumulative(cum, q)
        out[method] = entry
    return out


def _quantile_cumulative(cum: list[tuple[float, float]], q: float) -> float | None:
    total = cum[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in cum:
        if count >= rank:
            if le == float("inf"):
                return round(prev_le, 3)
            width = count - prev_count
            frac = (rank - prev_count) / width if width else 1.0
            return round(prev_le + (le - prev_le) * frac, 3)
        prev_le, prev_count = le, count
    return round(prev_le, 3)


# ---- /rpc/ HTML page (older gopls have no latency histogram in /metrics/) ------------------

_RPC_BLOCK = re.compile(r"<b>([^<]+)</b>\s*(\d+)\s*<a[^>]*>traces</a>(.*?)</P>", re.S | re.I)
_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ns|μs|µs|us|ms|s|m|h)\b")
_UNIT_MS = {"ns": 1e-6, "μs": 1e-3, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4,
            "h": 3.6e6}


def parse_duration_ms(text: str) -> float | None:
    """The first Go duration in text (`1.5ms`, `2s`) in milliseconds, or None."""
    m = _DURATION.search(text)
    ms = float(m.group(1)) * _UNIT_MS[m.group(2)] if m else None
    return ms if ms is not None and _figure(ms) else None


def parse_rpc_page(page: str) -> dict[str, dict[str, Any]]:
    """Inbound section of /rpc/ → per-method count, errors, mean and bucket quantiles (ms)."""
    inbound = page.split("Outbound", 1)[0]
    out: dict[str, dict[str, Any]] = {}
    for method, _traces, body in _RPC_BLOCK.findall(inbound):
        text = html.unescape(body)
        entry: dict[str, Any] = {"count": None, "errors": 0}
        lat = re.search(r"<i>Latency</i>\s*([^(<]+)", text)
        if lat:
            entry["mean_ms"] = _round(parse_duration_ms(lat.group(1)))
        bucket = re.search(r"<i>By bucket</i>(.*?)<br>", text, re.S)
        if bucket:
            ranges = _parse_bucket_ranges(bucket.group(1))
            total = sum(c for _, _, c in ranges)
            entry["count"] = total
            for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
                entry[key] = _quantile_ranges(ranges, q) if total else None
        codes = re.search(r"<i>Result codes</i>(.*)", text, re.S)
        if codes:
            for code, n in re.findall(r"(\w+)=(\d+)", codes.group(1)):
                if code.upper() != "OK":
                    entry["errors"] += int(n)
        out[method.strip()] = entry
    return out


def _parse_bucket_ranges(text: str) -> list[tuple[float, float, int]]:
    """`0s <b>10</b> 10.00ms <b>77</b> 50.00ms` → [(0, 10, 10), (10, 50, 77)] in ms."""
    tokens = re.findall(r"<b>(\d+)</b>|([\d.]+(?:ns|μs|µs|us|ms|s|m|h))", text)
    edges_counts: list[tuple[str, float | int]] = []
    for count, edge in tokens:
        if count:
            edges_counts.append(("c", int(count)))
        else:
            edges_counts.append(("e", parse_duration_ms(edge) or 0.0))
    ranges = []
    for i, (kind, value) in enumerate(edges_counts):
        if kind == "c" and 0 < i < len(edges_counts) - 1:
            lo, hi = edges_counts[i - 1], edges_counts[i + 1]
            if lo[0] == "e" and hi[0] == "e":
                ranges.append((float(lo[1]), float(hi[1]), int(value)))
    return ranges


def _quantile_ranges(ranges: list[tuple[float, float, int]], q: float) -> float | None:
    total = sum(c for _, _, c in ranges)
    rank, seen = q * total, 0.0
    for lo, hi, count in ranges:
        if seen + count >= rank:
            frac = (rank - seen) / count if count else 1.0
            return round(lo + (hi - lo) * frac, 3)
        seen += count
    return round(ranges[-1][1], 3) if ranges else None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


# ---- / and /session/N pages: workspace roots --------------------------------------------

def parse_view_roots(page: str) -> list[str]:
    """`View N ... in file:///path` entries of the / page → local paths of the gopls views."""
    roots: list[str] = []
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for uri in re.findall(r"View \d+.*? in (file://[^\s<\"]+)", text):
        try:
            path = unquote(urlparse(uri).path)
        except ValueError:  # e.g. an unbalanced [ in the host part
            continue
        if re.match(r"^/[A-Za-z]:/", path):  # file:///C:/x on Windows
            path = path[1:]
        if path not in roots:
            roots.append(path)
    return roots[:32]
