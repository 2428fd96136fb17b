"""Read API: who sees what, series parameters, and the OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.fleet.models import Membership
from apps.fleet.services import create_api_token
from apps.ingest.services import ingest_report
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(bob, carol):
    """bob owns one machine in Payments, carol one in Search."""
    bobs, _ = enroll("Payments", owner="bob", hostname="bob-laptop")
    carols, _ = enroll("Search", owner="carol", hostname="carol-desktop")
    now = datetime.now(timezone.utc)
    for machine in (bobs, carols):
        report = make_report(8, start=now - timedelta(minutes=3), sent_at=now)
        del report["machine"]  # keep the enrolled hostnames
        ingest_report(machine, report)
    return bobs, carols


def hostnames(response) -> set[str]:
    return {m["hostname"] for m in response.json()["results"]}


def test_anonymous_requests_get_401(client, fleet):
    bobs, _ = fleet
    for url in (
        "/api/v1/machines/",
        f"/api/v1/machines/{bobs.machine_id}/",
        f"/api/v1/machines/{bobs.machine_id}/series/?metric=gopls.rss_bytes",
    ):
        response = client.get(url)
        assert response.status_code == 401, url


def test_staff_see_every_machine(client, fleet, alice):
    client.force_login(alice)
    assert hostnames(client.get("/api/v1/machines/")) == {"bob-laptop", "carol-desktop"}


def test_a_developer_sees_only_their_own_machines(client, fleet, bob):
    bobs, carols = fleet
    client.force_login(bob)
    assert hostnames(client.get("/api/v1/machines/")) == {"bob-laptop"}
    assert client.get(f"/api/v1/machines/{bobs.machine_id}/").status_code == 200
    assert client.get(f"/api/v1/machines/{carols.machine_id}/").status_code == 404
    series = f"/api/v1/machines/{carols.machine_id}/series/?metric=gopls.rss_bytes"
    assert client.get(series).status_code == 404


def test_a_team_lead_sees_the_team(client, fleet, carol, django_user_model):
    lead = django_user_model.objects.create_user("lena", password="pw")
    Membership.objects.create(user=lead, team=fleet[1].team, role=Membership.Role.LEAD)
    client.force_login(lead)
    assert hostnames(client.get("/api/v1/machines/")) == {"carol-desktop"}


def test_a_personal_api_token_authenticates_and_revocation_stops_it(client, fleet, bob):
    token, secret = create_api_token(bob, "script")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert hostnames(client.get("/api/v1/machines/", **headers)) == {"bob-laptop"}
    token.revoke()
    assert client.get("/api/v1/machines/", **headers).status_code == 401


def test_a_machine_credential_is_not_a_read_token(client, fleet):
    _, credential = enroll("Payments", owner="bob")
    response = client.get("/api/v1/machines/", HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert response.status_code == 401


def test_series_returns_points_per_gopls_lifetime(client, fleet, alice):
    bobs, _ = fleet
    client.force_login(alice)
    response = client.get(
        f"/api/v1/machines/{bobs.machine_id}/series/", {"metric": "gopls.rss_bytes"}
    )
    body = response.json()
    assert body["unit"] == "bytes"
    assert len(body["series"]) == 1
    points = body["series"][0]["points"]
    assert len(points) == 8
    assert [p[1] for p in points] == sorted(p[1] for p in points)  # rss grows in make_report


def test_series_are_downsampled_to_max_points_keeping_extremes(client, fleet, alice):
    bobs, _ = fleet
    client.force_login(alice)
    response = client.get(
        f"/api/v1/machines/{bobs.machine_id}/series/",
        {"metric": "system.mem_available_bytes", "max_points": 4},
    )
    assert len(response.json()["series"][0]["points"]) <= 4


@pytest.mark.parametrize(
    "params",
    [
        {"metric": "nope"},
        {},
        {"metric": "gopls.rss_bytes", "since": "yesterday"},
        {"metric": "gopls.rss_bytes", "max_points": "many"},
        {
            "metric": "gopls.rss_bytes",
            "since": "2026-11-23T10:00:00Z",
            "until": "2026-11-22T10:00:00Z",
        },
    ],
)
def test_bad_series_parameters_are_400(client, fleet, alice, params):
    client.force_login(alice)
    response = client.get(f"/api/v1/machines/{fleet[0].machine_id}/series/", params)
    assert response.status_code == 400


def test_list_pagination_and_filters(client, fleet, alice):
    client.force_login(alice)
    page = client.get("/api/v1/machines/", {"limit": 1}).json()
    assert page["count"] == 2
    assert len(page["results"]) == 1
    assert hostnames(client.get("/api/v1/machines/", {"team": "Search"})) == {"carol-desktop"}
    assert client.get("/api/v1/machines/", {"limit": "x"}).status_code == 400
    huge = client.get("/api/v1/machines/", {"offset": str(10**30), "limit": str(-(10**30))})
    assert huge.status_code == 200
    assert huge.json()["results"] == []


def test_the_openapi_document_is_valid_and_lists_the_contract(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").json()
    validate(document)
    for path in (
        "/api/v1/enroll",
        "/api/v1/reports",
        "/api/v1/machines/",
        "/api/v1/machines/{machine_id}/",
        "/api/v1/machines/{machine_id}/series/",
    ):
        assert path in document["paths"]
    assert "gopls_process" in document["components"]["schemas"]


def test_nul_characters_in_filters_are_a_400_not_a_database_error(client, fleet, alice):
    client.force_login(alice)
    assert client.get("/api/v1/machines/", {"team": "a\x00b"}).status_code == 400
    assert client.get("/api/v1/findings/", {"rule": "\x00"}).status_code == 400


def test_nul_characters_in_a_path_id_are_a_400_not_a_database_error(client, fleet, alice):
    # Found by fuzzing on PostgreSQL: /api/v1/machines/a%00b/ was a DataError and a 500.
    client.force_login(alice)
    for path in ("/api/v1/machines/a%00b/", "/api/v1/machines/a%00b/series/", "/machines/a%00/"):
        assert client.get(path).status_code == 400
