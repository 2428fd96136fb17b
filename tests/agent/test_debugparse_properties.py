"""Property tests of the gopls debug-server page parsers: any page text, never a crash.

The pages come from a local HTTP server the agent does not control (any gopls version, or
another program on that port), so every parser must return its documented shape for any text,
with figures the report schema accepts (finite, non-negative). The real pages of
tests/fixtures/real-gopls are explicit examples and the seeds of the mutations.
"""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from devfleet_agent.probes import debugparse
from tests.conftest import real_capture

CAPTURE_NAMES = ("goldmark", "goldmark-edit", "goroot-src")


def _pages(name: str) -> list[str]:
    return [
        real_capture(capture, "debug", name).read_text(errors="replace")
        for capture in CAPTURE_NAMES
    ]


TRAILERS = _pages("heap_debug1_memstats_trailer.txt")
METRICS = _pages("page_metrics_.html")
RPC = _pages("page_rpc_.html")
ROOTS = _pages("page_.html")
GOROUTINES = _pages("page_debug_pprof_goroutine_debug_1.html")

JUNK = st.sampled_from(
    ["\0", "nan", "NaN", "+Inf", "-1", "1e400", "1.2.3ms", "99999999999999999999", "<", ">", "\n"]
)


def page_text(reals: list[str]) -> st.SearchStrategy[str]:
    """Arbitrary text, or a real page truncated or with junk spliced in."""
    real = st.sampled_from(reals)
    return st.one_of(
        st.text(max_size=300),
        st.tuples(real, st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.tuples(real, st.floats(0, 1), JUNK).map(
            lambda t: t[0][: int(len(t[0]) * t[1])] + t[2] + t[0][int(len(t[0]) * t[1]) :]
        ),
    )


def _figures_are_schema_numbers(entry: dict) -> None:
    for key, value in entry.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert math.isfinite(value), (key, value)
            assert value >= 0, (key, value)


@given(page_text(TRAILERS))
@example("# HeapInuse = -5\n# GCCPUFraction = nan\n# NumGC = 1e3\n")
def test_memstats_trailer_gives_finite_non_negative_figures(text):
    stats = debugparse.parse_memstats_trailer(text)
    assert set(stats) <= set(debugparse._MEMSTATS.values())
    _figures_are_schema_numbers(stats)


@given(page_text(GOROUTINES))
@example("goroutine profile: total 99999999999999999999999\n")
def test_goroutine_total_is_none_or_a_32_bit_count(text):
    total = debugparse.parse_goroutine_total(text)
    assert total is None or 0 <= total <= 2**31 - 1


@given(st.lists(st.text(max_size=30), max_size=8))
@example(["gopls", "-debug"])
@example(["gopls", "-debug", "localhost:6060"])
def test_debug_addr_is_found_in_any_argv_without_raising(argv):
    addr = debugparse.parse_debug_addr(argv)
    assert addr is None or isinstance(addr, str)


@given(st.text(max_size=40))
def test_split_addr_gives_a_host_and_port_or_none(addr):
    parsed = debugparse.split_addr(addr)
    if parsed is not None:
        host, port = parsed
        assert isinstance(host, str)
        assert port >= 0
        assert isinstance(debugparse.is_local(host), bool)


@given(st.sampled_from(["localhost", "127.0.0.1", "::1", ""]), st.integers(0, 65535))
def test_split_addr_round_trips_local_addresses(host, port):
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert debugparse.split_addr(addr) == (host, port)


@given(page_text(METRICS))
@example('latency_ms_bucket{method="x",le="1"} nan\nstarted{method="x"} +Inf\n')
@example('completed{method="x",status="ERR"} 1e400\n')
def test_metrics_page_gives_finite_non_negative_rpc_figures(text):
    for method, entry in debugparse.parse_metrics(text).items():
        assert isinstance(method, str)
        _figures_are_schema_numbers(entry)


@given(st.text(max_size=40))
@example("1.2.3ms")
@example("99999999999999999999999999999999999999h" * 10)
def test_duration_is_a_finite_number_of_ms_or_none(text):
    ms = debugparse.parse_duration_ms(text)
    assert ms is None or (math.isfinite(ms) and ms >= 0)


@given(st.floats(0, 1e9), st.sampled_from(["ns", "µs", "us", "ms", "s", "m", "h"]))
def test_duration_round_trips_go_duration_units(value, unit):
    factor = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}
    text = f"{value:.6f}{unit}"
    assert math.isclose(
        debugparse.parse_duration_ms(text), float(text[: -len(unit)]) * factor[unit]
    )


@given(page_text(RPC))
@example(
    "<b>x</b> 1 <a>traces</a> <i>Latency</i> 1.2.3ms <i>By bucket</i> 0s <b>1</b> 9.9.9s<br></P>"
)
def test_rpc_page_gives_finite_non_negative_rpc_figures(page):
    for entry in debugparse.parse_rpc_page(page).values():
        _figures_are_schema_numbers(entry)


@given(page_text(ROOTS))
@example("View 1 in file://[::1")
@example("View 1 in file:///C:/src/x%00y")
def test_view_roots_are_at_most_32_paths(page):
    roots = debugparse.parse_view_roots(page)
    assert len(roots) <= 32
    assert len(set(roots)) == len(roots)
    assert all(isinstance(root, str) for root in roots)
