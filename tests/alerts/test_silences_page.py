"""The silences page: who may see and change silences, validation, and that they mute alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.alerts.models import Silence
from apps.audit.models import AuditEvent
from apps.fleet.models import Membership, Team
from tests.factories import enroll

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    users = get_user_model().objects
    staff = users.create_user("platform", password="pw", is_staff=True)
    lead = users.create_user("lead", password="pw")
    dev = users.create_user("dev", password="pw")
    mobile, _ = Team.objects.get_or_create(name="Mobile")
    web, _ = Team.objects.get_or_create(name="Web")
    Membership.objects.create(user=lead, team=mobile, role="lead")
    Membership.objects.create(user=dev, team=mobile, role="member")
    mobile_machine, _ = enroll("Mobile", owner="dev")
    web_machine, _ = enroll("Web")
    return {
        "staff": staff,
        "lead": lead,
        "dev": dev,
        "mobile": mobile,
        "web": web,
        "mobile_machine": mobile_machine,
        "web_machine": web_machine,
    }


def login(client, user):
    client.force_login(user)
    return client


def test_index_sends_staff_to_channels_and_others_to_their_own_alerts(client, people):
    assert login(client, people["staff"]).get("/alerts/").url == "/alerts/channels/"
    assert login(client, people["dev"]).get("/alerts/").url == "/alerts/me/"


def test_anonymous_users_are_sent_to_log_in(client, people):
    response = client.get("/alerts/silences/")
    assert response.status_code == 302
    assert "login" in response.url


def test_developers_without_a_led_team_get_not_found(client, people):
    client = login(client, people["dev"])
    assert client.get("/alerts/silences/").status_code == 404
    assert client.post("/alerts/silences/", {"duration": "1h"}).status_code == 404
    assert not Silence.objects.exists()


def test_staff_silence_one_rule_on_one_machine_for_a_chosen_time(client, people):
    machine = people["mobile_machine"]
    client = login(client, people["staff"])
    page = client.get(f"/alerts/silences/?machine={machine.machine_id}&rule=gopls_memory_leak")
    assert page.status_code == 200
    assert machine.machine_id in page.content.decode()  # prefilled from the finding link
    response = client.post(
        "/alerts/silences/",
        {
            "machine": machine.machine_id,
            "rule_id": "gopls_memory_leak",
            "duration": "1d",
            "reason": "investigating with the gopls team",
        },
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.machine == machine
    assert silence.rule_id == "gopls_memory_leak"
    assert silence.created_by == people["staff"]
    left = silence.expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(days=1)
    listed = client.get("/alerts/silences/").content.decode()
    assert "investigating with the gopls team" in listed
    assert AuditEvent.objects.filter(object_type="alerts.Silence").exists()


def test_unknown_rule_and_bad_duration_are_refused_with_a_message(client, people):
    client = login(client, people["staff"])
    response = client.post("/alerts/silences/", {"rule_id": "gopls.no_such_rule", "duration": "1h"})
    assert response.status_code == 200
    assert "No rule" in response.content.decode()
    response = client.post("/alerts/silences/", {"duration": "99y"})
    assert response.status_code == 200
    assert not Silence.objects.exists()


def test_hostile_input_is_refused_without_a_server_error(client, people):
    client = login(client, people["staff"])
    for payload in (
        {"duration": "1h", "machine": "x" * 10_000},
        {"duration": "1h", "rule_id": "<script>alert(1)</script>"},
        {"duration": "1h", "team": "not-a-number"},
        {"duration": "1h", "reason": "r" * 5_000},
        {},
    ):
        assert client.post("/alerts/silences/", payload).status_code == 200
    assert not Silence.objects.exists()


def test_team_leads_silence_only_inside_the_teams_they_lead(client, people):
    client = login(client, people["lead"])
    assert client.get("/alerts/silences/").status_code == 200
    other_team = client.post("/alerts/silences/", {"team": people["web"].pk, "duration": "1h"})
    assert other_team.status_code == 200
    assert not Silence.objects.exists()
    foreign_machine = client.post(
        "/alerts/silences/",
        {
            "team": people["mobile"].pk,
            "machine": people["web_machine"].machine_id,
            "duration": "1h",
        },
    )
    assert foreign_machine.status_code == 200
    assert not Silence.objects.exists()
    no_team = client.post("/alerts/silences/", {"duration": "1h"})
    assert no_team.status_code == 200
    assert not Silence.objects.exists()
    ok = client.post("/alerts/silences/", {"team": people["mobile"].pk, "duration": "4h"})
    assert ok.status_code == 302
    assert Silence.objects.get().team == people["mobile"]


def test_leads_neither_see_nor_end_other_teams_silences(client, people):
    later = timezone.now() + timedelta(hours=2)
    theirs = Silence.objects.create(team=people["web"], expires_at=later, reason="web-only")
    ours = Silence.objects.create(team=people["mobile"], expires_at=later, reason="mobile-only")
    client = login(client, people["lead"])
    page = client.get("/alerts/silences/").content.decode()
    assert "mobile-only" in page
    assert "web-only" not in page
    assert client.post(f"/alerts/silences/{theirs.pk}/expire/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.expires_at == later
    assert client.post(f"/alerts/silences/{ours.pk}/expire/").status_code == 302
    ours.refresh_from_db()
    assert ours.expires_at <= timezone.now()


def test_ending_a_silence_needs_a_post(client, people):
    silence = Silence.objects.create(expires_at=timezone.now() + timedelta(hours=1))
    client = login(client, people["staff"])
    assert client.get(f"/alerts/silences/{silence.pk}/expire/").status_code == 405


def test_ending_a_silence_twice_changes_nothing_the_second_time(client, people):
    silence = Silence.objects.create(expires_at=timezone.now() + timedelta(hours=1))
    client = login(client, people["staff"])
    client.post(f"/alerts/silences/{silence.pk}/expire/")
    silence.refresh_from_db()
    first_end = silence.expires_at
    client.post(f"/alerts/silences/{silence.pk}/expire/")
    silence.refresh_from_db()
    assert silence.expires_at == first_end


def test_forms_need_the_csrf_token(people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["staff"])
    assert client.post("/alerts/silences/", {"duration": "1h"}).status_code == 403
