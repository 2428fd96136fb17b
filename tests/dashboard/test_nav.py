"""The navigation links to the alerts pages each user may use, and only those."""

from __future__ import annotations

import pytest
from django.urls import reverse

ALERTS, SILENCES = reverse("alerts:index"), reverse("alerts:silences")


def nav(client, user) -> str:
    client.force_login(user)
    body = client.get("/").content.decode()
    return body.split('<nav class="nav">')[1].split("</nav>")[0]


@pytest.mark.django_db
def test_staff_get_alerts_and_silences_and_both_open(client, fleet, alice):
    links = nav(client, alice)
    assert f'href="{ALERTS}"' in links
    assert f'href="{SILENCES}"' in links
    assert client.get(ALERTS, follow=True).status_code == 200
    assert client.get(SILENCES).status_code == 200


@pytest.mark.django_db
def test_team_leads_get_silences_too(client, fleet):
    links = nav(client, fleet.dave)
    assert f'href="{SILENCES}"' in links
    assert client.get(SILENCES).status_code == 200


@pytest.mark.django_db
def test_developers_get_their_own_alerts_but_not_silences(client, fleet, bob):
    links = nav(client, bob)
    assert f'href="{ALERTS}"' in links
    assert f'href="{SILENCES}"' not in links
    assert client.get(ALERTS, follow=True).status_code == 200
    assert client.get(SILENCES).status_code == 404


@pytest.mark.django_db
def test_the_alerts_pages_mark_their_nav_link_active(client, fleet, alice):
    client.force_login(alice)
    body = client.get(SILENCES).content.decode()
    assert f'<a href="{SILENCES}" class="active">' in body
