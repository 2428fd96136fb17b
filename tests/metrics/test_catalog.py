"""The metric catalogue is the one description of a metric column: every entry agrees with the
sample and rollup models, the rollup statements, the report schema, the series API, the charts
and detection, and long ranges of a metric read the same history through the API and a chart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apps.anomalies.loader import GOPLS_SERIES, SYSTEM_SERIES
from apps.dashboard.services.machine import GOPLS_CHARTS, machine_chart
from apps.ingest.services import ingest_report
from apps.metrics import catalog
from apps.metrics.columns import CACHE_COLUMNS, GOPLS_COLUMNS, SYSTEM_COLUMNS
from apps.metrics.models import GoplsRollup, GoplsSample, SystemRollup, SystemSample
from apps.metrics.rollups import GOPLS_AGGREGATES, SYSTEM_AGGREGATES, roll_up_hours, roll_up_raw
from tests.factories import make_report

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
# Model fields that are bookkeeping, not metrics.
SAMPLE_BOOKKEEPING = {
    "id", "machine_id", "process_id", "sample_uid", "collected_at", "ts", "received_at",
    "clock_skew_s", "detail",
}  # fmt: skip
ROLLUP_BOOKKEEPING = {"id", "machine_id", "process_id", "resolution", "bucket", "n"}
ROLLUP_TIMES = {"ts_first", "ts_last"}  # gopls buckets' exact first and last sample times
CHARTS = {*GOPLS_CHARTS, "sysmem", "inotify", "caches"}


def fields(model) -> set[str]:
    return {f.attname for f in model._meta.concrete_fields}


@pytest.mark.parametrize("per_process", [False, True], ids=["machine", "gopls"])
def test_every_metric_column_of_the_sample_table_has_exactly_one_entry(per_process):
    model = GoplsSample if per_process else SystemSample
    entries = catalog.GOPLS if per_process else catalog.SYSTEM
    columns = [e.column for e in entries]
    assert len(columns) == len(set(columns))
    assert set(columns) == fields(model) - SAMPLE_BOOKKEEPING


@pytest.mark.parametrize("per_process", [False, True], ids=["machine", "gopls"])
def test_every_rollup_column_belongs_to_exactly_one_entry_and_is_computed(per_process):
    model = GoplsRollup if per_process else SystemRollup
    aggregates = GOPLS_AGGREGATES if per_process else SYSTEM_AGGREGATES
    rolled = [r for r, _, _ in catalog.rollup_aggregates(per_process)]
    assert len(rolled) == len(set(rolled))
    extra = ROLLUP_TIMES if per_process else set()
    assert set(rolled) == fields(model) - ROLLUP_BOOKKEEPING - extra
    assert {r for r, _, _ in aggregates} == set(rolled) | extra
    for rollup_column, agg, raw in aggregates:
        assert agg in catalog.AGGREGATES, rollup_column
        if rollup_column not in extra:
            assert (rollup_column, agg) in catalog.entry(raw, per_process=per_process).rollups


@pytest.mark.parametrize("e", catalog.ENTRIES, ids=lambda e: f"{e.per_process}:{e.column}")
def test_each_entry_is_consistent(e):
    if e.drawn is not None:  # long ranges draw one of the entry's own rollups
        assert e.drawn in {r for r, _ in e.rollups}
    if e.rollups and e.name:  # a rolled-up API metric must draw a rollup, or long ranges
        assert e.drawn, e.column  # of it show only the raw tail once raw samples expire
    aggs = {agg for _, agg in e.rollups}
    for name, agg in e.detect:  # detection reads the rollup with its own aggregate
        assert agg in aggs, name
    assert set(e.charts) <= CHARTS
    if e.charts:  # a chart of a long range draws rollups of every column it reads
        assert e.drawn, e.column
    assert (e.wire is None) == bool(e.derived)
    assert e.unit in {"bytes", "percent", "count", "ms", "load", "ratio"}


def _schema_has(path: tuple[str, ...], per_process: bool) -> bool:
    node = SCHEMA["$defs"]["gopls_process" if per_process else "sample"]
    for key in path:
        while "$ref" in node:
            node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
        properties = node.get("properties")
        if properties is None or key not in properties:
            return False
        node = properties[key]
    return True


@pytest.mark.parametrize(
    "e", [e for e in catalog.ENTRIES if e.wire], ids=lambda e: f"{e.per_process}:{e.column}"
)
def test_each_wire_name_is_a_field_of_the_report_schema(e):
    if e.wire[:2] == ("go", "caches"):  # an open map of cache sizes in the schema
        assert _schema_has(("go", "caches"), e.per_process)
    else:
        assert _schema_has(e.wire, e.per_process), e.wire


def test_ingest_rollups_api_and_detection_tables_are_the_catalogue():
    assert {c for c, _, _ in SYSTEM_COLUMNS} | set(CACHE_COLUMNS) == {
        e.column for e in catalog.SYSTEM if e.wire
    }
    assert {c for c, _ in GOPLS_COLUMNS} == {e.column for e in catalog.GOPLS if e.wire}
    assert set(catalog.METRICS) == {e.name for e in catalog.ENTRIES if e.name}
    for metric in catalog.METRICS.values():
        e = catalog.entry(metric.column, per_process=metric.per_process)
        assert (metric.unit, metric.rollup_column) == (e.unit, e.drawn)
    for series, per_process in ((SYSTEM_SERIES, False), (GOPLS_SERIES, True)):
        for name, (agg, raw, rolled) in series.items():
            assert (rolled, agg) in catalog.entry(raw, per_process=per_process).rollups, name


END = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def three_weeks(enrolled, settings):
    """Page cache reported 20 and 10 days ago and in the last hour, rolled up, and raw samples
    older than RETENTION_RAW_DAYS deleted as retention does."""
    settings.INGEST_RATE_PER_MINUTE = settings.INGEST_BURST = 1e6
    machine, _ = enrolled
    for days, cached in ((20, 1_000_000_000), (10, 2_000_000_000), (0, 3_000_000_000)):
        start = END - timedelta(days=days, hours=1)
        report = make_report(20, start=start, sent_at=start + timedelta(minutes=5))
        for sample in report["samples"]:
            sample["system"]["mem_cached_bytes"] = cached
        ingest_report(machine, report, received_at=start + timedelta(minutes=5))
        roll_up_raw(start, start + timedelta(minutes=5))
        roll_up_hours(start, start + timedelta(minutes=5))
    SystemSample.objects.filter(ts__lt=END - timedelta(days=settings.RETENTION_RAW_DAYS)).delete()
    return machine


@pytest.mark.django_db
def test_page_cache_over_three_weeks_is_the_whole_range_in_the_api_and_the_chart(
    three_weeks, client, alice
):
    # The drift this catalogue ends: the series API had no rollup column for
    # system.mem_cached_bytes and read raw samples only (the last 14 days), while the chart
    # guessed mem_cached_max and showed the whole range.
    since = END - timedelta(days=21)
    client.force_login(alice)
    body = client.get(
        f"/api/v1/machines/{three_weeks.machine_id}/series/",
        {"metric": "system.mem_cached_bytes", "since": since.isoformat(), "until": END.isoformat()},
    ).json()
    api = [value for _, value in body["series"][0]["points"]]
    assert body["resolution_s"] == 3600
    assert sorted(set(api)) == [1_000_000_000, 2_000_000_000, 3_000_000_000]
    chart = machine_chart(three_weeks, "sysmem", since, END)
    cache = next(t for t in chart["data"] if t.get("name") == "page cache")
    drawn = sorted({round(v * 2**30) for v in cache["y"] if v is not None})  # drawn in GiB
    assert drawn == pytest.approx(sorted(set(api)), rel=1e-6)
