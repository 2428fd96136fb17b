"""The one visibility rule (README, Security): a developer sees a project only when one of
their machines works on it, fleet aggregates only over groups of at least five machines, and
/metrics only with the staff metrics token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.fleet.models import Project
from apps.fleet.services import create_api_token
from tests.dashboard.conftest import ingest
from tests.dashboard.test_pages import figure
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db
GOLDMARK = "github.com/yuin/goldmark"  # the project of the example report (gopls v0.16.2)
MONOREPO = "example.com/monorepo"  # only carol's machine (team Mobile, gopls v0.18.1)


@pytest.fixture
def crowd(fleet):
    """Four more Platform machines like bob's: five machines on v0.16.2 and goldmark."""
    for i in range(4):
        machine, _ = enroll("Platform", hostname=f"platform-{i}")
        report = make_report(2)
        report["machine"]["hostname"] = f"platform-{i}"
        ingest(machine, report)
    return fleet


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_project_only_another_teams_machine_works_on_is_a_404_and_never_named(crowd, bob):
    client = login(bob)
    slug = Project.objects.get(module_path=MONOREPO).slug
    assert client.get(reverse("dashboard:project", args=[slug])).status_code == 404
    assert MONOREPO not in client.get(reverse("dashboard:project-list")).content.decode()
    for page in ("dashboard:fleet", "dashboard:machine-list", "dashboard:findings"):
        body = client.get(reverse(page)).content.decode()
        assert MONOREPO not in body, page
        assert "v0.18.1" not in body, page  # a version only carol's machine runs
    assert client.get("/api/v1/findings/", {"project": slug}).json()["results"] == []


def test_the_team_lead_and_staff_open_that_project(crowd, alice):
    slug = Project.objects.get(module_path=MONOREPO).slug
    for user in (crowd.dave, alice):
        response = login(user).get(reverse("dashboard:project", args=[slug]))
        assert response.status_code == 200
        assert response.context["machine_count"] == 1


def test_fleet_aggregates_show_a_developer_only_groups_of_five_machines_or_more(crowd, bob):
    body = login(bob).get(reverse("dashboard:fleet")).content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == ["v0.16.2"]
    assert figure(body, "fig-projects")["data"][0]["y"] == [GOLDMARK]
    teams = figure(body, "fig-teams")
    assert all("Mobile" not in (trace.get("y") or []) for trace in teams["data"])
    assert MONOREPO not in body


def test_staff_see_every_group_however_small(crowd, alice):
    body = login(alice).get(reverse("dashboard:fleet")).content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == ["v0.16.2", "v0.18.1"]
    assert MONOREPO in figure(body, "fig-projects")["data"][0]["y"]
    body = login(alice).get(reverse("dashboard:versions")).content.decode()
    assert "v0.18.1" in body


def test_the_versions_page_shows_a_developer_versions_on_five_machines_or_more(crowd, bob):
    response = login(bob).get(reverse("dashboard:versions"))
    assert [row["version"] for row in response.context["table"]] == ["v0.16.2"]
    assert {row["gopls"] for row in response.context["go_rows"]} == {"v0.16.2"}
    assert "v0.18.1" not in response.content.decode()


def test_a_project_of_five_machines_shows_its_aggregates_to_a_developer_on_it(crowd, bob):
    slug = Project.objects.get(module_path=GOLDMARK).slug
    response = login(bob).get(reverse("dashboard:project", args=[slug]))
    assert response.status_code == 200
    assert response.context["machine_count"] == 5
    assert response.context["median_rss"] is not None
    assert response.context["versions"] == [("v0.16.2", 5)]
    # The others' machines are anonymous points, bob's the only named one.
    assert [s.hostname for s in response.context["machines"]] == ["bob-laptop"]


def test_a_small_project_shows_a_developer_only_their_own_machines(fleet, bob):
    slug = Project.objects.get(module_path=GOLDMARK).slug
    other, _ = enroll("Platform", hostname="someone-else")
    ingest(other, make_report(2))
    response = login(bob).get(reverse("dashboard:project", args=[slug]))
    assert response.status_code == 200
    assert response.context["machine_count"] == 1  # bob's; two in all is too few to show
    body = response.content.decode()
    assert "someone-else" not in body
    assert "a Linux machine" not in body


def test_filter_choices_name_only_what_the_developer_may_know(crowd, bob):
    response = login(bob).get(reverse("dashboard:machine-list"))
    options = response.context["options"]
    assert [name for _, name in options["teams"]] == ["Platform"]
    assert [path for _, path in options["projects"]] == [GOLDMARK]
    assert options["versions"] == ["v0.16.2"]


def test_filtering_down_to_a_small_group_counts_nothing_for_a_developer(crowd, bob, alice):
    mobile = {"team": crowd.carols.team.slug}
    body = login(bob).get(reverse("dashboard:fleet"), mobile).content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == []
    assert "v0.18.1" not in body
    response = login(bob).get(reverse("dashboard:machine-list"), {"version": "v0.18.1"})
    assert response.context["fleet_count"] is None
    assert "fleet-wide" not in response.content.decode()
    response = login(alice).get(reverse("dashboard:machine-list"), {"version": "v0.18.1"})
    assert response.context["fleet_count"] == 1


def test_metrics_answer_only_the_staff_metrics_token(live_server, settings, crowd, bob):
    import urllib.error
    import urllib.request

    settings.METRICS_TOKEN = "metrics-secret-for-tests"
    _, personal = create_api_token(bob, "script", scope="write")

    def status(headers: dict) -> int:
        request = urllib.request.Request(live_server.url + "/metrics", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status({}) == 401
    assert status({"Authorization": f"Bearer {personal}"}) == 401
    client = login(bob)
    assert client.get("/metrics").status_code == 401  # a session is no metrics token
    assert status({"Authorization": "Bearer metrics-secret-for-tests"}) == 200


def test_the_silence_form_offers_a_lead_only_the_projects_of_their_teams(crowd, alice):
    body = login(crowd.dave).get(reverse("alerts:silences")).content.decode()
    assert MONOREPO in body
    assert GOLDMARK not in body
    body = login(alice).get(reverse("alerts:silences")).content.decode()
    assert MONOREPO in body
    assert GOLDMARK in body
