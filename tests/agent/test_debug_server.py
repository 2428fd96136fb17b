"""Debug-server client: real-format pages served locally, hangs, garbage, caps; never /gc."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from devfleet_agent.collectors.gopls import _debug
from devfleet_agent.probes import debugclient, debugparse


class FakeDebugServer:
    """Serves canned pages by path; mode "hang" accepts and never answers, "garbage" babbles."""

    def __init__(self, pages: dict[str, bytes], mode: str = "ok") -> None:
        self.pages, self.mode, self.paths = pages, mode, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = conn.recv(4096).decode()
            path = request.split()[1] if len(request.split()) > 1 else ""
            self.paths.append(path)
            if self.mode == "hang":
                self.stop.wait(10)
                return
            if self.mode == "garbage":
                conn.sendall(b"\x00\xffnot http at all\r\n\r\n\x01\x02")
                return
            body = self.pages.get(path)
            status = b"200 OK" if body is not None else b"404 Not Found"
            conn.sendall(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: text/plain\r\n\r\n"
                + (body or b"404 page not found\n")
            )

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def goldmark_pages(captures):
    d = captures / "goldmark" / "debug"
    heap = (
        b"heap profile: 1: 2 [3: 4] @ heap/1048576\n"
        + b"1: 2 [3: 4] @ 0x1\n" * 20000
        + (d / "heap_debug1_memstats_trailer.txt").read_bytes()
    )
    return {
        "/debug/pprof/heap?debug=1": heap,
        "/debug/pprof/goroutine?debug=1": (
            d / "page_debug_pprof_goroutine_debug_1.html"
        ).read_bytes(),
        "/metrics/": (d / "page_metrics_.html").read_bytes(),
        "/rpc/": (d / "page_rpc_.html").read_bytes(),
        "/": (d / "page_.html").read_bytes(),
    }


def test_it_scrapes_memstats_goroutines_and_rpc_latency(goldmark_pages):
    srv = FakeDebugServer(goldmark_pages)
    try:
        data = debugclient.scrape("127.0.0.1", srv.port, timeout=5, heap_max_bytes=16 << 20)
        assert data["heap_inuse_bytes"] == 229163008
        assert data["goroutines"] == 13
        assert data["rpc"]["textDocument/completion"]["count"] == 205
        assert debugclient.view_roots("127.0.0.1", srv.port, 5) == ["/home/dev/src/goldmark"]
        assert "/gc" not in srv.paths
    finally:
        srv.close()


def test_a_heap_profile_over_the_byte_cap_is_an_error(goldmark_pages):
    srv = FakeDebugServer(goldmark_pages)
    try:
        with pytest.raises(debugclient.DebugServerError, match="byte cap"):
            debugclient.scrape("127.0.0.1", srv.port, timeout=5, heap_max_bytes=65536)
    finally:
        srv.close()


def test_a_hanging_debug_server_times_out_quickly():
    srv = FakeDebugServer({}, mode="hang")
    try:
        t0 = time.monotonic()
        with pytest.raises(debugclient.DebugServerError, match=r"timed out|timeout"):
            debugclient.fetch("127.0.0.1", srv.port, "/debug/pprof/heap?debug=1", 0.5, 1 << 20)
        assert time.monotonic() - t0 < 2
    finally:
        srv.close()


def test_garbage_from_the_debug_server_is_an_error():
    srv = FakeDebugServer({}, mode="garbage")
    try:
        with pytest.raises(debugclient.DebugServerError):
            debugclient.scrape("127.0.0.1", srv.port, timeout=1, heap_max_bytes=1 << 20)
    finally:
        srv.close()


def test_it_never_fetches_gc_or_remote_addresses():
    with pytest.raises(debugclient.DebugServerError, match="side effects"):
        debugclient.fetch("127.0.0.1", 1, "/gc", 1, 100)
    with pytest.raises(debugclient.DebugServerError, match="non-local"):
        debugclient.fetch("10.1.2.3", 6060, "/debug/pprof/heap?debug=1", 1, 100)


def test_a_failing_debug_server_is_recorded_and_backed_off(make_ctx):
    srv = FakeDebugServer({}, mode="hang")
    clock = [1000.0]
    ctx = make_ctx(monotonic=lambda: clock[0])
    ctx.config = ctx.config.__class__(**{**ctx.config.__dict__, "debug_timeout_s": 0.3})
    entry = {"debug_addr": f"localhost:{srv.port}"}
    try:
        first = _debug(ctx, None, 1, entry, 1, clock[0])
        assert first["ok"] is False
        assert "timed out" in first["error"]
        t0 = time.monotonic()
        again = _debug(ctx, None, 1, entry, 2, clock[0] + 1)
        assert time.monotonic() - t0 < 0.1  # backing off: no new request
        assert again["ok"] is False
    finally:
        srv.close()


@pytest.mark.parametrize(
    ("argv", "addr"),
    [
        (["gopls", "-debug=localhost:6060"], "localhost:6060"),
        (["gopls", "--debug", ":0"], ":0"),
        (["gopls", "serve", "-rpc.trace"], None),
    ],
)
def test_it_finds_the_debug_address_in_argv(argv, addr):
    assert debugparse.parse_debug_addr(argv) == addr


def test_latency_histograms_in_metrics_give_quantiles():
    text = "\n".join(
        [
            'latency_ms_bucket{[direction="in" method="textDocument/completion"],le="10"} 50',
            'latency_ms_bucket{[direction="in" method="textDocument/completion"],le="100"} 90',
            'latency_ms_bucket{[direction="in" method="textDocument/completion"],le="1000"} 100',
            'latency_ms_bucket{[direction="in" method="textDocument/completion"],le="+Inf"} 100',
            'latency_ms_sum{[direction="in" method="textDocument/completion"]} 4000',
            'completed{[direction="in" method="textDocument/completion" status="ERROR"]} 3',
            "garbage line {{{",
        ]
    )
    rpc = debugparse.parse_metrics(text)["textDocument/completion"]
    assert rpc["count"] == 100
    assert rpc["mean_ms"] == 40.0
    assert rpc["p50_ms"] == 10.0
    assert 100 < rpc["p95_ms"] <= 1000
    assert rpc["errors"] == 3


def test_a_localhost_0_debug_port_is_found_among_the_process_sockets(goldmark_pages, make_ctx):
    srv = FakeDebugServer(goldmark_pages)

    class Source:
        def listen_ports(self, pid):
            # another listener (say -listen or MCP) that is not the debug server comes first
            return [("127.0.0.1", 1), ("127.0.0.1", srv.port)] if pid == 7 else []

    try:
        ctx = make_ctx()
        entry = {"debug_addr": "localhost:0"}
        out = _debug(ctx, Source(), 7, entry, 1, 100.0)
        assert out["ok"], out
        assert out["addr"] == f"localhost:{srv.port}"
        assert out["heap_inuse_bytes"] == 229163008
    finally:
        srv.close()
