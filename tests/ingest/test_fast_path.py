"""Uploads skip the middleware they do not need, and answer exactly as through the full stack."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
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


def test_an_upload_runs_no_database_health_check(client, enrolled, monkeypatch):
    checks = []
    db = connections[DEFAULT_DB_ALIAS]
    monkeypatch.setattr(db, "is_usable", lambda: checks.append(1) or True)
    monkeypatch.setattr(db, "health_check_enabled", True)
    monkeypatch.setattr(db, "health_check_done", False)  # as at a request's start
    assert post_report(client, enrolled[1], make_report(2)).status_code == 200
    assert checks == []


@pytest.mark.django_db(transaction=True)
def test_the_first_upload_after_the_database_dropped_the_connection_succeeds(client, enrolled):
    if connection.vendor != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL case (set DATABASE_URL)")
    assert post_report(client, enrolled[1], make_report(1)).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with psycopg.connect(connection_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    response = post_report(client, enrolled[1], make_report(2))
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2


def connection_url() -> str:
    s = connection.settings_dict
    return (
        f"postgresql://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or 'localhost'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )
