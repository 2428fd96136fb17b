"""Enrollment as an attacker tries it: taking over another team's machine, claiming an owner,
and expired or used-up enrollment tokens, over real HTTP against the live server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.fleet.models import EnrollmentToken, Machine, MachineCredential, Membership, Team
from apps.fleet.services import create_enrollment_token
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db(transaction=True)


def post(live_server, path: str, body: dict, token: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(
        live_server.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def identity(machine_id: str, **extra) -> dict:
    return {"machine_id": machine_id, "hostname": "h", "os": "linux", **extra}


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.INGEST_BURST = 1000.0


def snapshot(machine: Machine) -> dict:
    machine.refresh_from_db()
    return {
        "team": machine.team_id,
        "owner": machine.owner_id,
        "claimed": machine.claimed_owner_id,
        "hostname": machine.hostname,
        "credentials": list(
            MachineCredential.objects.filter(machine=machine).values_list("pk", "revoked_at")
        ),
        "memberships": list(Membership.objects.values_list("user_id", "team_id", "role")),
    }


def test_another_teams_token_cannot_take_over_an_enrolled_machine(live_server, bob):
    victim, credential = enroll("Payments", owner="bob", hostname="pay-1")
    _, attacker_token = create_enrollment_token("Attackers")
    before = snapshot(victim)

    status, body = post(
        live_server,
        "/api/v1/enroll",
        identity(victim.machine_id, hostname="evil", owner="mallory"),
        attacker_token,
    )

    assert status == 409
    assert body["error"] == "conflict"
    assert "Payments" not in json.dumps(body)
    assert "credential" not in body
    assert snapshot(victim) == before
    assert EnrollmentToken.objects.get(team__name="Attackers").enrollments == 0
    # The machine's own agent keeps uploading with its credential.
    status, _ = post(live_server, "/api/v1/reports", make_report(1), credential)
    assert status == 200


def test_a_retired_machine_of_another_team_cannot_be_taken_over_either(live_server):
    victim, _ = enroll("Payments")
    Machine.objects.filter(pk=victim.pk).update(retired_at=timezone.now())
    _, attacker_token = create_enrollment_token("Attackers")
    status, _ = post(live_server, "/api/v1/enroll", identity(victim.machine_id), attacker_token)
    assert status == 409
    victim.refresh_from_db()
    assert victim.team.name == "Payments"
    assert victim.retired_at is not None


def test_an_agent_that_lost_its_credential_re_enrolls_with_its_own_teams_token(live_server):
    machine, old_credential = enroll("Payments")
    _, same_team_token = create_enrollment_token("Payments")

    status, body = post(
        live_server, "/api/v1/enroll", identity(machine.machine_id), same_team_token
    )

    assert status == 201
    assert body["machine_id"] == machine.machine_id
    assert post(live_server, "/api/v1/reports", make_report(1), old_credential)[0] == 401
    assert post(live_server, "/api/v1/reports", make_report(1), body["credential"])[0] == 200
    machine.refresh_from_db()
    assert machine.team.name == "Payments"


def admin_change_data(client, machine: Machine, **changes) -> dict:
    """The admin change form of `machine` as the browser would post it, with `changes`."""
    response = client.get(reverse("admin:fleet_machine_change", args=[machine.pk]))
    assert response.status_code == 200
    data = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if hasattr(field.widget, "decompress"):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else part
        else:
            data[name] = "" if value is None else value
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
        for inline_form in formset.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                data[inline_form.add_prefix(name)] = "" if value is None else value
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_moving_a_machine_between_teams_is_a_staff_admin_action_and_audited(
    client, django_user_model
):
    machine, _credential = enroll("Payments")
    search = Team.objects.create(name="Search")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)

    data = admin_change_data(client, machine, team=str(search.pk))
    response = client.post(reverse("admin:fleet_machine_change", args=[machine.pk]), data)

    assert response.status_code == 302, response.content[:3000]
    machine.refresh_from_db()
    assert machine.team == search
    event = AuditEvent.objects.get(object_type="fleet.Machine", object_id=str(machine.pk))
    assert event.actor == root
    assert event.changes["team"] == [Team.objects.get(name="Payments").pk, search.pk]
    # The machine's credential keeps working after the move.
    assert MachineCredential.objects.get(machine=machine).revoked_at is None


def test_a_developer_cannot_reach_the_machine_admin(client, bob):
    machine, _ = enroll("Payments")
    client.force_login(bob)
    response = client.get(reverse("admin:fleet_machine_change", args=[machine.pk]))
    assert response.status_code == 302  # to the admin login: not staff


def test_an_owner_named_at_enrollment_is_only_a_pending_claim(live_server, client, bob):
    _, token = create_enrollment_token("Payments")
    status, _body = post(
        live_server, "/api/v1/enroll", identity("claimed-machine-1", owner="bob"), token
    )
    assert status == 201
    machine = Machine.objects.get(machine_id="claimed-machine-1")
    assert machine.owner is None
    assert machine.claimed_owner == bob
    assert not Membership.objects.filter(user=bob).exists()  # enrollment joins no team

    client.force_login(bob)
    page = client.get(reverse("dashboard:me")).content.decode()
    assert 'id="ownership-claims"' in page
    assert "claimed-machine-1" in page
    assert f'href="{reverse("dashboard:machine", args=["claimed-machine-1"])}"' not in page
    assert client.get(reverse("dashboard:machine", args=["claimed-machine-1"])).status_code == 404
    assert client.get("/api/v1/machines/claimed-machine-1/").status_code == 404


def test_the_claimed_person_confirms_and_the_machine_becomes_theirs(client, bob):
    machine, _ = enroll("Payments", owner="bob", confirm_owner=False)
    client.force_login(bob)
    response = client.post(
        reverse("dashboard:machine-ownership", args=[machine.machine_id]),
        {"decision": "confirm", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:me")
    machine.refresh_from_db()
    assert machine.owner == bob
    assert machine.claimed_owner is None
    page = client.get(reverse("dashboard:me")).content.decode()
    assert f'href="{reverse("dashboard:machine", args=[machine.machine_id])}"' in page
    assert 'id="ownership-claims"' not in page
    assert not Membership.objects.filter(user=bob).exists()
    event = AuditEvent.objects.get(object_type="fleet.Machine")
    assert event.actor == bob
    assert event.changes["decision"] == "confirm"


def test_a_declined_claim_is_dropped(client, bob):
    machine, _ = enroll("Payments", owner="bob", confirm_owner=False)
    client.force_login(bob)
    url = reverse("dashboard:machine-ownership", args=[machine.machine_id])
    assert client.post(url, {"decision": "decline"}).status_code == 302
    machine.refresh_from_db()
    assert machine.owner is None
    assert machine.claimed_owner is None
    assert client.post(url, {"decision": "confirm"}).status_code == 404  # nothing pending


def test_only_the_claimed_person_a_team_lead_or_staff_may_decide_a_claim(
    client, alice, bob, carol, django_user_model
):
    machine, _ = enroll("Payments", owner="bob", confirm_owner=False)
    url = reverse("dashboard:machine-ownership", args=[machine.machine_id])
    other_lead = django_user_model.objects.create_user("olga", password="pw")
    Membership.objects.create(user=other_lead, team=Team.objects.create(name="Search"), role="lead")
    for outsider in (carol, other_lead):
        client.force_login(outsider)
        assert client.post(url, {"decision": "confirm"}).status_code == 404
    machine.refresh_from_db()
    assert machine.owner is None

    lead = django_user_model.objects.create_user("lena", password="pw")
    Membership.objects.create(user=lead, team=machine.team, role="lead")
    client.force_login(lead)
    page = client.get(reverse("dashboard:machine", args=[machine.machine_id])).content.decode()
    assert 'data-testid="confirm-' in page
    assert client.post(url, {"decision": "confirm"}).status_code == 302
    machine.refresh_from_db()
    assert machine.owner == bob

    second, _ = enroll("Payments", owner="carol", confirm_owner=False)
    client.force_login(alice)
    url = reverse("dashboard:machine-ownership", args=[second.machine_id])
    assert client.post(url, {"decision": "confirm"}).status_code == 302
    second.refresh_from_db()
    assert second.owner == carol


def test_deciding_a_claim_needs_post_csrf_and_a_known_decision(bob):
    from django.test import Client

    machine, _ = enroll("Payments", owner="bob", confirm_owner=False)
    url = reverse("dashboard:machine-ownership", args=[machine.machine_id])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    assert strict.post(url, {"decision": "confirm"}).status_code == 403
    assert strict.get(url).status_code == 405
    lax = Client()
    lax.force_login(bob)
    for bad in ("", "CONFIRM", "x" * 10_000, "confirm\x00"):
        assert lax.post(url, {"decision": bad}).status_code == 400
    machine.refresh_from_db()
    assert machine.owner is None


def test_re_enrollment_never_changes_a_confirmed_owner(live_server, bob, carol):
    machine, _ = enroll("Payments", owner="bob")
    _, token = create_enrollment_token("Payments")
    status, _ = post(
        live_server, "/api/v1/enroll", identity(machine.machine_id, owner="carol"), token
    )
    assert status == 201
    machine.refresh_from_db()
    assert machine.owner == bob
    assert machine.claimed_owner is None


def test_an_expired_enrollment_token_is_refused(live_server):
    _token, secret = create_enrollment_token(
        "Payments", expires_at=timezone.now() - timedelta(seconds=1)
    )
    status, body = post(live_server, "/api/v1/enroll", identity("expired-token-1"), secret)
    assert status == 401
    assert "expired" in body["detail"]
    assert not Machine.objects.exists()


def test_a_token_with_a_use_limit_enrolls_that_many_machines_then_is_refused(live_server):
    _, secret = create_enrollment_token("Payments", max_uses=2)
    assert post(live_server, "/api/v1/enroll", identity("limited-0001"), secret)[0] == 201
    assert post(live_server, "/api/v1/enroll", identity("limited-0002"), secret)[0] == 201
    status, body = post(live_server, "/api/v1/enroll", identity("limited-0003"), secret)
    assert status == 401
    assert "used up" in body["detail"]
    assert Machine.objects.count() == 2
    assert EnrollmentToken.objects.get().enrollments == 2


def test_a_revoked_enrollment_token_is_refused(live_server):
    token, secret = create_enrollment_token("Payments")
    token.revoke()
    status, body = post(live_server, "/api/v1/enroll", identity("revoked-token-1"), secret)
    assert status == 401
    assert "revoked" in body["detail"]


def test_bulk_enrollment_respects_the_use_limit():
    from apps.fleet.services import EnrollmentError, enroll_machines_in_bulk

    _, secret = create_enrollment_token("Payments", max_uses=3)
    with pytest.raises(EnrollmentError) as refused:
        enroll_machines_in_bulk(secret, [identity(f"bulk-limit-{i:04d}") for i in range(4)])
    assert refused.value.status == 401
    assert not Machine.objects.exists()
    assert len(enroll_machines_in_bulk(secret, [identity("bulk-limit-ok-1")])) == 1


def test_create_enrollment_token_command_sets_expiry_and_use_limit(capsys):
    call_command("create_enrollment_token", team="Mobile", expires="7d", max_uses=50)
    captured = capsys.readouterr()
    secret = captured.out.strip().splitlines()[-1]
    token = EnrollmentToken.objects.get()
    assert token.max_uses == 50
    left = token.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
    assert "at most 50 enrollments" in captured.err
    assert secret.startswith("dfe_")


@pytest.mark.parametrize("expires", ["7", "0d", "-1d", "7y", "9999999d", "1d;rm", ""])
def test_create_enrollment_token_command_refuses_bad_expiry(expires):
    with pytest.raises(CommandError):
        call_command("create_enrollment_token", team="Mobile", expires=expires)
    assert not EnrollmentToken.objects.exists()


def test_create_enrollment_token_command_refuses_a_zero_use_limit():
    with pytest.raises(CommandError):
        call_command("create_enrollment_token", team="Mobile", max_uses=0)
    assert not EnrollmentToken.objects.exists()


def test_the_admin_shows_expiry_use_limit_and_status_and_creates_limited_tokens(
    client, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    team = Team.objects.create(name="Payments")
    response = client.post(
        reverse("admin:fleet_enrollmenttoken_add"),
        {
            "team": team.pk,
            "label": "laptops",
            "expires_at_0": "2000-01-01",
            "expires_at_1": "00:00:00",
            "max_uses": "5",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    token = EnrollmentToken.objects.get()
    assert token.max_uses == 5
    assert token.expires_at.year == 2000
    page = client.get(reverse("admin:fleet_enrollmenttoken_changelist")).content.decode()
    assert "expired" in page
    assert "Max uses" in page


def test_the_admin_creates_read_only_api_tokens_unless_write_is_chosen(
    client, django_user_model, bob
):
    from apps.fleet.models import ApiToken

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url = reverse("admin:fleet_apitoken_add")
    assert client.post(url, {"user": bob.pk, "name": "script"}).status_code == 200  # scope needed
    assert client.post(url, {"user": bob.pk, "name": "ci", "scope": "write"}).status_code == 302
    assert client.post(url, {"user": bob.pk, "name": "r", "scope": "read"}).status_code == 302
    assert dict(ApiToken.objects.values_list("name", "scope")) == {"ci": "write", "r": "read"}
    page = client.get(reverse("admin:fleet_apitoken_changelist")).content.decode()
    assert "Read and write" in page
