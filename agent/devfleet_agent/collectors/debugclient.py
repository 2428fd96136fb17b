"""Localhost-only HTTP reads from a gopls debug server: short timeouts, byte caps, never /gc."""

from __future__ import annotations

import http.client
import time
from typing import Any

from devfleet_agent.collectors import debugparse

FORBIDDEN_PATHS = ("/gc",)  # runs runtime.GC() three times: never called by the agent


class DebugServerError(Exception):
    """The debug server did not answer usefully (refused, timeout, non-200, garbage)."""


def fetch(
    host: str,
    port: int,
    path: str,
    timeout: float,
    max_bytes: int,
    *,
    first_line: bool = False,
    tail: int = 0,
) -> tuple[str, bool]:
    """GET path; return (text, truncated). `tail` keeps only the last N bytes while streaming."""
    if not debugparse.is_local(host):
        raise DebugServerError(f"refusing non-local debug address {host!r}")
    if path.split("?")[0].rstrip("/") in FORBIDDEN_PATHS:
        raise DebugServerError(f"{path} has side effects and is never fetched")
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "devfleet-agent", "Connection": "close"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise DebugServerError(f"GET {path}: HTTP {resp.status}")
        if first_line:
            line = resp.readline(max_bytes).rstrip(b"\r\n")
            return line.decode("utf-8", "replace"), True
        chunks: list[bytes] = []
        kept = 0
        total = 0
        truncated = False
        while True:
            if time.monotonic() > deadline:
                raise DebugServerError(f"GET {path}: timed out after {timeout:g}s")
            chunk = resp.read(65536)
            if not chunk:
                break
            total += len(chunk)
            chunks.append(chunk)
            kept += len(chunk)
            if tail:
                while kept - len(chunks[0]) >= tail and len(chunks) > 1:
                    kept -= len(chunks.pop(0))
            if total >= max_bytes:
                truncated = True
                break
        data = b"".join(chunks)
        if tail and len(data) > tail:
            data = data[-tail:]
        elif len(data) > max_bytes:
            data = data[:max_bytes]
        return data.decode("utf-8", "replace"), truncated
    except (OSError, http.client.HTTPException) as exc:
        raise DebugServerError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def scrape(host: str, port: int, timeout: float, heap_max_bytes: int,
           want_rpc: bool = True) -> dict[str, Any]:
    """Memstats, goroutines and RPC latency of one gopls; raises DebugServerError on failure."""
    out: dict[str, Any] = {}
    heap, truncated = fetch(host, port, "/debug/pprof/heap?debug=1", timeout, heap_max_bytes,
                            tail=32768)
    stats = debugparse.parse_memstats_trailer(heap) if not truncated else {}
    if not stats:
        raise DebugServerError("heap profile had no runtime.MemStats trailer"
                               + (" (over the byte cap)" if truncated else ""))
    out.update(stats)
    line, _ = fetch(host, port, "/debug/pprof/goroutine?debug=1", timeout, 4096, first_line=True)
    out["goroutines"] = debugparse.parse_goroutine_total(line)
    if want_rpc:
        try:
            metrics, _ = fetch(host, port, "/metrics/", timeout, 1 << 20)
            rpc = debugparse.parse_metrics(metrics)
            if not any("p50_ms" in v for v in rpc.values()):
                page, _ = fetch(host, port, "/rpc/", timeout, 1 << 20)
                rpc = debugparse.parse_rpc_page(page) or rpc
            out["rpc"] = dict(list(rpc.items())[:200])
        except DebugServerError as exc:
            out["rpc_error"] = str(exc)
    return out


def view_roots(host: str, port: int, timeout: float) -> list[str]:
    page, _ = fetch(host, port, "/", timeout, 1 << 20)
    return debugparse.parse_view_roots(page)
