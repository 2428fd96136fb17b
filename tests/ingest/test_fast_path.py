"""Uploads skip the middleware they do not need, and answer exactly as through the full stack."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.factories import make_report
from tests.ingest.test_contract import post_report

pytestmark = pytest.mark.django_db

FAST = "apps.common.fastpath.IngestFastPathMiddleware"
FULL_STACK = [m for m in settings.MIDDLEWARE if m != FAST]


def answer(client, credential, report) -> tuple[int, list[tuple[str, str]], dict]:
    response = post_report(client, credential, report)
    headers = [(k, v) for k, v in response.items() if k.lower() != "date"]
    body = response.json()
    body.pop("received_at", None)
    return response.status_code, headers, body


def test_an_upload_answers_the_same_through_the_fast_path_and_the_full_stack(client, enrolled):
    assert FAST in settings.MIDDLEWARE
    fast = answer(client, enrolled[1], make_report(2))
    with override_settings(MIDDLEWARE=FULL_STACK):
        full = answer(client, enrolled[1], make_report(2))
    assert fast == full
    assert fast[0] == 200
    names = [name for name, _ in fast[1]]
    assert {"Content-Length", "X-Frame-Options", "Content-Security-Policy"} <= set(names)


@pytest.mark.parametrize("credential", ["dfm_unknown", ""])
def test_errors_answer_the_same_through_the_fast_path_and_the_full_stack(client, credential):
    fast = answer(client, credential, make_report(1))
    with override_settings(MIDDLEWARE=FULL_STACK):
        full = answer(client, credential, make_report(1))
    assert fast == full
    assert fast[0] == 401


def test_other_requests_take_the_full_stack(client):
    response = client.get("/api/v1/reports")
    assert response.status_code == 405
    assert client.post("/api/v1/enroll", b"{}", content_type="application/json").status_code == 401
