"""bench/peer_exposition.py: simulated exporter expositions and the peer bench's ratios."""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from tests.conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "peer_exposition", REPO_ROOT / "bench/peer_exposition.py"
)
px = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("peer_exposition", px)  # dataclasses look their module up
_spec.loader.exec_module(px)

FIXTURES = REPO_ROOT / "tests/fixtures/peer"
# Two scrapes of prometheus-node-exporter 1.5.0 (Debian bookworm), 5 s apart.
NODE_A = (FIXTURES / "node-exporter-1.5.0-a.txt").read_text()
NODE_B = (FIXTURES / "node-exporter-1.5.0-b.txt").read_text()

SMALL = """\
# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total{queue="a b"} 10
jobs_total{queue="c}d"} 3
# HELP temp Temperature.
# TYPE temp gauge
temp 20.5
# TYPE info gauge
info{version="1"} 1
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.1"} 4
rpc_seconds_bucket{le="+Inf"} 5
rpc_seconds_sum 0.7
rpc_seconds_count 5
untyped_thing 7 1700000000000
"""
SMALL_LATER = SMALL.replace("10\n", "40\n").replace("20.5", "21.0").replace("_count 5", "_count 8")


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_parser_counts_every_sample_line_including_odd_labels_and_timestamps():
    _order, values, types = px.parse_samples(SMALL)
    assert px.series_in_text(SMALL) == 9
    assert values['jobs_total{queue="c}d"}'] == 3.0
    assert values["untyped_thing"] == 7.0  # the timestamp is not the value
    assert types["rpc_seconds"] == "histogram"


def test_real_node_exporter_capture_keeps_its_series_count_when_rendered():
    tpl = px.build_template(NODE_A, NODE_B, 5.0)
    assert tpl.series_count == len(sample_lines(NODE_A)) == 507
    for target in (0, 7, 299):
        text = px.render(tpl, target, 1_800_000_000.0)
        assert px.series_in_text(text) == 507
        # Same families and label sets, in the same order, only values differ.
        keys = [line.rsplit(" ", 1)[0] for line in sample_lines(text)]
        assert keys == [line.rsplit(" ", 1)[0] for line in sample_lines(NODE_A)]
    assert 0 < tpl.varying < tpl.series_count  # some move (CPU, memory), many are constant


def test_comment_lines_are_kept_so_prometheus_sees_the_same_types():
    tpl = px.build_template(SMALL, SMALL_LATER, 15.0)
    text = px.render(tpl, 1, 0.0)
    assert "# TYPE jobs_total counter" in text
    assert "# TYPE rpc_seconds histogram" in text


def test_counters_never_go_backwards_across_scrapes_and_targets_differ():
    tpl = px.build_template(SMALL, SMALL_LATER, 15.0)
    jobs = tpl.series[0]
    assert jobs.counter
    assert jobs.rate == 2.0
    for target in (0, 1, 2):
        seen = [px.value_at(jobs, 0, target, 15.0 * slot) for slot in range(200)]
        assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))
        assert seen[-1] > seen[0]
    assert px.value_at(jobs, 0, 0, 150.0) != px.value_at(jobs, 0, 1, 150.0)


def test_values_hold_within_a_scrape_interval_and_constants_stay_constant():
    tpl = px.build_template(SMALL, SMALL_LATER, 15.0)
    temp = next(i for i, s in enumerate(tpl.series) if s.key == "temp")
    info = next(i for i, s in enumerate(tpl.series) if s.key.startswith("info"))
    s = tpl.series[temp]
    assert px.value_at(s, temp, 3, 30.0) == px.value_at(s, temp, 3, 44.9)
    assert not tpl.series[info].rate
    assert {px.value_at(tpl.series[info], info, 3, t) for t in range(0, 600, 15)} == {1.0}


def test_gauges_stay_non_negative_near_their_calibrated_value():
    tpl = px.build_template(SMALL, SMALL_LATER, 15.0)
    temp = next(i for i, s in enumerate(tpl.series) if s.key == "temp")
    values = [px.value_at(tpl.series[temp], temp, 5, 15.0 * k) for k in range(100)]
    assert min(values) >= 0
    assert max(abs(v - 20.5) for v in values) <= 4 * 0.5 + 1e-9
    assert len(set(values)) > 10


def test_series_per_workstation_adds_prometheus_scrape_series_per_target():
    node = px.build_template(NODE_A, NODE_B, 5.0)
    small = px.build_template(SMALL, SMALL_LATER, 15.0)
    assert px.per_target_series([node, small]) == 507 + 9 + 2 * px.SCRAPE_SERIES_PER_TARGET


def test_figures_divide_cpu_and_bytes_by_values_and_machine_minutes():
    f = px.figures(cpu_s=12.0, values=4_000_000, machines=300, minutes=4.0, disk_bytes=8_000_000)
    assert f["cpu_us_per_value"] == pytest.approx(3.0)
    assert f["cpu_ms_per_machine_minute"] == pytest.approx(10.0)
    assert f["bytes_per_value"] == pytest.approx(2.0)
    assert f["values_per_machine_minute"] == pytest.approx(4_000_000 / 1200)


def test_figures_without_values_are_nan_not_a_crash():
    f = px.figures(cpu_s=1.0, values=0, machines=0, minutes=0.0, disk_bytes=0)
    assert math.isnan(f["cpu_us_per_value"])
    assert math.isnan(f["bytes_per_value"])
    assert math.isnan(f["cpu_ms_per_machine_minute"])


def test_ratios_are_devfleet_over_prometheus():
    d = px.figures(cpu_s=6.0, values=1_000_000, machines=300, minutes=4.0, disk_bytes=30_000_000)
    p = px.figures(cpu_s=12.0, values=4_000_000, machines=300, minutes=4.0, disk_bytes=8_000_000)
    r = px.ratios(d, p)
    assert r["cpu_us_per_value"] == pytest.approx(2.0)  # 6 µs against 3 µs
    assert r["cpu_ms_per_machine_minute"] == pytest.approx(0.5)
    assert r["bytes_per_value"] == pytest.approx(15.0)
    p["bytes_per_value"] = math.nan
    assert math.isnan(px.ratios(d, p)["bytes_per_value"])
