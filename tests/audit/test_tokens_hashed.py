"""No raw secret (enrollment token, machine credential, API token) is ever stored."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from apps.fleet.models.tokens import digest
from apps.fleet.services import create_api_token, enroll_machine

pytestmark = pytest.mark.django_db


def every_stored_text() -> str:
    """Every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_no_raw_token_is_stored_anywhere(alice, capsys):
    call_command("create_enrollment_token", team="Platform", label="laptops")
    enrollment_secret = capsys.readouterr().out.strip().splitlines()[-1]
    enrollment = enroll_machine(
        enrollment_secret, {"machine_id": "machine-hashed-0001", "os": "linux"}
    )
    rotated = enroll_machine(
        enrollment_secret, {"machine_id": "machine-hashed-0001", "os": "linux"}
    )
    _, api_secret = create_api_token(alice, "ci")
    secrets = [enrollment_secret, enrollment.credential, rotated.credential, api_secret]
    assert [s[:4] for s in secrets] == ["dfe_", "dfm_", "dfm_", "dfp_"]

    stored = every_stored_text()
    for secret in secrets:
        body = secret[4:]
        assert body not in stored
        assert body[:16] not in stored  # not even a fragment beyond the displayed prefix
        assert digest(secret) in stored  # what is kept instead
