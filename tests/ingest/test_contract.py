"""Acceptance B/C of the server foundation: the agent-facing API end to end on the real app."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from django.core.management import call_command

from apps.fleet.models import EnrollmentToken, MachineCredential
from apps.ingest.validation import report_schema
from apps.metrics.models import GoplsSample, SystemSample
from tests.factories import make_report

pytestmark = pytest.mark.django_db


def post_report(client, credential, payload, **extra):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    headers.update(extra)
    content_type = headers.pop("content_type", "application/json")
    return client.post("/api/v1/reports", data=body, content_type=content_type, **headers)


def enroll_over_http(client, capsys, machine_id="contract-machine-0001"):
    call_command("create_enrollment_token", team="Platform")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    response = client.post(
        "/api/v1/enroll",
        data=json.dumps(
            {
                "token": token,
                "machine_id": machine_id,
                "hostname": "dev-box",
                "os": "linux",
                "arch": "x86_64",
                "agent_version": "0.1.0",
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return token, response.json()["credential"]


def test_the_whole_contract_in_order(client, capsys, example_report, settings):
    settings.INGEST_BURST = 5
    settings.INGEST_RATE_PER_MINUTE = 1
    _, credential = enroll_over_http(client, capsys)

    first = post_report(client, credential, example_report)
    assert first.status_code == 200
    assert first.json()["accepted"] == 2
    assert first.json()["duplicates"] == 0

    again = post_report(client, credential, example_report)
    assert again.json() == {**again.json(), "accepted": 0, "duplicates": 2}
    assert SystemSample.objects.count() == 2
    assert GoplsSample.objects.count() == 2

    bad = dict(example_report)
    bad["samples"] = [dict(example_report["samples"][0], collected_at="yesterday")]
    malformed = post_report(client, credential, bad)
    assert malformed.status_code == 400
    assert "$.samples[0].collected_at" in [e["path"] for e in malformed.json()["errors"]]

    assert post_report(client, "dfm_not-a-real-credential", example_report).status_code == 401

    huge = b'{"schema_version": 1, "pad": "' + b"x" * (settings.INGEST_MAX_BODY_BYTES + 10) + b'"}'
    assert post_report(client, credential, huge).status_code == 413
    bomb = gzip.compress(b" " * (settings.INGEST_MAX_DECOMPRESSED_BYTES + 1024))
    assert len(bomb) < settings.INGEST_MAX_BODY_BYTES
    assert post_report(client, credential, bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 413

    wrong_type = post_report(client, credential, example_report, content_type="text/plain")
    assert wrong_type.status_code == 415

    statuses = [post_report(client, credential, make_report(1)).status_code for _ in range(8)]
    assert 429 in statuses
    limited = post_report(client, credential, make_report(1))
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1


def test_example_report_validates_against_the_json_schema(example_report):
    validator = jsonschema.Draft202012Validator(
        report_schema(), format_checker=jsonschema.FormatChecker()
    )
    assert list(validator.iter_errors(example_report)) == []


def test_example_report_round_trips_through_ingest_and_the_read_api(
    client, enrolled, example_report, alice
):
    machine, credential = enrolled
    assert post_report(client, credential, example_report).status_code == 200
    client.force_login(alice)

    detail = client.get(f"/api/v1/machines/{machine.machine_id}/").json()
    assert detail["hostname"] == example_report["machine"]["hostname"]
    assert detail["wsl"] == {"version": 2, "distro": "Ubuntu-24.04"}
    newest = example_report["samples"][1]
    assert detail["latest"]["mem_available_bytes"] == newest["system"]["mem_available_bytes"]
    assert detail["latest"]["gopls"][0]["heap_inuse_bytes"] == 231000000
    process = detail["gopls_processes"][0]
    first_proc = example_report["samples"][0]["gopls"][0]
    assert process["version"] == first_proc["version"]
    assert process["argv"] == first_proc["argv"]
    assert process["editor"] == "vscode-server"
    assert process["project"] == "github.com/yuin/goldmark"
    assert detail["projects"][0]["module"] == "github.com/yuin/goldmark"
    inventory = detail["inventory"]
    assert inventory["editor_settings"]["value"] == example_report["inventory"]["editor_settings"]
    assert inventory["wsl"]["value"]["wslconfig"]["sections"]["wsl2"]["memory"] == "16GB"

    series = client.get(  # the example's old clock is corrected to the server's: last hour
        f"/api/v1/machines/{machine.machine_id}/series/", {"metric": "gopls.heap_inuse_bytes"}
    ).json()
    values = [point[1] for point in series["series"][0]["points"]]
    assert values == [229163008, 231000000]


def test_unknown_fields_are_kept_not_rejected(client, enrolled, example_report):
    _, credential = enrolled
    assert post_report(client, credential, example_report).status_code == 200
    stored = SystemSample.objects.get(sample_uid=example_report["samples"][1]["id"])
    assert stored.detail["future_field_from_newer_agent"] == {"kept": True}


def test_a_revoked_credential_gets_401(client, enrolled, example_report):
    machine, credential = enrolled
    MachineCredential.objects.filter(machine=machine).update(revoked_at="2026-01-01T00:00:00Z")
    assert post_report(client, credential, example_report).status_code == 401


def test_a_revoked_enrollment_token_cannot_enroll(client, capsys):
    token, _ = enroll_over_http(client, capsys, machine_id="revoked-token-0001")
    EnrollmentToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    response = client.post(
        "/api/v1/enroll",
        data=json.dumps({"token": token, "machine_id": "another-machine-01"}),
        content_type="application/json",
    )
    assert response.status_code == 401


def test_clock_skew_is_flagged_and_corrected_without_losing_samples(client, enrolled):
    machine, credential = enrolled
    now = datetime.now(timezone.utc)
    agent_clock = now + timedelta(hours=3)  # the agent's clock runs 3 h fast
    report = make_report(4, start=agent_clock - timedelta(minutes=1), sent_at=agent_clock)
    response = post_report(client, credential, report)
    assert response.status_code == 200
    assert response.json()["accepted"] == 4
    assert response.json()["clock_skew_s"] == pytest.approx(3 * 3600, abs=30)
    rows = list(SystemSample.objects.order_by("ts"))
    assert all(abs((row.ts - now).total_seconds()) < 120 for row in rows)
    assert all(row.collected_at > now + timedelta(hours=2) for row in rows)
    machine.refresh_from_db()
    assert machine.clock_skew_s == pytest.approx(3 * 3600, abs=30)
    assert post_report(client, credential, report).json()["duplicates"] == 4


def test_the_agent_saying_it_allows_profiles_is_remembered(client, enrolled):
    machine, credential = enrolled
    report = make_report(1)
    report["agent"]["config"] = {"allow_profiles": True}
    post_report(client, credential, report)
    later = make_report(1)
    later["agent"].pop("config", None)
    post_report(client, credential, later)
    machine.refresh_from_db()
    assert machine.latest["allow_profiles"] is True
