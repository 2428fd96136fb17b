"""Real headless Chromium: log in, open every page on a simulated fleet, drill, zoom, copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.anomalies.evaluation import evaluate_fleet
from tests.dashboard.conftest import big_gopls_report, ingest
from tests.factories import enroll, make_report

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop

CHROMIUM = os.environ.get("DEVFLEET_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install -r requirements-dev.txt)"
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)),
        reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def sim_fleet(transactional_db, django_user_model):
    """A simulated fleet (3 h, mixed problems) plus bob's and carol's own machines."""
    call_command(
        "simulate_fleet", machines=10, hours=3, seed=11, interval=60, batch=30, verbosity=0
    )
    django_user_model.objects.create_user("alice", "a@example.com", "pw", is_staff=True)
    django_user_model.objects.create_user("bob", "b@example.com", "pw")
    django_user_model.objects.create_user("carol", "c@example.com", "pw")
    bobs, _ = enroll("Platform", owner="bob", hostname="bob-laptop")
    report = make_report(60)
    report["machine"]["hostname"] = "bob-laptop"
    ingest(bobs, report)
    carols, _ = enroll("Mobile", owner="carol")
    report = big_gopls_report(60)
    report["machine"]["hostname"] = "carol-wsl"
    ingest(carols, report)
    evaluate_fleet()
    return {"bob": bobs, "carol": carols}


class Session:
    def __init__(self, browser, base: str, width: int = 1600, height: int = 1000):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} at {message.location.get('url', '')}")

    def login(self, username: str) -> None:
        self.page.goto(self.base + "/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", "pw")
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/")

    def open(self, path: str, shot: str | None = None):
        self.page.goto(self.base + path)
        self.settle()
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        return self.page

    def settle(self) -> None:
        self.page.wait_for_load_state("networkidle")
        # Locators, not wait_for_function: the page's CSP forbids the eval that would need.
        self.page.locator("body[data-charts-pending='0']").wait_for()

    def close(self) -> None:
        self.context.close()


@pytest.mark.django_db(transaction=True)
def test_platform_staff_walks_every_page_drills_down_and_zooms(browser, live_server, sim_fleet):
    s = Session(browser, live_server.url)
    s.login("alice")
    page = s.open("/", "fleet")
    assert page.locator("#chart-teams .main-svg").count() > 0
    assert int(page.locator("[data-testid=tile-ok] .value").inner_text()) >= 1

    # Drill-down 1: click the largest "Healthy" bar of the team chart → machine list.
    bar = page.locator("#chart-teams g.trace.bars").nth(2).locator("g.point path").first
    box = bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/machines/?*health=ok*")
    s.settle()
    s.page.screenshot(path=str(SHOTS / "machine-list.png"), full_page=True)
    # Drill-down 2: open the first machine.
    page.locator("table tbody tr td a").first.click()
    page.wait_for_url("**/machines/*/")
    s.settle()
    assert page.locator("#chart-memory .main-svg").count() > 0
    s.page.screenshot(path=str(SHOTS / "machine.png"), full_page=True)

    # Zoom: drag across the middle of the memory chart; the chart refetches that window.
    drag = page.locator("#chart-memory .nsewdrag").first.bounding_box()
    y = drag["y"] + drag["height"] / 2
    page.mouse.move(drag["x"] + drag["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(drag["x"] + drag["width"] * 0.7, y, steps=8)
    page.mouse.up()
    page.locator("#chart-memory[data-zoom^='since=']").wait_for()
    s.settle()

    # Copy: an inventory block (settings, tools…) lands in the clipboard.
    button = page.locator("button[data-copy^=inv-]").first
    expected = page.locator("#" + button.get_attribute("data-copy")).inner_text().strip()
    button.click()
    page.locator("button[data-copied]").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == expected

    carol = sim_fleet["carol"]
    page = s.open(reverse("dashboard:machine", args=[carol.machine_id]) + "?range=1h")
    assert page.locator("#chart-memory .shapelayer path, #chart-memory .layer-below path").count()
    # Acknowledge a finding: the form posts (with its CSRF token) and the page says so.
    page.locator("#findings button[data-testid^=ack-]").first.click()
    page.locator("#findings .badge.info", has_text="acknowledged by alice").first.wait_for()
    s.settle()
    s.page.screenshot(path=str(SHOTS / "machine-wsl.png"), full_page=True)
    s.open(reverse("dashboard:findings"), "findings")
    s.open(reverse("dashboard:versions"), "versions")
    s.open(reverse("dashboard:project-list"), "projects")
    page = s.open(reverse("dashboard:project-list"))
    page.locator("table tbody tr td a").first.click()
    s.settle()
    s.page.screenshot(path=str(SHOTS / "project.png"), full_page=True)
    s.open(reverse("dashboard:developer", args=[carol.owner_id]), "developer")
    s.open(reverse("dashboard:rule-list"), "rules")

    # Copy a fix: the sysctl command of the inotify rule, as advised for WSL2.
    page = s.open(reverse("dashboard:rule", args=["inotify_watches"]) + "?platform=wsl2", "rule")
    fix = page.locator("button[data-copy^=advice-cmd]").first
    command = page.locator("#" + fix.get_attribute("data-copy")).inner_text().strip()
    fix.click()
    page.locator("button[data-copy^=advice-cmd][data-copied]").wait_for()
    assert "sysctl" in command
    assert page.evaluate("navigator.clipboard.readText()") == command
    assert s.errors == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_a_developer_sees_their_device_and_never_anothers(browser, live_server, sim_fleet):
    s = Session(browser, live_server.url, width=1280, height=800)
    s.login("bob")
    page = s.open("/me/", "me")
    assert "bob-laptop" in page.content()
    assert "carol-wsl" not in page.content()
    carol = sim_fleet["carol"]
    response = page.goto(live_server.url + reverse("dashboard:machine", args=[carol.machine_id]))
    assert response.status == 404
    s.open("/", "fleet-developer")
    assert [e for e in s.errors if carol.machine_id not in e] == []
    s.close()


@pytest.mark.django_db(transaction=True)
def test_the_fleet_page_fills_a_wall_screen(browser, live_server, sim_fleet):
    s = Session(browser, live_server.url, width=2560, height=1440)
    s.login("alice")
    page = s.open("/", "fleet-wall")
    assert page.locator("#chart-versions").bounding_box()["width"] > 900
    assert s.errors == []
    s.close()
