"""Headless Chromium over the first ten minutes' rough edges (issue 13, points 10 and 12)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.dashboard.conftest import big_gopls_report, ingest
from tests.dashboard.test_browser import CHROMIUM, SHOTS, Session, browser  # noqa: F401
from tests.factories import enroll, make_report

pytestmark = pytest.mark.browser


@pytest.fixture
def first_fleet(transactional_db, django_user_model):
    """alice (platform, superuser), bob's Linux laptop, carol's large gopls, dan's Mac, and three
    more machines on one project with gopls of different sizes."""
    django_user_model.objects.create_superuser("alice", "a@example.com", "pw")
    for name in ("bob", "carol", "dan"):
        django_user_model.objects.create_user(name, f"{name}@example.com", "pw")
    bobs, _ = enroll("Platform", owner="bob", hostname="bob-laptop")
    ingest(bobs, make_report(8))
    carols, _ = enroll("Mobile", owner="carol", hostname="carol-wsl")
    ingest(carols, big_gopls_report(8))
    mac_id = "m-" + "a1b2c3d4e5" * 4  # the agent's id: a 40-hex-digit hash
    dans, _ = enroll(
        "Platform",
        owner="dan",
        hostname="dan-mbp",
        machine_id=mac_id,
        os="darwin",
        os_version="macOS 15.0.1",
        arch="arm64",
    )
    report = make_report(8)
    report["machine"].update(os="darwin", os_version="macOS 15.0.1", hostname="dan-mbp")
    report["machine"].pop("wsl", None)
    ingest(dans, report)
    sizes = {}
    for i, gib in enumerate((1, 3, 2)):
        machine, _ = enroll("Platform", hostname=f"proj-{i}")
        rep = make_report(8)
        rep["machine"]["hostname"] = f"proj-{i}"
        for sample in rep["samples"]:
            proc = sample["gopls"][0]
            proc["rss_bytes"] = gib * 1024**3
            proc["projects"] = [{"module": "example.com/shared", "root": "/src/shared"}]
        ingest(machine, rep)
        sizes[machine.hostname] = gib
    return {"bob": bobs, "carol": carols, "dan": dans, "sizes": sizes}


def _shot(s: Session, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    s.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_owner_links_nav_and_the_team_filter_by_name(browser, live_server, first_fleet):  # noqa: F811
    s = Session(browser, live_server.url, width=1440, height=900)
    s.login("alice")
    page = s.open(reverse("dashboard:machine-list") + "?team=Platform", "first-machine-list-team")
    assert page.locator("select[name=team] option:checked").inner_text() == "Platform"
    assert page.locator("nav.nav a.active").count() == 1
    page.locator("table tbody a[href^='/developers/']", has_text="dan").click()
    page.wait_for_url("**/developers/*/")
    s.settle()
    assert "dan-mbp" in page.content()
    assert page.locator("nav.nav a.active").count() == 1
    _shot(s, "first-developer")
    page = s.open("/", "first-fleet")
    page.locator("section:has(h2:has-text('Top offenders')) tbody a").first.click()
    page.wait_for_url("**/machines/*/")
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_small_slips_are_gone(browser, live_server, first_fleet):  # noqa: F811
    s = Session(browser, live_server.url, width=1440, height=900)
    s.login("alice")
    dan = first_fleet["dan"]
    page = s.open(reverse("dashboard:machine", args=[dan.machine_id]), "first-machine-macos")
    facts = page.locator("dl").first.inner_text()
    assert "macOS 15.0.1" in facts
    assert "macOS macOS" not in page.content()

    # Un-acknowledge from the dashboard, as the API allows.
    carol = first_fleet["carol"]
    page = s.open(reverse("dashboard:machine", args=[carol.machine_id]))
    page.locator("#findings button[data-testid^=ack-]").first.click()
    unack = page.locator("#findings button[data-testid^=unack-]").first
    unack.wait_for()
    _shot(s, "first-machine-acknowledged")
    unack.click()
    page.locator("#findings button[data-testid^=ack-]").first.wait_for()

    # The project table is in the order it says: largest gopls first.
    page = s.open(reverse("dashboard:project-list"))
    page.locator("table tbody a", has_text="example.com/shared").click()
    s.settle()
    _shot(s, "first-project")
    rows = page.locator("section:has(h2:has-text('Machines on this project')) tbody tr")
    names = [rows.nth(i).locator("td").first.inner_text().strip() for i in range(rows.count())]
    assert names == ["proj-1", "proj-2", "proj-0"]

    # Alerts with nothing set up say what to do first; the route form says why it is empty.
    page = s.open(reverse("alerts:channels"), "first-alerts-empty")
    assert page.locator("#alerts-first-steps").is_visible()
    assert page.locator("nav.nav a.active").count() == 1
    page = s.open(reverse("alerts:route-new"), "first-route-form")
    assert page.locator("#route-needs-channel").is_visible()
    assert "No channels yet" in page.locator("form.stacked").inner_text()
    repeat = page.locator("input[name=repeat_hours]")
    assert repeat.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    assert repeat.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "6px"

    # The admin's machine list fits a 1440 px screen.
    page.goto(live_server.url + reverse("admin:fleet_machine_changelist"))  # (no charts)
    _shot(s, "first-admin-machines")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    results = page.locator("#changelist .results")  # its table is not clipped or scrolled
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the machine table is cut off"
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert "LAST SEEN" in [h.strip().upper() for h in headers]
    page.goto(live_server.url + reverse("admin:index"))
    _shot(s, "first-admin-index")
    assert "Gopls processs" not in page.content()
    assert re.search(r"[Gg]opls processes", page.content())
    assert s.errors == []
    s.close()
