"""Admin pages for every model, and the fleet management commands."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.fleet.models import EnrollmentToken, Team
from apps.fleet.models.tokens import digest
from apps.ingest.services import ingest_report

pytestmark = pytest.mark.django_db


def test_every_model_has_a_working_admin_changelist(
    client, enrolled, example_report, django_user_model
):
    ingest_report(enrolled[0], example_report)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label in {"fleet", "metrics"}]
    assert ours
    for model in ours:
        assert admin.site.is_registered(model), model
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            assert client.get(change).status_code == 200, change


def test_create_enrollment_token_prints_the_token_last_and_creates_the_team(capsys):
    call_command("create_enrollment_token", team="Mobile Apps")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("dfe_")
    stored = EnrollmentToken.objects.get()
    assert stored.team == Team.objects.get(name="Mobile Apps")
    assert stored.token_hash == digest(token)
    assert token not in (stored.prefix + stored.token_hash)  # only the digest is stored


def test_create_enrollment_token_refuses_an_empty_team():
    with pytest.raises(CommandError):
        call_command("create_enrollment_token", team="  ")


def test_revoking_in_the_admin_revokes(client, django_user_model, capsys):
    call_command("create_enrollment_token", team="Platform")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    token = EnrollmentToken.objects.get()
    client.post(
        reverse("admin:fleet_enrollmenttoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_setup_demo_creates_the_login_and_links_simulated_owners(
    settings, tmp_path, enrolled, capsys
):
    settings.VAR_DIR = tmp_path
    machine, _ = enrolled
    machine.owner_hint = "dana"
    machine.save()
    call_command("setup_demo", summary=True)
    out = capsys.readouterr().out
    password = (tmp_path / "demo-login.txt").read_text().strip()
    assert f"admin / {password}" in out
    machine.refresh_from_db()
    assert machine.owner.username == "dana"
    assert machine.owner.check_password(password)
    assert machine.team.membership_set.get(user=machine.owner).role == "lead"
