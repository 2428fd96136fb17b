"""Property-based API tests: schemathesis generates requests from our OpenAPI document.

No generated request may produce a server error. CI runs a short pass (10 examples per
operation); `bench/schemathesis_full.sh` runs 1,000 per operation. Every request actually sent
is counted per operation and status class and printed at the end of the run (see conftest.py).

Requests go past authentication: the ingest endpoints get a valid machine credential (and
/enroll a valid enrollment token in its body), the read API a staff API token. Half of the
generated machine and finding ids are replaced by ones that exist, so the detail, series and
finding pages run on real data as well as answering 404.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from datetime import datetime, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core import NotSet

from apps.anomalies.models import Finding
from apps.api.openapi import openapi_document
from apps.fleet.services import create_api_token, create_enrollment_token
from apps.ingest.services import ingest_report
from config.wsgi import application
from tests.factories import enroll, make_report

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
MACHINE_ID = "schemathesis-machine-01"
MACHINE_PATHS = ("/api/v1/reports", "/api/v1/check")
schema = schemathesis.openapi.from_dict(openapi_document())
if os.environ.get("SCHEMATHESIS_NAME_REGEX"):  # e.g. "POST /api/v1/reports" for one operation
    schema = schema.include(name_regex=os.environ["SCHEMATHESIS_NAME_REGEX"])
schema.app = application


@pytest.fixture
def fuzz_world(db, django_user_model, settings):
    """An enrolled machine with stored samples and a finding, and every kind of credential."""
    settings.INGEST_BURST = 10**9
    machine, credential = enroll(machine_id=MACHINE_ID)
    ingest_report(machine, make_report(4))
    now = datetime.now(timezone.utc)
    finding = Finding.objects.create(
        machine=machine,
        rule_id="gopls_invalid_flags",
        subject="flags",
        severity="critical",
        title="t",
        evidence={"flags": ["-max-parallel"]},
        advice={"summary": "x", "steps": [], "sources": []},
        first_seen=now,
        last_seen=now,
    )
    staff = django_user_model.objects.create_user("fuzz", password="pw", is_staff=True)
    # Write scope, so that the finding actions are exercised past the scope check.
    _, read_token = create_api_token(staff, "schemathesis", scope="write")
    _, enrollment_token = create_enrollment_token("Fuzz")
    return {
        "machine_credential": credential,
        "read_token": read_token,
        "enrollment_token": enrollment_token,
        "machine_id": machine.machine_id,
        "finding_id": finding.pk,
    }


def _bucket(value, n: int) -> int:
    """A stable pseudo-random choice among n from a generated value (reproducible on shrink)."""
    return zlib.crc32(repr(value).encode()) % n


def _half_of(value) -> bool:
    return _bucket(value, 2) == 0


def _aim_at_real_objects(case, world) -> None:
    # The coin flips on the whole case: the coverage phase varies one part and keeps the rest.
    whole = (case.path_parameters, case.query, case.headers, case.body)
    params = case.path_parameters or {}
    if "machine_id" in params and _half_of(whole):
        params["machine_id"] = world["machine_id"]
    if "finding_id" in params and _half_of(whole):
        params["finding_id"] = world["finding_id"]
    if case.path == "/api/v1/enroll" and isinstance(case.body, dict):
        if "token" in case.body and _half_of(whole):
            case.body["token"] = world["enrollment_token"]
        # Re-enrolling the fuzz machine would revoke the credential the other requests use.
        if case.body.get("machine_id") == world["machine_id"]:
            case.body["machine_id"] = "schemathesis-other-01"


def _gzipped_body(case) -> dict:
    """The body gzipped when the case says Content-Encoding: gzip (schemathesis sends it plain).

    One case in four stays plain so a body that is not gzip at all is still sent.
    """
    encoding = {k.lower(): v for k, v in (case.headers or {}).items()}.get("content-encoding")
    if encoding != "gzip" or isinstance(case.body, NotSet) or _bucket(case.body, 4) == 0:
        return {}
    if isinstance(case.body, bytes):  # negative cases: not JSON at all
        return {"data": gzip.compress(case.body)}
    return {"data": gzip.compress(json.dumps(case.body).encode())}


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
def test_no_request_makes_a_server_error(case, fuzz_world, schemathesis_calls):
    _aim_at_real_objects(case, fuzz_world)
    if case.path in MACHINE_PATHS:
        token = fuzz_world["machine_credential"]
    elif case.path == "/api/v1/enroll":
        token = ""
    else:
        token = fuzz_world["read_token"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = case.call(headers=headers, **_gzipped_body(case))
    schemathesis_calls.record(case.operation.label, response.status_code)
    assert response.status_code < 500, (
        case.method,
        case.path,
        case.path_parameters,
        case.query,
        response.status_code,
        response.text[:500],
    )
