"""Pure Plotly figure builders: data in, figure dict out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from apps.dashboard import charts

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def pts(values, step=15):
    return [(T0 + timedelta(seconds=i * step), v) for i, v in enumerate(values)]


def test_gopls_memory_draws_rss_and_heap_per_lifetime_and_marks_restarts():
    lives = [
        {"label": "v0.16.2 pid 1", "rss": pts([1, 2]), "heap": pts([0.5, 1])},
        {"label": "v0.16.2 pid 2", "rss": pts([3]), "heap": []},
    ]
    fig = charts.gopls_memory(lives, [(T0 + timedelta(minutes=5), "gopls pid 2 started")])
    names = [t["name"] for t in fig["data"]]
    assert names == ["v0.16.2 pid 1 RSS", "v0.16.2 pid 1 heap", "v0.16.2 pid 2 RSS", "gopls start"]
    assert fig["data"][1]["line"]["dash"] == "dot"
    assert fig["data"][0]["x"] == ["2026-11-23 10:00:00", "2026-11-23 10:00:15"]
    assert fig["layout"]["shapes"][0]["x0"] == "2026-11-23 10:05:00"
    assert fig["data"][-1]["text"] == ["gopls pid 2 started"]  # on hover, not an annotation
    assert "annotations" not in fig["layout"]
    assert fig["layout"]["yaxis"]["ticksuffix"] == " B"


def test_limits_are_dashed_lines_after_the_used_series():
    fig = charts.with_limit(
        "inotify", "count", [("used", pts([1, 2]))], [("max_user_watches", pts([8192, 8192]))]
    )
    assert [t["name"] for t in fig["data"]] == ["used", "max_user_watches"]
    assert fig["data"][1]["line"]["dash"] == "dash"


def test_stacked_series_share_a_stack_group():
    fig = charts.with_limit("caches", "bytes", [("a", pts([1])), ("b", pts([2]))], [], stacked=True)
    assert {t["stackgroup"] for t in fig["data"]} == {"used"}


def test_health_by_team_carries_a_drilldown_url_per_bar():
    fig = charts.health_by_team(
        [
            {
                "team": "Mobile",
                "counts": {"critical": 2, "ok": 5},
                "urls": {"critical": "/machines/?team=mobile&health=critical", "ok": "/m?ok"},
            }
        ]
    )
    critical = next(t for t in fig["data"] if t["name"] == "Critical")
    assert critical["x"] == [2]
    assert critical["customdata"] == ["/machines/?team=mobile&health=critical"]
    assert fig["layout"]["barmode"] == "stack"


def test_box_summary_sends_quartiles_not_raw_values_and_flags_regressions():
    rows = [
        {
            "label": "v0.17.0",
            "q1": 1,
            "median": 2,
            "q3": 3,
            "lo": 0,
            "hi": 9,
            "n": 500,
            "url": "/a",
        },
        {
            "label": "v0.18.1",
            "q1": 4,
            "median": 6,
            "q3": 8,
            "lo": 1,
            "hi": 20,
            "n": 300,
            "url": "/b",
            "highlight": "+200%",
        },
    ]
    fig = charts.box_summary(rows, "bytes", "RSS", horizontal=False)
    box = fig["data"][0]
    assert box["median"] == [2, 6]
    assert "y" not in box
    assert fig["data"][1]["x"] == ["v0.18.1"]
    assert fig["data"][1]["y"] == [6]


def test_evidence_spans_shade_the_chart():
    fig = charts.add_evidence(
        {"data": [], "layout": charts.layout("x")},
        [{"start": T0, "end": T0 + timedelta(hours=1), "severity": "critical", "label": "leak"}],
    )
    rect = fig["layout"]["shapes"][0]
    assert rect["type"] == "rect"
    assert rect["fillcolor"] == "#f85149"
    assert fig["layout"]["annotations"][0]["text"] == "leak"


def test_machine_scatter_splits_outliers_into_their_own_trace():
    fig = charts.scatter_machines(
        [
            {"x": 1, "y": 2, "label": "a", "url": "/m/a/"},
            {"x": 5, "y": 90, "label": "b", "url": None, "outlier": True},
        ],
        "percent",
        "bytes",
    )
    assert [t["name"] for t in fig["data"]] == ["machines", "outliers"]
    assert fig["data"][1]["customdata"] == [None]


def test_small_counts_get_whole_number_ticks():
    fig = charts.version_adoption(
        [{"version": "v0.21.0", "machines": 2, "median_rss": 10, "url": None}]
    )
    assert fig["layout"]["yaxis"]["dtick"] == 1
    assert fig["layout"]["yaxis"]["tickformat"] == "d"
    rows = [{"team": "A", "counts": {"ok": 15}, "urls": {}}]
    assert charts.health_by_team(rows)["layout"]["xaxis"]["dtick"] == 2
    rows = [{"team": "A", "counts": {"ok": 500}, "urls": {}}]
    assert "dtick" not in charts.health_by_team(rows)["layout"]["xaxis"]
