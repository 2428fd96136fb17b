"""Malformed, oversized, missing and hostile input to the ingest API: clear errors, nothing lost."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pytest

from apps.metrics.models import SystemSample
from tests.factories import make_report
from tests.ingest.test_contract import post_report

pytestmark = pytest.mark.django_db


def error_paths(response) -> list[str]:
    return [error["path"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"   ", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_it_rejects_bodies_that_are_not_json(client, enrolled, body, message):
    response = post_report(client, enrolled[1], body)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert error_paths(response) == ["$"]


def test_it_names_every_bad_field(client, enrolled):
    report = make_report(2)
    report["samples"][0]["system"]["mem_total_bytes"] = -5
    report["samples"][1]["gopls"][0]["pid"] = "seventeen"
    del report["samples"][1]["id"]
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 400
    paths = error_paths(response)
    assert "$.samples[0].system.mem_total_bytes" in paths
    assert "$.samples[1].gopls[0].pid" in paths
    assert "$.samples[1]" in paths  # the missing id is reported on its object
    assert SystemSample.objects.count() == 0  # an invalid batch stores nothing


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r.pop("schema_version"), "$"),
        (lambda r: r.update(schema_version=2), "$.schema_version"),
        (lambda r: r.update(samples=[]), "$.samples"),
        (lambda r: r.pop("sent_at"), "$"),
        (lambda r: r.update(sent_at="2026-02-30T10:00:00Z"), "$.sent_at"),
        (lambda r: r["samples"][0].update(id="../../etc/passwd"), "$.samples[0].id"),
        (
            lambda r: r["samples"][0].update(collected_at="2026-11-23 10:00"),
            "$.samples[0].collected_at",
        ),
        (
            lambda r: r["samples"][0]["gopls"][0].update(env={"LD_PRELOAD": "/x.so"}),
            "$.samples[0].gopls[0].env",
        ),
        (
            lambda r: r["samples"][0]["gopls"][0].update(version="v" * 5000),
            "$.samples[0].gopls[0].version",
        ),
        (lambda r: r.update(samples=[r["samples"][0]] * 1001), "$.samples"),
    ],
)
def test_it_rejects_invalid_reports_with_the_field_path(client, enrolled, mutate, path):
    report = make_report(1)
    mutate(report)
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 400
    assert any(p == path or p.startswith(path) for p in error_paths(response)), error_paths(
        response
    )


def test_a_json_array_body_is_a_400_not_a_crash(client, enrolled):
    response = post_report(client, enrolled[1], [1, 2, 3])
    assert response.status_code == 400


def test_a_sample_repeated_inside_one_upload_is_stored_once(client, enrolled):
    report = make_report(1)
    report["samples"] = report["samples"] * 3
    response = post_report(client, enrolled[1], report)
    assert response.json()["accepted"] == 1
    assert response.json()["duplicates"] == 2
    assert SystemSample.objects.count() == 1


def test_gzip_bodies_are_accepted(client, enrolled):
    body = gzip.compress(json.dumps(make_report(3)).encode())
    response = post_report(client, enrolled[1], body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json()["accepted"] == 3


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b'{"a": 1}')[:-12]])
def test_broken_gzip_is_a_400(client, enrolled, body):
    response = post_report(client, enrolled[1], body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400


def test_unknown_content_encoding_is_a_415(client, enrolled):
    response = post_report(client, enrolled[1], make_report(1), HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_a_declared_length_over_the_cap_is_refused_before_reading(client, enrolled, settings):
    response = post_report(
        client, enrolled[1], make_report(1), CONTENT_LENGTH=str(settings.INGEST_MAX_BODY_BYTES + 1)
    )
    assert response.status_code == 413


@pytest.mark.parametrize("header", ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000])
def test_missing_or_malformed_credentials_get_401(client, enrolled, header):
    response = client.post(
        "/api/v1/reports",
        data=json.dumps(make_report(1)),
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_reports_only_accepts_post(client, enrolled):
    assert client.get("/api/v1/reports").status_code == 405


@pytest.mark.parametrize(
    ("identity", "path"),
    [
        ({"machine_id": "short"}, "$.machine_id"),
        ({"machine_id": "has spaces in it"}, "$.machine_id"),
        ({"machine_id": "x" * 200}, "$.machine_id"),
        ({"machine_id": "good-machine-id", "os": "plan9"}, "$.os"),
        ({"machine_id": "good-machine-id", "hostname": 42}, "$.hostname"),
        ({"machine_id": "good-machine-id", "hostname": "h" * 300}, "$.hostname"),
    ],
)
def test_enrollment_rejects_bad_identity_with_the_field(client, identity, path):
    from apps.fleet.services import create_enrollment_token

    _, token = create_enrollment_token("Platform")
    response = client.post(
        "/api/v1/enroll",
        data=json.dumps({"token": token, **identity}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert path in error_paths(response)


def test_enrollment_with_a_missing_or_wrong_token_is_401(client, db):
    for body in (
        {"machine_id": "good-machine-id"},
        {"token": 5, "machine_id": "good-machine-id"},
        {"token": "dfe_wrong", "machine_id": "good-machine-id"},
    ):
        response = client.post(
            "/api/v1/enroll", data=json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 401


def test_re_enrolling_rotates_the_credential(client, db):
    from apps.fleet.services import create_enrollment_token, enroll_machine

    _, token = create_enrollment_token("Platform")
    first = enroll_machine(token, {"machine_id": "rotating-machine-1"})
    second = enroll_machine(token, {"machine_id": "rotating-machine-1"})
    assert first.machine.pk == second.machine.pk
    assert post_report(client, first.credential, make_report(1)).status_code == 401
    assert post_report(client, second.credential, make_report(1)).status_code == 200


def test_a_null_inventory_section_is_stored_as_absent(client, enrolled):
    report = make_report(1)
    report["inventory"] = {"goroot_check": None, "tools": {"go": "go1.23.2"}}
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z"]
)
def test_timestamps_outside_any_plausible_clock_are_400_not_500(client, enrolled, stamp):
    report = make_report(1)
    report["samples"][0]["collected_at"] = stamp
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 400
    assert "$.samples[0].collected_at" in error_paths(response)


def test_a_1970_clock_from_a_dead_rtc_battery_is_kept(client, enrolled):
    report = make_report(
        2,
        start=datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc),
        sent_at=datetime(1970, 1, 1, 0, 6, tzinfo=timezone.utc),
    )
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert response.json()["clock_skew_s"] < -1e9


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("machine",), "cpu_count"),
        (("samples", 0, "inotify"), "max_user_watches"),
        (("samples", 0, "inotify"), "watches_used"),
        (("samples", 0, "agent"), "spool_depth"),
        (("samples", 0, "gopls", 0), "threads"),
        (("samples", 0, "gopls", 0), "open_fds"),
        (("samples", 0, "gopls", 0), "pid"),
    ],
)
def test_counts_too_big_for_a_32_bit_column_are_400_not_500(client, enrolled, where, field):
    # Found by schemathesis on PostgreSQL: 2**31 in cpu_count broke the machine row's check.
    report = make_report(1)
    section = report
    for key in where:
        section = section[key]
    section[field] = 2**31
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 400
    path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in (*where, field))
    assert path in error_paths(response)
    assert SystemSample.objects.count() == 0


def test_the_largest_32_bit_counts_are_stored(client, enrolled):
    report = make_report(1)
    report["machine"]["cpu_count"] = 2**31 - 1
    report["samples"][0]["inotify"]["max_user_watches"] = 2**31 - 1
    report["samples"][0]["gopls"][0]["threads"] = 2**31 - 1
    assert post_report(client, enrolled[1], report).status_code == 200


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: r["machine"].__setitem__("hostname", "dev\u0000box"),
        lambda r: r["agent"].__setitem__("version", "0.1\u0000"),
        lambda r: r["samples"][0]["gopls"][0].__setitem__("exe", "/go/bin/gopls\u0000"),
        lambda r: r["samples"][0].__setitem__("errors", [{"collector": "x", "message": "\u0000"}]),
        lambda r: r.__setitem__("inventory", {"tools": {"go\u0000": "go1.23\u0000"}}),
        lambda r: r.__setitem__(
            "profiles", [{"request_id": "req-0001", "kind": "heap", "text": "1: 1 [1: 1] @\u0000"}]
        ),
    ],
    ids=["hostname", "agent-version", "gopls-exe", "error", "inventory", "profile"],
)
def test_nul_characters_are_stored_as_replacement_characters_not_a_500(client, enrolled, spoil):
    # Found by schemathesis on PostgreSQL: text and jsonb columns cannot hold U+0000.
    machine = enrolled[0]
    # Profiles are stored only for a request the server issued: issue the one sent below.
    machine.pending_instructions = {"capture_profiles": [{"request_id": "req-0001"}]}
    machine.save(update_fields=["pending_instructions"])
    report = make_report(1)
    spoil(report)
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    if "profiles" in report:
        from apps.metrics.models import HeapProfile

        assert "\ufffd" in HeapProfile.objects.get(request_id="req-0001").text


def test_a_nul_in_the_hostname_is_replaced_at_enrollment(client, db):
    from apps.fleet.services import create_enrollment_token

    _, token = create_enrollment_token("Platform")
    response = client.post(
        "/api/v1/enroll",
        data=json.dumps({"token": token, "machine_id": "nul-machine-01", "hostname": "a\u0000b"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    from apps.fleet.models import Machine

    assert Machine.objects.get(machine_id="nul-machine-01").hostname == "a\ufffdb"


def test_a_sum_of_gopls_memory_past_64_bits_is_capped_not_a_500(client, enrolled):
    # Found by schemathesis on SQLite: each rss_bytes fits the schema, their sum did not fit
    # the 64-bit column ("Python int too large to convert to SQLite INTEGER").
    report = make_report(1)
    process = report["samples"][0]["gopls"][0]
    second = {**process, "pid": process["pid"] + 1}
    process["rss_bytes"] = second["rss_bytes"] = 2**63 - 1
    report["samples"][0]["gopls"].append(second)
    response = post_report(client, enrolled[1], report)
    assert response.status_code == 200
    assert SystemSample.objects.get().gopls_rss_bytes == 2**63 - 1
