"""Localhost-only HTTP reads from a gopls debug server: short timeouts, byte caps, never /gc."""

from __future__ import annotations

import socket
import time
from typing import Any

from devfleet_agent.probes import debugparse

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
    """GET path; return (text, truncated). `tail` keeps only the last N bytes while streaming.

    A plain HTTP/1.0 request on a raw socket: no chunked encoding to decode, large recv_into
    reads, and an overall deadline, so a big heap profile costs little agent CPU.
    """
    if not debugparse.is_local(host):
        raise DebugServerError(f"refusing non-local debug address {host!r}")
    if path.split("?")[0].rstrip("/") in FORBIDDEN_PATHS:
        raise DebugServerError(f"{path} has side effects and is never fetched")
    deadline = time.monotonic() + timeout
    buf = bytearray(1 << 18)
    view = memoryview(buf)
    head = bytearray()
    body = bytearray()
    total = 0
    truncated = False
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout) as sock:
            if not first_line and hasattr(socket, "SO_RCVLOWAT"):
                try:  # wake up per 128 KiB rather than per small write of the server (Linux)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1 << 17)
                except OSError:
                    pass
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n"
                         "User-Agent: devfleet-agent\r\n\r\n".encode())
            in_body = False
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DebugServerError(f"GET {path}: timed out after {timeout:g}s")
                sock.settimeout(left)
                n = sock.recv_into(view)
                if not n:
                    break
                chunk = view[:n]
                if not in_body:
                    head += chunk
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        if len(head) > 65536:
                            raise DebugServerError(f"GET {path}: no HTTP header")
                        continue
                    _check_status(bytes(head[: head.find(b"\r\n")]), path)
                    in_body = True
                    chunk = memoryview(bytes(head[end + 4 :]))
                total += len(chunk)
                body += chunk
                if first_line and b"\n" in body:
                    truncated = True
                    break
                if tail and len(body) > 2 * tail:
                    del body[:-tail]
                if total >= max_bytes:
                    truncated = True
                    break
    except OSError as exc:
        raise DebugServerError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
    if not head or b"\r\n\r\n" not in head:
        raise DebugServerError(f"GET {path}: empty or malformed response")
    data = bytes(body)
    if first_line:
        data = data.split(b"\n", 1)[0].rstrip(b"\r")
    elif tail:
        data = data[-tail:]
    else:
        data = data[:max_bytes]
    return data.decode("utf-8", "replace"), truncated


def _check_status(line: bytes, path: str) -> None:
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise DebugServerError(f"GET {path}: not an HTTP response")
    if parts[1] != b"200":
        raise DebugServerError(f"GET {path}: HTTP {parts[1].decode()}")


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
