"""First steps around the dashboard: owner links, one active nav tab, team filter by name."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

ACTIVE = re.compile(r'<a href="([^"]+)" class="active"')


def _nav(body: str) -> str:
    return body.split('<nav class="nav">')[1].split("</nav>")[0]


def _active_tabs(client, path: str) -> list[str]:
    response = client.get(path, follow=True)
    assert response.status_code == 200, path
    return ACTIVE.findall(_nav(response.content.decode()))


@pytest.mark.django_db
def test_owner_names_link_to_their_developer_pages(client, fleet, alice):
    client.force_login(alice)
    bob_page = reverse("dashboard:developer", args=[fleet.bobs.owner_id])
    listing = client.get(reverse("dashboard:machine-list")).content.decode()
    assert f'<a href="{bob_page}">bob</a>' in listing
    machine = client.get(reverse("dashboard:machine", args=[fleet.bobs.machine_id]))
    assert f'<a href="{bob_page}">bob</a>' in machine.content.decode()
    assert client.get(bob_page).status_code == 200


@pytest.mark.django_db
def test_the_fleet_pages_offenders_link_to_their_machines(client, fleet, alice):
    client.force_login(alice)
    body = client.get("/").content.decode()
    offenders = body.split("Top offenders")[1].split("</table>")[0]
    carols = reverse("dashboard:machine", args=[fleet.carols.machine_id])
    assert f'<a href="{carols}">carol-wsl</a>' in offenders


@pytest.mark.django_db
def test_every_page_has_exactly_one_active_nav_tab(client, fleet, alice):
    client.force_login(alice)
    pages = {
        "/": "/",
        reverse("dashboard:machine-list"): reverse("dashboard:machine-list"),
        reverse("dashboard:machine", args=[fleet.bobs.machine_id]): reverse(
            "dashboard:machine-list"
        ),
        reverse("dashboard:developer", args=[fleet.bobs.owner_id]): reverse(
            "dashboard:machine-list"
        ),
        reverse("dashboard:developer", args=[alice.pk]): reverse("dashboard:me"),
        reverse("dashboard:me"): reverse("dashboard:me"),
        reverse("dashboard:findings"): reverse("dashboard:findings"),
        reverse("dashboard:project-list"): reverse("dashboard:project-list"),
        reverse("dashboard:versions"): reverse("dashboard:versions"),
        reverse("dashboard:rule-list"): reverse("dashboard:rule-list"),
        reverse("dashboard:rule", args=["gopls_memory_leak"]): reverse("dashboard:rule-list"),
        reverse("alerts:index"): reverse("alerts:index"),
        reverse("alerts:me"): reverse("alerts:index"),
        reverse("alerts:silences"): reverse("alerts:silences"),
    }
    for path, tab in pages.items():
        assert _active_tabs(client, path) == [tab], path


@pytest.mark.django_db
def test_a_developers_own_alerts_page_is_not_also_my_machines(client, fleet, bob):
    client.force_login(bob)
    assert _active_tabs(client, reverse("alerts:me")) == [reverse("alerts:index")]
    assert _active_tabs(client, reverse("dashboard:me")) == [reverse("dashboard:me")]


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["Mobile", "mobile", "MOBILE"])
def test_a_team_filter_by_name_selects_that_team_and_filters(client, fleet, alice, given):
    client.force_login(alice)
    slug = fleet.carols.team.slug
    for path in ("/", reverse("dashboard:machine-list")):
        body = client.get(path, {"team": given}).content.decode()
        assert f'<option value="{slug}" selected>Mobile</option>' in body, path
    listing = client.get(reverse("dashboard:machine-list"), {"team": given}).content.decode()
    assert "carol-wsl" in listing
    assert "bob-laptop" not in listing


@pytest.mark.django_db
def test_an_unknown_team_filter_selects_nothing_and_shows_no_machines(client, fleet, alice):
    client.force_login(alice)
    body = client.get(reverse("dashboard:machine-list"), {"team": "<b>Nope</b>"}).content
    body = body.decode()
    assert " selected>" not in body.split('name="team"')[1].split("</select>")[0]
    assert "carol-wsl" not in body
    assert "<b>Nope</b>" not in body
