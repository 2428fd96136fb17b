"""Real headless Chromium on the machines whose charts lied (issue 13): screenshots kept in
var/screenshots/ (chart-*.png) for a person to look at, plus what can be asserted in the DOM."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.dashboard import scenarios
from tests.dashboard.test_browser import SHOTS, Session, browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser]


@pytest.fixture
def staff(transactional_db, django_user_model, settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6
    return django_user_model.objects.create_user("alice", "a@example.com", "pw", is_staff=True)


def machine_page(s: Session, machine, shot: str, range_: str = "6h"):
    page = s.open(reverse("dashboard:machine", args=[machine.machine_id]) + f"?range={range_}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"chart-{shot}.png"), full_page=True)
    return page


def plot_height(page, name: str) -> float:
    return page.locator(f"#chart-{name} .nsewdrag").first.bounding_box()["height"]


@pytest.mark.django_db(transaction=True)
def test_a_machine_that_slept_shows_a_gap_not_a_line(browser, live_server, staff):  # noqa: F811
    machine = scenarios.machine_with_gap()
    s = Session(browser, live_server.url)
    s.login("alice")
    page = machine_page(s, machine, "gap", "24h")
    # Plotly draws each unbroken run of a line as its own path: two runs, two paths.
    for name in ("memory", "cpu", "sysmem"):
        runs = page.locator(f"#chart-{name} g.trace.scatter").first.locator("path.js-line")
        assert runs.count() >= 2, name
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_fourteen_gopls_stay_readable(browser, live_server, staff):  # noqa: F811
    machine = scenarios.machine_with_many_gopls()
    s = Session(browser, live_server.url)
    s.login("alice")
    page = machine_page(s, machine, "many-gopls", "1h")
    for name in ("memory", "cpu"):
        page.locator(f"#chart-{name}").screenshot(path=str(SHOTS / f"chart-many-gopls-{name}.png"))
    legend = page.locator("#chart-memory g.legend g.traces")
    assert 2 <= legend.count() <= 10  # 7 named + other gopls + gopls start + projection
    assert page.locator("#chart-memory g.legend", has_text="other gopls (7)").count() == 1
    # start labels on hover only (the one annotation is the finding's evidence window)
    assert page.locator("#chart-memory .annotation", has_text="started").count() == 0
    assert page.locator("#chart-memory .shapelayer path").count() == 5  # 4 restarts, 1 finding
    for name in ("memory", "cpu", "goroutines"):
        assert plot_height(page, name) >= 180, name  # not squeezed to ~100 px by the legend
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_a_mac_says_what_it_does_not_collect(browser, live_server, staff):  # noqa: F811
    machine = scenarios.macos_machine()
    s = Session(browser, live_server.url)
    s.login("alice")
    page = machine_page(s, machine, "macos")
    panel = page.locator("#chart-inotify")
    lines = [line for line in panel.inner_text().split("\n") if line.strip()]
    assert lines == ["inotify watches", "inotify: not collected on macOS"]
    assert "— of —" not in page.content()
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_a_machine_without_reports_says_so_on_each_panel(browser, live_server, staff):  # noqa: F811
    machine = scenarios.silent_machine()
    s = Session(browser, live_server.url)
    s.login("alice")
    page = machine_page(s, machine, "no-reports")
    for name in ("memory", "sysmem", "inotify", "caches"):
        text = page.locator(f"#chart-{name}").inner_text()
        assert "no reports from this machine yet" in text, name
    assert "No data in this range" not in page.content()
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_a_project_named_like_a_link_stays_text_in_the_charts(browser, live_server, staff):  # noqa: F811
    machine = scenarios.hostile_project_machine()
    for _ in range(4):  # enough machines on the module for every aggregate to show it
        scenarios.hostile_project_machine()
    s = Session(browser, live_server.url)
    s.login("alice")
    for path, shot in (("/", "hostile-fleet"), (reverse("dashboard:versions"), "hostile-versions")):
        page = s.open(path, f"chart-{shot}")
        assert page.locator(".main-svg a[href*='evil.example']").count() == 0, path
        assert page.locator(".main-svg b").count() == 0, path
    page = s.open(reverse("dashboard:machine", args=[machine.machine_id]) + "?range=1h")
    assert page.locator(".main-svg a[href*='evil.example']").count() == 0
    assert s.errors == []
    s.close()
