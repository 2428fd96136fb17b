"""apps.common.http: JSON error bodies, bearer parsing and @machine_required."""

from __future__ import annotations

import orjson
import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from apps.common.http import bearer_token, error_response, machine_required
from apps.fleet.models import MachineCredential
from tests.factories import enroll

rf = RequestFactory()


@machine_required
def _whoami(request):
    return HttpResponse(request.machine.machine_id)


@machine_required(detail="re-enroll, please")
def _whoami_hinted(request):
    return HttpResponse(request.machine.machine_id)


def _get(token: str | None, header: str = "Bearer {}"):
    extra = {} if token is None else {"HTTP_AUTHORIZATION": header.format(token)}
    return rf.get("/", **extra)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Basic abc", ""),
        ("Bearer", ""),
        ("", ""),
        ("Token abc", ""),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header, expected):
    assert bearer_token(rf.get("/", HTTP_AUTHORIZATION=header)) == expected


def test_error_response_names_the_code_detail_and_errors():
    response = error_response(400, "invalid_request", "bad", [{"path": "$.x", "message": "m"}])
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == {
        "error": "invalid_request",
        "detail": "bad",
        "errors": [{"path": "$.x", "message": "m"}],
    }


@pytest.mark.django_db
def test_machine_required_gives_the_view_the_credentials_machine():
    machine, credential = enroll()
    response = _whoami(_get(credential))
    assert response.status_code == 200
    assert response.content.decode() == machine.machine_id


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "", "nope", "x" * 5000, "dfm_\x00'; DROP TABLE x"])
def test_machine_required_refuses_missing_unknown_and_hostile_tokens(token):
    enroll()
    response = _whoami(_get(token))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="devfleet"'
    assert orjson.loads(response.content) == {
        "error": "unauthorized",
        "detail": "unknown or revoked machine credential",
    }


@pytest.mark.django_db
def test_machine_required_refuses_a_revoked_credential_with_the_views_detail():
    machine, credential = enroll()
    MachineCredential.objects.filter(machine=machine).update(revoked_at="2026-01-01T00:00:00Z")
    response = _whoami_hinted(_get(credential))
    assert response.status_code == 401
    assert orjson.loads(response.content)["detail"] == "re-enroll, please"
