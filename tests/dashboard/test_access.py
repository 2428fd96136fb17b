"""Access rules of every dashboard page and API endpoint: staff, team lead, owner, outsider."""

from __future__ import annotations

import pytest
from django.urls import reverse


def get(client, user, url):
    client.force_login(user)
    return client.get(url)


def pages(fleet, project_slug):
    b, c = fleet.bobs.machine_id, fleet.carols.machine_id
    return {
        "fleet": reverse("dashboard:fleet"),
        "machines": reverse("dashboard:machine-list"),
        "bob_machine": reverse("dashboard:machine", args=[b]),
        "carol_machine": reverse("dashboard:machine", args=[c]),
        "carol_chart": reverse("dashboard:machine-chart", args=[c, "memory"]),
        "me": reverse("dashboard:me"),
        "projects": reverse("dashboard:project-list"),
        "project": reverse("dashboard:project", args=[project_slug]),
        "versions": reverse("dashboard:versions"),
        "findings": reverse("dashboard:findings"),
        "rules": reverse("dashboard:rule-list"),
        "rule": reverse("dashboard:rule", args=["gopls_memory_high"]),
        "api_list": "/api/v1/machines/",
        "api_carol": f"/api/v1/machines/{c}/",
        "api_carol_series": f"/api/v1/machines/{c}/series/?metric=gopls.rss_bytes",
    }


def _slug():
    from apps.fleet.models import Project

    return Project.objects.get(module_path="example.com/monorepo").slug


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login_or_refused(client, fleet):
    for name, url in pages(fleet, _slug()).items():
        response = client.get(url)
        if name.startswith("api"):
            assert response.status_code == 401, name
        else:
            assert response.status_code == 302, name
            assert response["Location"].startswith("/login/"), name


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "forbidden"),
    [
        ("alice", set()),
        ("dave", {"bob_machine"}),
        ("carol", {"bob_machine"}),
        # Only carol's machine works on the project: bob cannot see it exists.
        ("bob", {"carol_machine", "carol_chart", "api_carol", "api_carol_series", "project"}),
    ],
)
def test_each_user_sees_fleet_pages_and_only_their_machines(client, fleet, who, forbidden):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=who)
    for name, url in pages(fleet, _slug()).items():
        status = get(client, user, url).status_code
        assert status == (404 if name in forbidden else 200), (who, name, status)


@pytest.mark.django_db
def test_machine_list_shows_a_developer_only_their_own_machines(client, fleet, bob):
    body = get(client, bob, reverse("dashboard:machine-list")).content.decode()
    assert "bob-laptop" in body
    assert "carol-wsl" not in body
    # Two machines fleet-wide is a group too small to count for a developer.
    assert "1 you can open" in body
    assert "fleet-wide" not in body
    body = get(client, fleet.dave, reverse("dashboard:machine-list")).content.decode()
    assert "fleet-wide" not in body


@pytest.mark.django_db
def test_api_machine_list_follows_the_same_rules(client, fleet, bob, alice):
    ids = {m["machine_id"] for m in get(client, bob, "/api/v1/machines/").json()["results"]}
    assert ids == {fleet.bobs.machine_id}
    ids = {m["machine_id"] for m in get(client, alice, "/api/v1/machines/").json()["results"]}
    assert ids == {fleet.bobs.machine_id, fleet.carols.machine_id}


@pytest.mark.django_db
def test_project_page_hides_other_peoples_hostnames_from_developers(client, fleet, bob, alice):
    url = reverse("dashboard:project", args=[_slug()])
    assert "carol-wsl" not in get(client, bob, url).content.decode()
    assert "carol-wsl" in get(client, alice, url).content.decode()


@pytest.mark.django_db
def test_developer_pages_are_for_staff_and_the_persons_team_lead(client, fleet, alice, bob, carol):
    carol_url = reverse("dashboard:developer", args=[carol.pk])
    assert get(client, alice, carol_url).status_code == 200
    assert get(client, fleet.dave, carol_url).status_code == 200
    assert get(client, bob, carol_url).status_code == 404
    assert get(client, bob, reverse("dashboard:developer", args=[999999])).status_code == 404
    own = get(client, bob, reverse("dashboard:developer", args=[bob.pk]))
    assert own.status_code == 302
    assert own["Location"] == reverse("dashboard:me")


@pytest.mark.django_db
def test_me_lists_my_machines_and_not_others(client, fleet, carol):
    body = get(client, carol, reverse("dashboard:me")).content.decode()
    assert "carol-wsl" in body
    assert "bob-laptop" not in body


@pytest.mark.django_db
def test_forms_need_a_csrf_token(fleet, bob):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    login_page = strict.get("/login/").content.decode()
    assert "csrfmiddlewaretoken" in login_page
    assert strict.post("/login/", {"username": "bob", "password": "pw"}).status_code == 403
    strict.force_login(bob)
    fleet_page = strict.get("/").content.decode()
    assert 'action="/logout/"' in fleet_page
    assert "csrfmiddlewaretoken" in fleet_page
    assert strict.post("/logout/").status_code == 403


@pytest.mark.django_db
def test_login_with_the_form_lands_on_the_fleet(client, fleet):
    response = client.post("/login/", {"username": "bob", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/"
