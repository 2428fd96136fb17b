"""Fleet pages count the stored health level in SQL; project findings respect who may see what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.anomalies.evaluation import evaluate_machines
from apps.anomalies.models import Finding
from apps.dashboard.services.facts import MACHINE, PROJECT, RSS, VERSION, gopls_procs
from apps.fleet.models import Machine, Project
from tests.dashboard.test_pages import figure


def monorepo() -> Project:
    return Project.objects.get(module_path="example.com/monorepo")


@pytest.fixture
def evaluated(fleet):
    """The fleet after a real detection pass: carol's 12 GiB gopls has open findings."""
    evaluate_machines([fleet.bobs.pk, fleet.carols.pk])
    assert Finding.objects.open().filter(machine=fleet.carols).exists()
    return fleet


@pytest.mark.django_db
def test_tiles_and_drilldowns_follow_the_stored_level(client, fleet, alice):
    Machine.objects.filter(pk=fleet.bobs.pk).update(health="warning")
    client.force_login(alice)
    body = client.get("/").content.decode()
    tiles = {
        lvl: body.split(f'data-testid="tile-{lvl}"')[1].split("</div>")[0]
        for lvl in ["ok", "warning", "critical"]
    }
    assert '"value">1' in tiles["warning"]
    assert '"value">1' in tiles["critical"]
    assert '"value">0' in tiles["ok"]
    listed = client.get("/machines/", {"health": "warning"}).content.decode()
    assert "bob-laptop" in listed
    assert "carol-wsl" not in listed


@pytest.mark.django_db
def test_a_silent_machine_counts_as_offline_whatever_its_stored_level(client, fleet, alice):
    Machine.objects.filter(pk=fleet.carols.pk).update(last_seen=timezone.now() - timedelta(days=1))
    client.force_login(alice)
    response = client.get("/machines/", {"health": "offline"})
    assert [s.hostname for s in response.context["machines"]] == ["carol-wsl"]
    assert client.get("/machines/", {"health": "critical"}).context["fleet_count"] == 0


@pytest.mark.django_db
def test_machine_list_ranks_critical_first_then_largest_gopls(client, fleet, alice):
    client.force_login(alice)
    machines = client.get("/machines/").context["machines"]
    assert [s.hostname for s in machines] == ["carol-wsl", "bob-laptop"]
    assert machines[0].health.level == "critical"


@pytest.mark.django_db
def test_gopls_rows_come_from_the_latest_summary(fleet):
    procs = {p[MACHINE]: p for p in gopls_procs(Machine.objects.all())}
    assert procs[fleet.carols.pk][VERSION] == "v0.18.1"
    assert procs[fleet.carols.pk][PROJECT] == "example.com/monorepo"
    assert procs[fleet.carols.pk][RSS] >= 12 * 1024**3
    assert procs[fleet.bobs.pk][RSS] < 1024**3
    only = gopls_procs(Machine.objects.all(), project="example.com/monorepo")
    assert [p[MACHINE] for p in only] == [fleet.carols.pk]


@pytest.mark.django_db
def test_project_page_counts_findings_by_rule_and_links_to_them(client, evaluated, alice):
    client.force_login(alice)
    response = client.get(reverse("dashboard:project", args=[monorepo().slug]))
    section = response.context["findings"]
    memory = next(r for r in section["rows"] if r["rule"] == "gopls_memory_high")
    critical = next(c for c in memory["counts"] if c[0] == "critical")
    assert critical[1] == 1
    assert (
        critical[2]
        == f"/findings/?rule=gopls_memory_high&severity=critical&project={monorepo().slug}"
    )
    listed = client.get(critical[2]).content.decode()
    assert "carol-wsl" in listed
    assert "carol-wsl" in response.content.decode()
    assert section["visible_count"] >= 1


@pytest.mark.django_db
def test_developers_see_no_project_of_others_nor_their_findings(client, evaluated, bob):
    client.force_login(bob)
    # Only carol's machine works on the monorepo: for bob the project does not exist.
    response = client.get(reverse("dashboard:project", args=[monorepo().slug]))
    assert response.status_code == 404
    body = response.content.decode()
    assert "carol-wsl" not in body
    assert evaluated.carols.machine_id not in body
    listed = client.get(f"/findings/?project={monorepo().slug}").content.decode()
    assert "carol-wsl" not in listed


@pytest.mark.django_db
def test_the_team_lead_sees_the_findings_of_the_team_machine(client, evaluated):
    client.force_login(evaluated.dave)
    response = client.get(reverse("dashboard:project", args=[monorepo().slug]))
    assert {f.machine_id for f in response.context["findings"]["visible"]} == {evaluated.carols.pk}


@pytest.mark.django_db
def test_scatter_never_sends_more_than_the_point_budget(client, fleet, alice, settings):
    from apps.dashboard.services import projects

    settings.DEBUG = False
    client.force_login(alice)
    old = projects.MAX_POINTS
    projects.MAX_POINTS = 1
    try:
        response = client.get(reverse("dashboard:project", args=[monorepo().slug]))
    finally:
        projects.MAX_POINTS = old
    scatter = figure(response.content.decode(), "fig-spread")
    assert sum(len(t["x"]) for t in scatter["data"]) <= 1


@pytest.mark.django_db
def test_the_fleet_page_refreshes_itself_on_a_wall_screen(client, fleet, alice):
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert '<body data-refresh="60">' in body
    assert "refreshes every minute" in body
    assert "data-refresh" not in client.get("/findings/").content.decode()


@pytest.mark.django_db
def test_the_machine_page_says_how_long_the_machine_has_been_unhealthy(client, fleet, alice):
    Machine.objects.filter(pk=fleet.carols.pk).update(
        health_changed_at=timezone.now() - timedelta(hours=3)
    )
    client.force_login(alice)
    body = client.get(reverse("dashboard:machine", args=[fleet.carols.machine_id])).content
    assert "for 3\xa0hours" in body.decode()


@pytest.mark.django_db
def test_odd_summaries_never_break_the_fleet_pages(client, fleet, alice):
    latest = dict(fleet.carols.latest)
    latest["gopls_rss_bytes"] = 1e30
    latest["gopls"] = ["junk", {"rss_bytes": "abc", "cpu_percent": None, "version": 7}]
    Machine.objects.filter(pk=fleet.carols.pk).update(latest=latest)
    Machine.objects.filter(pk=fleet.bobs.pk).update(latest={"gopls": {"not": "a list"}})
    client.force_login(alice)
    for url in ("/", "/machines/", "/versions/", f"/projects/{monorepo().slug}/", "/me/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_critical_machine_has_a_critical_finding_with_advice_named_in_the_list(
    client, fleet, alice
):
    # Issue 13.7: Critical with only warning findings, because 1 % of RAM was free.
    client.force_login(alice)
    for snap in client.get("/machines/").context["machines"]:
        if snap.health.level != "critical":
            continue
        worst = Finding.objects.open().filter(machine_id=snap.pk, severity="critical")
        assert worst.exists(), snap.hostname
        assert all(f.advice for f in worst), snap.hostname
        assert snap.reasons[0] in {f.title for f in worst}
    assert Machine.objects.get(pk=fleet.carols.pk).health == "critical"
