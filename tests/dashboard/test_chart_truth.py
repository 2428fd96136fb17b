"""Charts that tell the truth (issue 13 points 1-6, issue 11 point 6): the chart JSON itself."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse

from apps.anomalies.models import Finding
from apps.dashboard import charts
from apps.dashboard.chart_parts import label
from apps.dashboard.services.machine import CHARTS, pick_lifetimes
from apps.dashboard.services.series import thin
from tests.dashboard import scenarios
from tests.dashboard.test_pages import figure

T0 = datetime(2026, 12, 4, 7, 50, tzinfo=timezone.utc)
GIB, MIB = 1024**3, 1024**2


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def chart(client, machine, name, **query) -> dict:
    url = reverse("dashboard:machine-chart", args=[machine.machine_id, name])
    response = client.get(url, query)
    assert response.status_code == 200
    return response.json()


def drawn(fig: dict) -> list[dict]:
    return [t for t in fig["data"] if t["name"] != "gopls start"]


# 13.1 No invented data ---------------------------------------------------------------------


def test_a_line_breaks_where_the_samples_stop_instead_of_joining_the_gap():
    # The demo: 07:50, 07:55, 08:00, then 13:35, drawn as one straight line.
    points = [(at(m), 1.0) for m in (0, 5, 10, 345, 350, 355)]
    trace = charts.line_trace("cpu", points)
    assert trace["y"] == [1.0, 1.0, 1.0, None, 1.0, 1.0, 1.0]
    assert trace["connectgaps"] is False
    assert trace["x"][3] > trace["x"][2]
    assert trace["x"][3] < trace["x"][4]


def test_a_missed_sample_or_two_is_not_a_gap():
    points = [(at(m), 1.0) for m in (0, 1, 2, 4, 5, 8, 9)]
    assert None not in charts.line_trace("cpu", points)["y"]


@pytest.mark.parametrize(
    "build",
    [
        lambda pts: charts.gopls_memory([{"label": "p", "rss": pts, "heap": pts}], []),
        lambda pts: charts.per_lifetime([{"label": "p", "cpu": pts}], "cpu", "cpu", "percent"),
        lambda pts: charts.with_limit("m", "bytes", [("used", pts)], [("RAM", pts)]),
        lambda pts: charts.with_limit("c", "bytes", [("a", pts)], [], stacked=True),
    ],
)
def test_every_time_series_builder_breaks_its_lines_at_gaps(build):
    pts = [(at(m), 5 * GIB) for m in (0, 1, 2, 3, 200, 201, 202)]
    fig = build(pts)
    for trace in drawn(fig):
        assert None in trace["y"], trace["name"]


def test_downsampling_keeps_the_break():
    points = [(at(i / 4), float(i % 7)) for i in range(4000)]  # 15 s apart
    points += [(at(2000 + i / 4), 1.0) for i in range(4000)]  # after a 17 h gap
    kept = thin(points, 500)
    assert 500 <= len(kept) <= 505
    assert [v for _, v in kept].count(None) == 1


@pytest.mark.django_db
def test_the_chart_of_a_machine_that_slept_breaks_its_lines(client, alice):
    machine = scenarios.machine_with_gap()
    client.force_login(alice)
    for name in ("memory", "cpu", "sysmem", "inotify", "caches"):
        fig = chart(client, machine, name, range="24h")
        for trace in drawn(fig):
            if trace["name"].startswith(("RAM", "max_user")) or len(trace["y"]) < 3:
                continue
            assert None in trace["y"], (name, trace["name"])


# 13.3 The time axis ends at now ------------------------------------------------------------


def test_the_x_axis_spans_exactly_the_window_and_future_starts_are_left_out():
    window = (at(0), at(360))
    lives = [{"label": "p", "rss": [(at(m), GIB) for m in range(0, 300, 5)]}]
    fig = charts.gopls_memory(lives, [(at(100), "started"), (at(900), "skewed start")], window)
    assert fig["layout"]["xaxis"]["range"] == ["2026-12-04 07:50:00", "2026-12-04 13:50:00"]
    assert fig["layout"]["xaxis"]["autorange"] is False
    starts = fig["data"][-1]
    assert starts["x"] == ["2026-12-04 09:30:00"]
    assert all(s["x0"] <= "2026-12-04 13:50:00" for s in fig["layout"]["shapes"])


def test_only_a_projection_may_extend_the_axis_past_now():
    window = (at(0), at(60))
    lives = [{"label": "p", "rss": [(at(m), GIB) for m in range(0, 60, 5)]}]
    ahead = [("pid 1, 2.0 h until the ram ceiling", [(at(55), GIB), (at(90), 2 * GIB)])]
    fig = charts.gopls_memory(lives, [], window, ahead)
    assert fig["layout"]["xaxis"]["range"] == ["2026-12-04 07:50:00", "2026-12-04 09:20:00"]
    projection = fig["data"][-1]
    assert projection["name"] == "projection (pid 1)"
    assert "2.0 h until the ram ceiling" in projection["hovertemplate"]
    assert projection["line"]["dash"] == "dashdot"
    others = [x for t in fig["data"][:-1] for x in t["x"]]
    assert max(others) <= "2026-12-04 08:50:00"


@pytest.mark.django_db
def test_a_leak_finding_draws_its_projection_at_most_half_a_window_ahead(client, alice):
    machine = scenarios.machine_with_gap()
    proc = machine.gopls_processes.get()
    now = datetime.now(timezone.utc)
    Finding.objects.create(
        machine=machine,
        rule_id="gopls_memory_leak",
        subject=f"gopls:{proc.pid}@{int(proc.start_time.timestamp())}",
        severity="critical",
        title="gopls memory keeps growing",
        first_seen=now - timedelta(hours=1),
        last_seen=now,
        evidence={
            "rss_bytes": 2 * GIB,
            "slope_mb_per_hour": 200.0,
            "hours_to_ceiling": 40.0,
            "headroom_source": "memory runs out (7.8 GiB available)",
            "pid": proc.pid,
        },
    )
    client.force_login(alice)
    fig = chart(client, machine, "memory", range="6h")
    projection = next(t for t in fig["data"] if t["name"].startswith("projection ("))
    assert "40.0 h until memory runs out" in projection["hovertemplate"]
    end = datetime.fromisoformat(fig["layout"]["xaxis"]["range"][1]).replace(tzinfo=timezone.utc)
    assert timedelta(hours=2.9) < end - now < timedelta(hours=3.1)  # half of 6 h, not 40 h
    assert projection["x"][-1] == fig["layout"]["xaxis"]["range"][1]


@pytest.mark.django_db
def test_a_fast_agent_clock_does_not_put_gopls_starts_in_the_future(client, alice):
    machine = scenarios.machine_with_fast_clock()
    client.force_login(alice)
    now = datetime.now(timezone.utc)
    for range_ in ("1h", "6h", "7d"):
        fig = chart(client, machine, "memory", range=range_)
        end = fig["layout"]["xaxis"]["range"][1]
        assert end <= (now + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
        xs = [x for t in fig["data"] for x in t["x"]]
        xs += [s["x0"] for s in fig["layout"].get("shapes", [])]
        assert max(xs) <= end, range_
    starts = next(t for t in fig["data"] if t["name"] == "gopls start")
    started = datetime.fromisoformat(starts["x"][0]).replace(tzinfo=timezone.utc)
    assert abs(started - (now - timedelta(minutes=20))) < timedelta(minutes=2)


@pytest.mark.django_db
def test_evidence_labels_do_not_stretch_the_axis(client, alice):
    machine = scenarios.machine_with_many_gopls()
    client.force_login(alice)
    fig = chart(client, machine, "memory", range="6h")
    assert fig["layout"]["xaxis"]["autorange"] is False
    end = fig["layout"]["xaxis"]["range"][1]
    assert all(a["x"] <= end for a in fig["layout"].get("annotations", []))


# 13.4 Many gopls stay readable -------------------------------------------------------------


def test_fourteen_lifetimes_become_seven_named_and_one_aggregate():
    lives = [
        {"label": f"pid {k}", "rss": [(at(m), (k + 1) * MIB) for m in range(10)]} for k in range(14)
    ]
    lives[2]["highlight"] = "gopls memory keeps growing"
    shown = pick_lifetimes(lives, "rss", "sum", at(0), at(10))
    names = [life["label"] for life in shown]
    assert len(shown) == 8
    assert names[0] == "pid 2"  # the one a finding is about, though small
    assert names[1:7] == [f"pid {k}" for k in (13, 12, 11, 10, 9, 8)]  # then the largest
    other = shown[-1]
    assert other["label"] == "other gopls (7)"
    assert other["other"]
    assert other["rss"][0][1] == sum((k + 1) * MIB for k in (0, 1, 3, 4, 5, 6, 7))


@pytest.mark.django_db
def test_a_machine_with_fourteen_gopls_gets_at_most_eight_named_traces(client, alice):
    machine = scenarios.machine_with_many_gopls()
    client.force_login(alice)
    for name in ("memory", "cpu", "goroutines"):
        fig = chart(client, machine, name, range="1h")
        legend = [t for t in fig["data"] if t.get("showlegend", True)]
        assert len(legend) <= 10, name  # 8 lifetimes, the whole machine (CPU), gopls start
        names = [t["name"] for t in legend]
        assert any(n.startswith("other gopls (") for n in names), name
        hot = [t for t in drawn(fig) if "pid 30001" in t["name"]]
        assert hot, name
        assert hot[0]["name"].endswith("⚠"), name
        assert "gopls memory keeps growing" in hot[0]["hovertemplate"], name
        assert hot[0]["line"]["width"] > 2
    starts = next(t for t in fig["data"] if t["name"] == "gopls start")
    assert len(starts["x"]) == len(set(starts["x"])) <= 4  # one marker per restart moment
    assert not fig["layout"].get("annotations")  # labels on hover only
    assert "height" not in fig["layout"]  # the card's height, not squeezed by the legend
    assert fig["layout"]["legend"]["orientation"] == "v"  # beside the plot, not over dates


# 13.5 One family of units ------------------------------------------------------------------


def test_byte_axes_use_binary_units_like_the_tables():
    fig = charts.with_limit("m", "bytes", [("used", [(at(0), 12 * GIB)])], [])
    assert fig["layout"]["yaxis"]["ticksuffix"] == " GiB"
    assert fig["data"][0]["y"] == [12.0]
    assert "GiB" in fig["data"][0]["hovertemplate"]
    fig = charts.with_limit("m", "bytes", [("used", [(at(0), 300 * MIB)])], [])
    assert fig["layout"]["yaxis"]["ticksuffix"] == " MiB"
    rows = [{"label": "a", "q1": GIB, "median": 2 * GIB, "q3": 3 * GIB, "lo": 0, "hi": 4 * GIB}]
    box = charts.box_summary(rows, "bytes")
    assert box["layout"]["xaxis"]["ticksuffix"] == " GiB"
    assert box["data"][0]["median"] == [2.0]


@pytest.mark.django_db
def test_no_machine_chart_speaks_si_bytes(client, alice):
    machine = scenarios.machine_with_gap()
    client.force_login(alice)
    for name in ("memory", "sysmem", "caches"):
        fig = chart(client, machine, name, range="6h")
        assert fig["layout"]["yaxis"]["ticksuffix"] in (" GiB", " MiB"), name
        assert "~s}B" not in json.dumps(fig), name


# 13.6 Empty panels say what and why ----------------------------------------------------------


@pytest.mark.django_db
def test_a_mac_says_inotify_is_not_collected_there(client, alice):
    machine = scenarios.macos_machine()
    client.force_login(alice)
    fig = chart(client, machine, "inotify", range="6h")
    assert fig["empty"] == "inotify: not collected on macOS"
    assert fig["layout"]["title"]["text"] == "inotify watches"
    body = client.get(reverse("dashboard:machine", args=[machine.machine_id])).content.decode()
    assert "not collected on macOS" in body
    assert "— of — watches" not in body


@pytest.mark.django_db
def test_a_machine_without_reports_says_so_on_every_chart(client, alice):
    machine = scenarios.silent_machine()
    client.force_login(alice)
    page = client.get(reverse("dashboard:machine", args=[machine.machine_id]))
    assert page.status_code == 200
    for name in CHARTS:
        assert chart(client, machine, name, range="6h")["empty"] == (
            "no reports from this machine yet"
        )


@pytest.mark.django_db
def test_no_gopls_or_no_reports_in_the_range_is_said_plainly(client, alice):
    from tests.dashboard.conftest import ingest
    from tests.factories import enroll, make_report

    machine = scenarios.machine_with_gap()
    client.force_login(alice)
    since = (datetime.now(timezone.utc) - timedelta(hours=3.5)).isoformat()
    until = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    for name in ("memory", "sysmem"):
        fig = chart(client, machine, name, since=since, until=until)
        assert fig["empty"] == "no reports in this range (agent stopped or machine asleep)"
    idle, _ = enroll("Platform", hostname="no-editor-open")
    ingest(idle, make_report(10, with_gopls=False))
    for name in ("memory", "goroutines", "latency"):  # CPU still draws the whole machine
        assert chart(client, idle, name, range="1h")["empty"] == "no gopls running in this range"


@pytest.mark.django_db
def test_right_now_shows_inotify_from_the_newest_sample_that_has_it(client, alice):
    machine = scenarios.machine_with_gap()
    from apps.metrics.models import SystemSample

    newest = SystemSample.objects.filter(machine=machine).order_by("-ts").first()
    SystemSample.objects.filter(pk=newest.pk).update(
        inotify_watches_used=None, inotify_watches_max=None
    )
    latest = dict(machine.latest, inotify_watches_used=None, inotify_watches_max=None)
    type(machine).objects.filter(pk=machine.pk).update(latest=latest)
    client.force_login(alice)
    body = client.get(reverse("dashboard:machine", args=[machine.machine_id])).content.decode()
    assert "— of —" not in body
    assert f"{newest.inotify_watches_used} of {newest.inotify_watches_max} watches" in body


# 11.6 Agent strings are escaped in every figure ----------------------------------------------


def test_labels_escape_plotly_markup():
    assert label(scenarios.HOSTILE) == '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'
    assert label("a & b") == "a &amp; b"
    fig = charts.version_adoption(
        [{"version": "<b>v1</b>", "machines": 1, "median_rss": GIB, "url": None}]
    )
    assert fig["data"][0]["x"] == ["&lt;b&gt;v1&lt;/b&gt;"]
    fig = charts.scatter_machines([{"x": 1, "y": 2, "label": "<i>h</i>"}], "count", "count")
    assert fig["data"][0]["text"] == ["&lt;i&gt;h&lt;/i&gt;"]
    fig = charts.add_evidence(
        {"data": [], "layout": charts.layout()},
        [{"start": at(0), "end": at(5), "label": "<a href='x'>y</a>"}],
    )
    assert "<a" not in fig["layout"]["annotations"][0]["text"]


def _markup_free(fig: dict) -> None:
    """No agent string reaches a figure as live Plotly markup (<a href>, <b>…)."""
    text = json.dumps(fig)
    assert "<a href" not in text
    assert "\\u003ca href" not in text
    assert "<b>" not in text


@pytest.mark.django_db
def test_a_project_named_like_a_link_is_text_on_every_figure(client, alice):
    machine = scenarios.hostile_project_machine()
    client.force_login(alice)
    body = client.get("/").content.decode()
    for script_id in ("fig-versions", "fig-projects", "fig-teams"):
        if f'id="{script_id}"' in body:
            _markup_free(figure(body, script_id))
    assert "&amp;lt;a href" in body or "&lt;a href" in body  # shown, as text
    body = client.get(reverse("dashboard:versions")).content.decode()
    for chunk in body.split('type="application/json">')[1:]:
        _markup_free(json.loads(chunk.split("</script>")[0]))
    for name in CHARTS:
        _markup_free(chart(client, machine, name, range="1h"))


def test_an_evidence_label_near_now_is_anchored_inside_the_plot():
    window = (at(0), at(60))
    fig = charts.with_limit("m", "count", [("used", [(at(m), 1) for m in range(60)])], [])
    fig["layout"] = charts.time_layout("m", "count", window)
    spans = [
        {"start": at(5), "end": at(20), "severity": "warning", "label": "early"},
        {"start": at(50), "end": at(60), "severity": "critical", "label": "late"},
    ]
    early, late = charts.add_evidence(fig, spans)["layout"]["annotations"]
    assert (early["xanchor"], early["x"]) == ("left", "2026-12-04 07:55:00")
    assert (late["xanchor"], late["x"]) == ("right", "2026-12-04 08:50:00")
    assert early["y"] != late["y"]  # two findings' labels do not overprint
