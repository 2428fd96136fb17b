"""Machine page and its chart endpoints: real samples in, downsampled figures out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from apps.dashboard.services.machine import CHARTS
from tests.dashboard.conftest import hours_ago, ingest, restarted_report


def chart(client, machine, name, **query):
    url = reverse("dashboard:machine-chart", args=[machine.machine_id, name])
    return client.get(url, query)


@pytest.mark.django_db
def test_machine_page_shows_facts_running_gopls_and_inventory(client, fleet, alice):
    client.force_login(alice)
    body = client.get(reverse("dashboard:machine", args=[fleet.carols.machine_id])).content.decode()
    assert "carol-wsl" in body
    assert "v0.18.1" in body
    assert "example.com/monorepo" in body
    assert "Critical" in body
    assert "go.languageServerFlags" in body  # editor settings inventory, with a copy button
    assert 'data-copy="inv-editor_settings-1"' in body
    for name in CHARTS:
        assert reverse("dashboard:machine-chart", args=[fleet.carols.machine_id, name]) in body


@pytest.mark.django_db
@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_answers_a_figure_with_data(client, fleet, alice, name):
    client.force_login(alice)
    fig = chart(client, fleet.carols, name, range="1h").json()
    assert fig["layout"]["paper_bgcolor"] == "rgba(0,0,0,0)"
    assert fig["data"], name
    assert all(len(t["x"]) > 0 for t in fig["data"]), name


@pytest.mark.django_db
def test_memory_chart_has_one_lifetime_per_restart_and_marks_it(client, fleet, alice):
    machine = fleet.bobs
    ingest(machine, restarted_report(hours_ago(0.5), 20, 9001, hours_ago(0.6)))
    client.force_login(alice)
    fig = chart(client, machine, "memory", range="1h").json()
    rss = [t["name"] for t in fig["data"] if t["name"].endswith("RSS")]
    assert any("pid 9001" in n for n in rss)
    assert any("pid 17452" in n for n in rss)
    starts = next(t for t in fig["data"] if t["name"] == "gopls start")
    assert any("pid 9001" in text for text in starts["text"])  # labelled on hover only
    assert not fig["layout"].get("annotations")


@pytest.mark.django_db
def test_long_series_are_downsampled_within_the_point_budgets(client, fleet, alice):
    machine = fleet.bobs
    start = hours_ago(23)
    for i in range(3):  # 3 uploads × 1000 samples, 15 s apart
        ingest(machine, restarted_report(start + timedelta(seconds=15_000 * i), 1000, 777, start))
        machine.rate_updated_at = None
    client.force_login(alice)
    fig = chart(client, machine, "memory", range="24h").json()
    lengths = {t["name"]: len(t["x"]) for t in fig["data"] if t["name"] != "gopls start"}
    # ≤ 2000 points per trace, and the chart's traces share a budget of 6000 points
    assert lengths["pid 777 v0.16.2 RSS"] == 6000 // len(lengths)
    assert sum(lengths.values()) <= 6000
    sys = chart(client, machine, "inotify", range="24h").json()
    # 2000 points, plus the break between that history and the fixture's newest samples
    assert max(sum(v is not None for v in t["y"]) for t in sys["data"]) == 2000
    assert None in sys["data"][0]["y"]


@pytest.mark.django_db
def test_zooming_asks_for_an_explicit_window(client, fleet, alice):
    client.force_login(alice)
    now = hours_ago(0)
    since = (now - timedelta(seconds=70)).isoformat()
    fig = chart(client, fleet.bobs, "sysmem", since=since, until=now.isoformat()).json()
    used = next(t for t in fig["data"] if t["name"] == "used")
    assert 1 <= len(used["x"]) < 8


@pytest.mark.django_db
def test_bad_windows_and_unknown_charts_are_refused(client, fleet, alice):
    client.force_login(alice)
    assert chart(client, fleet.bobs, "memory", since="yesterday").status_code == 400
    assert (
        chart(
            client, fleet.bobs, "memory", since="2026-01-01T00:00:00Z", until="2025-01-01T00:00:00Z"
        ).status_code
        == 400
    )
    assert chart(client, fleet.bobs, "nope").status_code == 404


@pytest.mark.django_db
def test_wsl_memory_chart_draws_the_vm_cap(client, fleet, alice):
    client.force_login(alice)
    fig = chart(client, fleet.carols, "sysmem", range="1h").json()
    assert "WSL VM cap" in [t["name"] for t in fig["data"]]
    fig = chart(client, fleet.bobs, "sysmem", range="1h").json()
    assert "RAM" in [t["name"] for t in fig["data"]]


@pytest.mark.django_db
def test_long_ranges_read_rollups_and_raw_samples_only_for_the_newest_bucket(client, fleet, alice):
    from apps.metrics.models import GoplsSample, SystemSample
    from apps.metrics.rollups import roll_up_hours, roll_up_raw

    machine = fleet.bobs
    start = hours_ago(20)
    ingest(machine, restarted_report(start, 1000, 777, start))  # 4 h 10 min of 15 s samples
    roll_up_raw(start - timedelta(hours=1), hours_ago(0))
    roll_up_hours(start - timedelta(hours=1), hours_ago(0))
    # Raw samples older than 2 hours are gone: whatever the chart draws there is a rollup.
    SystemSample.objects.filter(machine=machine, ts__lt=hours_ago(2)).delete()
    GoplsSample.objects.filter(machine=machine, ts__lt=hours_ago(2)).delete()
    client.force_login(alice)
    for name, range_, most in (("memory", "24h", 60), ("inotify", "24h", 60), ("memory", "30d", 8)):
        fig = chart(client, machine, name, range=range_).json()
        trace = next(t for t in fig["data"] if "777" in t["name"] or "used" in t["name"])
        assert 0 < len(trace["x"]) <= most, (name, range_)
        assert min(trace["x"]) < hours_ago(15).isoformat(), (name, range_)


@pytest.mark.django_db
def test_a_backfill_whose_rollups_are_pending_shows_in_long_ranges(client, fleet, alice):
    # The demo's 6 hours vanished from the 24 h view apart from their newest minutes: the
    # minute pass had rolled those up, the backfill's range was not, and the chart read raw
    # samples only after the newest rollup.
    from apps.metrics.pending import merge_pending
    from apps.metrics.rollups import roll_up_raw

    machine = fleet.bobs
    start = hours_ago(4)
    ingest(machine, restarted_report(start, 900, 777, start))  # 3 h 45 min, 15 s apart
    roll_up_raw(hours_ago(0.3), hours_ago(0))  # the minute pass
    merge_pending(machine.pk, start, hours_ago(0), hours_ago(0))  # the ingest hook
    client.force_login(alice)
    for name in ("memory", "sysmem"):
        fig = chart(client, machine, name, range="24h").json()
        xs = [x for t in fig["data"] for x in t["x"]]
        assert min(xs) < (start + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S"), name


@pytest.mark.django_db(transaction=True)
def test_simulated_history_is_rolled_up_like_live_data():
    from django.core.management import call_command

    from apps.metrics.models import PendingRollup, SystemRollup

    call_command("simulate_fleet", machines=2, hours=3, seed=5, interval=60, verbosity=0)
    old = SystemRollup.objects.filter(resolution=300, bucket__lt=hours_ago(2))
    assert old.values("machine").distinct().count() == 2
    assert SystemRollup.objects.filter(resolution=3600, bucket__lt=hours_ago(2)).exists()
    assert not PendingRollup.objects.exists()
