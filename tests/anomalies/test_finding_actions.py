"""POST /api/v1/findings/<id>/acknowledge, /snooze and /unacknowledge: RBAC, CSRF, tokens,
audit, history, and malformed or hostile input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from apps.anomalies.models import Finding, FindingEvent
from apps.api.openapi import openapi_document
from apps.audit.models import AuditEvent
from apps.fleet.models import Membership
from apps.fleet.services import create_api_token
from tests.anomalies.test_api import make_finding
from tests.factories import enroll

pytestmark = pytest.mark.django_db


def url(finding_id, action: str) -> str:
    return f"/api/v1/findings/{finding_id}/{action}"


@pytest.fixture
def finding():
    machine, _ = enroll(team_name="Platform")
    return make_finding(machine)


@pytest.fixture
def staff_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def post_json(client, path, body, **extra):
    import json

    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def kinds(finding) -> list[str]:
    return list(finding.events.values_list("kind", flat=True))


def test_staff_acknowledge_then_unacknowledge_with_history_and_audit(staff_client, finding, alice):
    response = staff_client.post(url(finding.pk, "acknowledge"))
    assert response.status_code == 200
    assert response.json()["acknowledged_at"] is not None
    finding.refresh_from_db()
    assert finding.acknowledged_by == alice
    assert staff_client.post(url(finding.pk, "acknowledge")).status_code == 200  # idempotent
    assert kinds(finding) == ["acknowledged"]
    response = staff_client.post(url(finding.pk, "unacknowledge"))
    assert response.status_code == 200
    assert response.json()["acknowledged_at"] is None
    finding.refresh_from_db()
    assert finding.acknowledged_at is None
    assert finding.acknowledged_by is None
    assert kinds(finding) == ["acknowledged", "unacknowledged"]
    audit = AuditEvent.objects.filter(object_type="anomalies.Finding", object_id=str(finding.pk))
    assert audit.count() == 2
    assert {e.actor_repr for e in audit} == {"alice"}
    assert all(e.path.startswith(f"/api/v1/findings/{finding.pk}/") for e in audit)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"duration": "2h"}, timedelta(hours=2)),
        ({"duration": 5400}, timedelta(minutes=90)),
        ({"duration": "1d"}, timedelta(days=1)),
        ({"duration": "90m"}, timedelta(minutes=90)),
    ],
)
def test_snooze_for_a_duration(staff_client, finding, body, expected):
    before = datetime.now(timezone.utc)
    response = post_json(staff_client, url(finding.pk, "snooze"), body)
    assert response.status_code == 200, response.content
    finding.refresh_from_db()
    assert before + expected <= finding.snoozed_until <= datetime.now(timezone.utc) + expected
    assert kinds(finding) == ["snoozed"]
    assert AuditEvent.objects.filter(object_type="anomalies.Finding").count() == 1


def test_snooze_until_a_time(staff_client, finding):
    until = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    response = post_json(staff_client, url(finding.pk, "snooze"), {"until": until.isoformat()})
    assert response.status_code == 200
    finding.refresh_from_db()
    assert finding.snoozed_until == until
    assert FindingEvent.objects.get(finding=finding).detail == {"until": until.isoformat()}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"until": "2026-01-01T00:00:00Z", "duration": "1h"},
        {"duration": "-1h"},
        {"duration": -3600},
        {"duration": 0},
        {"duration": 30},  # under a minute
        {"duration": "1y"},
        {"duration": "9999999w"},
        {"duration": 10**30},
        {"duration": -(10**30)},  # overflowed timedelta: a 500 (found by hypothesis)
        {"duration": -(2**40)},  # past datetime.min once added to now
        {"duration": 1e308},
        {"duration": True},
        {"duration": None},
        {"duration": ["1h"]},
        {"duration": "1h; DROP TABLE anomalies_finding"},
        {"duration": "91d"},
        {"until": "2000-01-01T00:00:00Z"},  # in the past
        {"until": "9999-12-31T23:59:59Z"},  # too far
        {"until": "2030-01-01T00:00:00"},  # no offset
        {"until": "tomorrow"},
        {"until": 1893456000},
        {"until": "x" * 5000},
        {"until": "2026-13-45T99:99:99Z"},
        ["duration", "1h"],
        "1h",
        None,
    ],
)
def test_snooze_rejects_bad_input(staff_client, finding, body):
    response = post_json(staff_client, url(finding.pk, "snooze"), body)
    assert response.status_code in (400, 413), response.content
    assert response.json()["error"]
    finding.refresh_from_db()
    assert finding.snoozed_until is None
    assert not finding.events.exists()
    assert not AuditEvent.objects.filter(object_type="anomalies.Finding").exists()


def test_snooze_rejects_non_json_oversized_and_missing_bodies(staff_client, finding):
    path = url(finding.pk, "snooze")
    empty = staff_client.post(path, "", content_type="application/json")
    assert empty.status_code == 400  # no body: neither until nor duration
    assert staff_client.post(path).status_code == 415  # a form, not JSON
    assert staff_client.post(path, "duration=1h", content_type="text/plain").status_code == 415
    assert staff_client.post(path, "{not json", content_type="application/json").status_code == 400
    huge = '{"duration": "1h", "pad": "' + "x" * 10_000 + '"}'
    assert staff_client.post(path, huge, content_type="application/json").status_code == 413
    assert staff_client.post(path, "\x00\xff", content_type="application/json").status_code == 400


@pytest.mark.parametrize("action", ["acknowledge", "snooze", "unacknowledge"])
@pytest.mark.parametrize("bad_id", ["0", "999999", "9" * 30, str(2**63), "-1", "abc", "1.5"])
def test_bad_ids_answer_404(staff_client, action, bad_id):
    response = post_json(staff_client, f"/api/v1/findings/{bad_id}/{action}", {"duration": "1h"})
    assert response.status_code == 404


@pytest.mark.parametrize("action", ["acknowledge", "snooze", "unacknowledge"])
def test_only_post_is_allowed(staff_client, finding, action):
    assert staff_client.get(url(finding.pk, action)).status_code == 405
    assert staff_client.put(url(finding.pk, action)).status_code == 405


def test_a_resolved_finding_cannot_be_acted_on(staff_client):
    machine, _ = enroll()
    resolved = make_finding(machine, state="resolved")
    assert staff_client.post(url(resolved.pk, "acknowledge")).status_code == 409
    response = post_json(staff_client, url(resolved.pk, "snooze"), {"duration": "1h"})
    assert response.status_code == 409
    assert not resolved.events.exists()


def test_developers_act_only_on_their_own_machines(bob, carol):
    mine, _ = enroll(owner="bob")
    mine.owner = bob
    mine.save()
    theirs, _ = enroll()
    own, other = make_finding(mine), make_finding(theirs)
    client = Client()
    client.force_login(bob)
    assert client.post(url(own.pk, "acknowledge")).status_code == 200
    for action in ("acknowledge", "snooze", "unacknowledge"):
        response = post_json(client, url(other.pk, action), {"duration": "1h"})
        assert response.status_code == 404  # not 403: its existence is not revealed
    other.refresh_from_db()
    assert other.acknowledged_at is None
    assert other.snoozed_until is None
    client.force_login(carol)
    assert client.post(url(own.pk, "unacknowledge")).status_code == 404


def test_team_leads_act_on_their_teams_machines_only(django_user_model):
    lead = django_user_model.objects.create_user("lena", password="pw")
    ours, _ = enroll(team_name="Editors")
    theirs, _ = enroll(team_name="Compilers")
    Membership.objects.create(user=lead, team=ours.team, role="lead")
    client = Client()
    client.force_login(lead)
    assert client.post(url(make_finding(ours).pk, "acknowledge")).status_code == 200
    assert client.post(url(make_finding(theirs).pk, "acknowledge")).status_code == 404


def test_sessions_need_the_csrf_token(alice, finding):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(url(finding.pk, "acknowledge"))
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    finding.refresh_from_db()
    assert finding.acknowledged_at is None
    client.get("/api/v1/findings/")  # any page: the CSRF cookie
    token = client.cookies.get("csrftoken")
    if token is None:  # the API pages set none: get one the way the dashboard does
        from django.middleware.csrf import _get_new_csrf_string

        token_value = _get_new_csrf_string()
        client.cookies["csrftoken"] = token_value
    else:
        token_value = token.value
    response = client.post(url(finding.pk, "acknowledge"), HTTP_X_CSRFTOKEN=token_value)
    assert response.status_code == 200


def test_api_tokens_need_no_csrf_and_are_audited_as_their_user(alice, finding):
    _, secret = create_api_token(alice, "ci", scope="write")
    client = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = post_json(client, url(finding.pk, "snooze"), {"duration": "1h"}, **auth)
    assert response.status_code == 200
    event = AuditEvent.objects.get(object_type="anomalies.Finding")
    assert event.actor == alice
    assert "snoozed_until" in event.changes


def test_a_read_only_api_token_cannot_acknowledge_or_snooze(alice, finding):
    _, secret = create_api_token(alice, "dashboard-script")  # read-only is the default
    client = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get(f"/api/v1/findings/{finding.pk}/", **auth).status_code == 200
    for action in ("acknowledge", "unacknowledge"):
        response = client.post(url(finding.pk, action), **auth)
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    response = post_json(client, url(finding.pk, "snooze"), {"duration": "1h"}, **auth)
    assert response.status_code == 403
    finding.refresh_from_db()
    assert finding.acknowledged_at is None
    assert finding.snoozed_until is None
    assert not finding.events.exists()


def test_a_write_scoped_token_acknowledges_only_what_its_user_may_see(bob, finding):
    _, secret = create_api_token(bob, "ci", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().post(url(finding.pk, "acknowledge"), **auth).status_code == 404


def test_an_api_token_scope_must_be_read_or_write(alice):
    with pytest.raises(ValueError, match="scope"):
        create_api_token(alice, "x", scope="admin")


def test_anonymous_and_bad_tokens_get_401(finding):
    client = Client()
    assert client.post(url(finding.pk, "acknowledge")).status_code == 401
    response = client.post(url(finding.pk, "acknowledge"), HTTP_AUTHORIZATION="Bearer dfp_nope")
    assert response.status_code == 401
    assert client.post(url(finding.pk, "acknowledge"), HTTP_AUTHORIZATION="Bearer").status_code == (
        401
    )


def test_the_actions_are_in_the_openapi_document():
    paths = openapi_document()["paths"]
    for action in ("acknowledge", "snooze", "unacknowledge"):
        operation = paths[f"/api/v1/findings/{{finding_id}}/{action}"]["post"]
        assert operation["operationId"] == f"{action}Finding"
        assert {"200", "401", "403", "404"} <= set(operation["responses"])
    snooze = paths["/api/v1/findings/{finding_id}/snooze"]["post"]
    assert snooze["requestBody"]["required"] is True


def test_snoozing_again_replaces_the_end_and_is_recorded_each_time(staff_client, finding):
    assert post_json(staff_client, url(finding.pk, "snooze"), {"duration": "1h"}).status_code == 200
    assert post_json(staff_client, url(finding.pk, "snooze"), {"duration": "2d"}).status_code == 200
    finding.refresh_from_db()
    assert finding.snoozed_until > datetime.now(timezone.utc) + timedelta(days=1)
    assert kinds(finding) == ["snoozed", "snoozed"]
    assert Finding.objects.get(pk=finding.pk).is_snoozed
