"""View checks of issue 13's smaller slips: plurals, OS label, un-acknowledge, alerts hints."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import reverse

from apps.anomalies.models import Finding


def test_every_model_has_an_english_plural():
    bad = [
        m._meta.verbose_name_plural
        for m in apps.get_models()
        if str(m._meta.verbose_name_plural).endswith(("ss", "xs", "chs", "shs"))
    ]
    assert bad == []


@pytest.mark.django_db
def test_the_machine_page_names_macos_once(client, alice):
    from tests.factories import enroll

    mac, _ = enroll("Platform", hostname="dan-mbp", os="darwin", os_version="macOS 15.0.1")
    linux, _ = enroll("Platform", hostname="box", os="linux", os_version="Ubuntu 24.04")
    client.force_login(alice)
    body = client.get(reverse("dashboard:machine", args=[mac.machine_id])).content.decode()
    assert "<dd>macOS 15.0.1</dd>" in body
    body = client.get(reverse("dashboard:machine", args=[linux.machine_id])).content.decode()
    assert "<dd>Linux Ubuntu 24.04</dd>" in body


@pytest.mark.django_db
def test_an_acknowledged_finding_can_be_unacknowledged_from_the_dashboard(client, fleet, alice):
    client.force_login(alice)
    finding = Finding.objects.filter(machine=fleet.carols, state="open").first()
    page = reverse("dashboard:machine", args=[fleet.carols.machine_id])
    act = reverse("dashboard:finding-action", args=[finding.pk])
    client.post(act, {"action": "acknowledge", "next": page})
    body = client.get(page).content.decode()
    assert f'data-testid="unack-{finding.pk}"' in body
    response = client.post(act, {"action": "unacknowledge", "next": page})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.acknowledged_at is None
    assert finding.events.filter(kind="unacknowledged", actor=alice).exists()
    assert f'data-testid="ack-{finding.pk}"' in client.get(page).content.decode()


@pytest.mark.django_db
def test_an_empty_alerts_setup_says_what_to_do_first(client, alice):
    client.force_login(alice)
    body = client.get(reverse("alerts:channels")).content.decode()
    assert 'id="alerts-first-steps"' in body
    assert reverse("alerts:channel-new") in body
    form = client.get(reverse("alerts:route-new")).content.decode()
    assert 'id="route-needs-channel"' in form
    assert "No channels yet: add a channel first." in form
