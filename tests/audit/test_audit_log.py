"""The audit log records every change of configuration objects, by whom and from where."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.fleet.models import ApiToken, EnrollmentToken, Membership, Team
from apps.fleet.services import create_api_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return user


def test_adding_a_team_in_the_admin_is_recorded_with_actor_and_ip(client, root):
    response = client.post(
        reverse("admin:fleet_team_add"),
        {
            "name": "Mobile",
            "slug": "mobile",
            "min_gopls_version": "",
            "detector_overrides": "{}",
            "membership_set-TOTAL_FORMS": "0",
            "membership_set-INITIAL_FORMS": "0",
        },
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(object_type="fleet.Team")
    assert event.action == "add"
    assert event.actor == root
    assert event.actor_repr == "root"
    assert event.ip == "192.0.2.7"
    assert event.object_repr == "Mobile"
    assert event.changes["name"] == [None, "Mobile"]
    assert event.path == reverse("admin:fleet_team_add")


def test_changing_a_team_records_before_and_after(client, root):
    team = Team.objects.create(name="Platform")
    AuditEvent.objects.all().delete()
    team.min_gopls_version = "v0.16.0"
    team.detector_overrides = {"gopls-heap-leak": {"slope_mb_per_h": 20}}
    team.save()
    event = AuditEvent.objects.get()
    assert event.action == "change"
    assert event.actor is None
    assert event.actor_repr == "system"
    assert event.changes == {
        "min_gopls_version": ["", "v0.16.0"],
        "detector_overrides": [{}, {"gopls-heap-leak": {"slope_mb_per_h": 20}}],
    }


def test_saving_without_changes_records_nothing():
    team = Team.objects.create(name="Platform")
    AuditEvent.objects.all().delete()
    team.save()
    assert not AuditEvent.objects.exists()


def test_deleting_in_the_admin_is_recorded(client, root):
    team = Team.objects.create(name="Gone")
    client.post(reverse("admin:fleet_team_delete", args=[team.pk]), {"post": "yes"})
    event = AuditEvent.objects.get(action="delete")
    assert (event.object_type, event.object_id, event.object_repr) == (
        "fleet.Team",
        str(team.pk),
        "Gone",
    )
    assert event.actor == root


def test_membership_changes_are_recorded(bob):
    team = Team.objects.create(name="Platform")
    membership = Membership.objects.create(user=bob, team=team)
    membership.role = Membership.Role.LEAD
    membership.save()
    actions = list(
        AuditEvent.objects.filter(object_type="fleet.Membership")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["add", "change"]
    assert AuditEvent.objects.filter(object_type="fleet.Membership").first().changes == {
        "role": ["member", "lead"]
    }


def test_revoking_a_token_is_recorded_as_a_revocation(alice):
    token, _ = create_api_token(alice, "ci")
    token.revoke()
    event = AuditEvent.objects.filter(object_type="fleet.ApiToken").order_by("id").last()
    assert event.action == "revoke"
    assert event.changes["revoked_at"][0] is None


def test_created_tokens_are_recorded_without_their_secret(alice, capsys):
    call_command("create_enrollment_token", team="Platform")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    _, api_secret = create_api_token(alice, "laptop")
    events = AuditEvent.objects.filter(
        object_type__in=["fleet.EnrollmentToken", "fleet.ApiToken"], action="add"
    )
    assert events.count() == 2
    for event in events:
        assert event.changes["token_hash"] == [None, "<redacted>"]
        assert secret not in str(event.changes)
        assert api_secret not in str(event.changes)
    assert EnrollmentToken.objects.count() == 1
    assert ApiToken.objects.count() == 1


def test_token_use_is_not_a_configuration_change(enrolled):
    from apps.fleet.services import user_for_api_token

    machine, _ = enrolled
    before = AuditEvent.objects.count()
    token = EnrollmentToken.objects.get()
    token.last_used_at = machine.first_seen
    token.save(update_fields=["last_used_at"])
    user_for_api_token("dfp_unknown")
    assert AuditEvent.objects.count() == before


def test_password_changes_are_recorded_redacted(alice):
    alice.set_password("a much better password")
    alice.save()
    event = AuditEvent.objects.filter(object_type="auth.User", action="change").get()
    assert event.changes == {"password": ["<redacted>", "<redacted>"]}


def test_the_audit_log_is_read_only_in_the_admin(client, root):
    Team.objects.create(name="Platform")
    event = AuditEvent.objects.get(object_type="fleet.Team")
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:audit_auditevent_change", args=[event.pk])).status_code == 200
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_forwarded_address_is_used_only_behind_a_trusted_proxy(client, root, settings):
    settings.DEVFLEET_TRUSTED_PROXIES = 1
    team = Team.objects.create(name="Platform")
    client.post(
        reverse("admin:fleet_team_delete", args=[team.pk]),
        {"post": "yes"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9",
    )
    assert AuditEvent.objects.get(action="delete").ip == "203.0.113.9"


def test_the_admin_revoke_action_is_recorded(client, root, alice):
    token, _ = create_api_token(alice, "ci")
    client.post(
        reverse("admin:fleet_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.filter(object_type="fleet.ApiToken", action="revoke").get()
    assert event.actor == root


def test_audited_models_resolve_labels_and_skip_apps_not_installed(settings):
    from apps.audit.recording import audited_models

    labels = {m._meta.label for m in audited_models()}
    assert {"fleet.Team", "fleet.Membership", "fleet.ApiToken", "auth.User"} <= labels
    settings.AUDITED_MODELS = ["fleet", "nosuchapp.Channel", "nosuchapp"]
    labels = {m._meta.label for m in audited_models()}
    assert "fleet.EnrollmentToken" in labels
    assert "fleet.Machine" in labels
    assert not any(label.startswith("nosuchapp.") for label in labels)


def test_alert_channels_and_routes_are_audited_with_webhook_urls_redacted(team):
    from apps.alerts.models import Channel, Route

    channel = Channel.objects.create(
        team=team, kind="slack", target="https://hooks.slack.com/services/T0/B0/sekrit"
    )
    route = Route.objects.create(team=team)
    route.channels.add(channel)
    channel.last_error = "timeout"
    channel.save()  # delivery bookkeeping: not a configuration change
    channel.enabled = False
    channel.save()
    events = list(
        AuditEvent.objects.filter(object_type__startswith="alerts.")
        .order_by("id")
        .values_list("object_type", "action", "changes")
    )
    assert [e[:2] for e in events] == [
        ("alerts.Channel", "add"),
        ("alerts.Route", "add"),
        ("alerts.Route", "change"),
        ("alerts.Channel", "change"),
    ]
    assert events[0][2]["target"] == [None, "<redacted>"]
    assert "sekrit" not in str(events)
    assert events[2][2] == {"channels": {"added": [channel.pk]}}
    assert events[3][2] == {"enabled": [True, False]}
