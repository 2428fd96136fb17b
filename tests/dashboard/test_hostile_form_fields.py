"""Every query and form field of every dashboard page, filled with hostile values: 4xx or a page,
never a 500; and the machine page of an enrolled machine that has not reported yet."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.anomalies.models import Finding
from tests.anomalies.test_api import make_finding
from tests.factories import enroll

pytestmark = pytest.mark.django_db

HOSTILE = [
    "",
    " ",
    "x" * 5000,
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "-inf",
    "<script>alert(1)</script>",
    "'; DROP TABLE fleet_machine; --",
    "../../etc/passwd",
    "%ff%fe",
    "\u202egnp.exe",
    "🙂" * 50,
    "2026-13-45T99:99:99Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "[]",
    "{}",
    "javascript:alert(1)",
    "//evil.example/",
]
# Every field the dashboard reads from a query string.
QUERY_FIELDS = [
    "team",
    "project",
    "os",
    "editor",
    "version",
    "health",
    "page",
    "range",
    "since",
    "until",
    "state",
    "severity",
    "rule",
    "machine",
    "quiet",
    "platform",
    "gopls",
    "go",
]


@pytest.fixture
def world(alice, bob):
    machine, _ = enroll("Platform", owner="bob", hostname="bob-laptop")
    finding = make_finding(machine)
    claimed, _ = enroll("Platform", owner="bob", confirm_owner=False)
    return machine, finding, claimed


def pages(world) -> list[str]:
    machine, _, _ = world
    return [
        reverse("dashboard:fleet"),
        reverse("dashboard:machine-list"),
        reverse("dashboard:machine", args=[machine.machine_id]),
        reverse("dashboard:machine-chart", args=[machine.machine_id, "memory"]),
        reverse("dashboard:me"),
        reverse("dashboard:project-list"),
        reverse("dashboard:versions"),
        reverse("dashboard:findings"),
        reverse("dashboard:rule-list"),
        reverse("dashboard:rule", args=["gopls_memory_leak"]),
        reverse("alerts:me"),
        reverse("alerts:silences"),
    ]


def test_the_machine_page_of_an_enrolled_machine_without_reports_is_not_a_500(client, alice):
    machine, _ = enroll("Platform", hostname="fresh-box")
    client.force_login(alice)
    response = client.get(reverse("dashboard:machine", args=[machine.machine_id]))
    assert response.status_code == 200
    assert "fresh-box" in response.content.decode()
    for name in ("memory", "cpu", "goroutines", "latency", "sysmem", "inotify", "caches"):
        url = reverse("dashboard:machine-chart", args=[machine.machine_id, name])
        assert client.get(url).status_code in (200, 404)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_no_query_field_of_any_page_makes_a_500(world, who, request):
    client = Client(raise_request_exception=False)
    client.force_login(request.getfixturevalue(who))
    for url in pages(world):
        for value in HOSTILE:
            # Every field at once: each page reads only its own, and a few thousand requests
            # (one per field) would test the same code paths.
            response = client.get(url, dict.fromkeys(QUERY_FIELDS, value))
            assert response.status_code < 500, (url, value, response.status_code)


def test_no_field_of_the_finding_action_form_makes_a_500(world, bob):
    _, finding, _ = world
    client = Client(raise_request_exception=False)
    client.force_login(bob)
    url = reverse("dashboard:finding-action", args=[finding.pk])
    for field in ("action", "duration", "next"):
        for value in [*HOSTILE, "confirm\x00"]:
            data = {"action": "snooze", "duration": "1h", "next": "/", field: value}
            response = client.post(url, data)
            assert response.status_code < 500, (field, value, response.status_code)
    assert Finding.objects.filter(pk=finding.pk).exists()


def test_no_field_of_the_ownership_form_makes_a_500(world, bob):
    _, _, claimed = world
    client = Client(raise_request_exception=False)
    client.force_login(bob)
    url = reverse("dashboard:machine-ownership", args=[claimed.machine_id])
    for field in ("decision", "next"):
        for value in [*HOSTILE, "x\x00"]:
            data = {"decision": "bogus", "next": "/", field: value}
            response = client.post(url, data)
            assert response.status_code < 500, (field, value, response.status_code)
    claimed.refresh_from_db()
    assert claimed.owner is None
    for machine_id in HOSTILE[1:8]:
        response = client.post(
            reverse("dashboard:machine-ownership", args=[machine_id.replace("/", "_")]),
            {"decision": "confirm"},
        )
        assert response.status_code == 404


# Every form of the alert pages and the login page, every field at once (a form validates each
# field on its own, so one request per value exercises them all).
POST_FORMS = {
    "/alerts/me/": ["kind", "target", "min_severity"],
    "/alerts/silences/": ["team", "machine", "project", "rule_id", "reason", "duration"],
    "/alerts/channels/new/": [
        "team",
        "name",
        "kind",
        "target",
        "secret",
        "owner",
        "min_severity",
        "enabled",
    ],
    "/alerts/routes/new/": [
        "team",
        "project",
        "rule_id",
        "min_severity",
        "channels",
        "repeat_hours",
        "enabled",
    ],
    "/login/": ["username", "password", "next"],
}


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_no_field_of_any_other_form_makes_a_500(world, who, request):
    user = request.getfixturevalue(who)
    client = Client(raise_request_exception=False)
    for url, fields in POST_FORMS.items():
        for value in HOSTILE:
            client.force_login(user)
            response = client.post(url, dict.fromkeys(fields, value))
            assert response.status_code < 500, (url, value, response.status_code)


def test_an_id_beyond_64_bits_in_a_multiple_choice_is_a_form_error(alice, team):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    data = {"team": team.pk, "min_severity": "warning", "channels": "99999999999999999999"}
    response = client.post("/alerts/routes/new/", data)
    assert response.status_code == 200  # the form again, with its error
    assert "99999999999999999999" in response.content.decode()
