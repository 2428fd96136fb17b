"""Property-based API tests: schemathesis generates requests from our OpenAPI document.

No generated request may produce a server error. CI runs a short pass; set
SCHEMATHESIS_EXAMPLES=1000 for the long run quoted in the closing notes.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from apps.api.openapi import openapi_document
from apps.fleet.services import create_api_token
from config.wsgi import application
from tests.factories import enroll

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = application


@pytest.fixture
def auth_headers(db, django_user_model, settings):
    settings.INGEST_BURST = 100_000
    machine, credential = enroll(machine_id="schemathesis-machine-01")
    staff = django_user_model.objects.create_user("fuzz", password="pw", is_staff=True)
    _, token = create_api_token(staff, "schemathesis")
    return {"machine": credential, "read": token, "machine_id": machine.machine_id}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_request_makes_a_server_error(case, auth_headers):
    token = (
        auth_headers["machine"]
        if case.path in ("/api/v1/reports", "/api/v1/check")
        else (auth_headers["read"])
    )
    if (
        case.path_parameters
        and "machine_id" in case.path_parameters
        and case.path_parameters["machine_id"].startswith("schemathesis")
    ):
        case.path_parameters["machine_id"] = auth_headers["machine_id"]
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (
        case.method,
        case.path,
        response.status_code,
        response.text[:500],
    )
