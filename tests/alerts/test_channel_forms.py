"""Save-time checks of channel targets (issue #11 points 3 and 8) and the personal delete."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from apps.alerts.models import Channel

pytestmark = pytest.mark.django_db
PUBLIC = "https://93.184.215.14/hook"  # an IP literal: public, and needs no DNS in tests
NOT_PUBLIC = "only go to public addresses"


@pytest.fixture
def strict(settings):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = False
    settings.ALERTS_ALLOWED_PRIVATE_NETWORKS = []
    return settings


@pytest.fixture
def dev(client, bob):
    from tests.alerts.helpers import machine

    machine(owner="bob")
    client.force_login(bob)
    return client


def add_personal(client, kind, target, severity="warning"):
    return client.post("/alerts/me/", {"kind": kind, "target": target, "min_severity": severity})


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:5432/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]:6379/",
        "http://10.0.0.8/hook",
        "http://localhost:8000/admin/",
    ],
)
def test_a_personal_webhook_to_an_internal_address_is_refused_with_a_form_error(
    dev, strict, target
):
    response = add_personal(dev, "webhook", target)
    assert response.status_code == 200
    assert NOT_PUBLIC in response.content.decode()
    assert not Channel.objects.exists()


def test_a_personal_chat_channel_to_a_public_address_is_saved(dev, strict, bob):
    response = add_personal(dev, "slack", PUBLIC)
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert (channel.owner, channel.kind, channel.target) == (bob, "slack", PUBLIC)


def test_a_personal_apprise_channel_is_refused_and_not_offered(dev, strict):
    page = dev.get("/alerts/me/").content.decode()
    assert 'value="apprise"' not in page
    assert 'value="webhook"' in page
    assert 'value="email"' in page
    response = add_personal(dev, "apprise", "json://127.0.0.1:6379")
    assert response.status_code == 200
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("https://hooks.example.com/services/a b", "spaces"),
        (" https://93.184.215.14/a\tb", "spaces"),
        ("https://93.184.215.14/a\x1bb", "control characters"),
        ("https://93.184.215.14/a\x00b", "Null characters"),
        ("not a url", "spaces"),
        ("hooks.example.com/x", "http://"),
        ("ftp://93.184.215.14/x", "http://"),
        ("javascript:alert(1)", "http://"),
        ("http://", "no host"),
        ("http://[::1", "not valid"),
        ("https://93.184.215.14:99999/", "not valid"),
    ],
)
def test_a_webhook_url_with_a_space_or_any_invalid_url_is_refused_at_save(dev, target, says):
    response = add_personal(dev, "webhook", target)
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not Channel.objects.exists()


def test_an_invalid_email_list_is_refused_at_save(dev):
    response = add_personal(dev, "email", "bob@example.com, not an address")
    assert response.status_code == 200
    assert "invalid address" in response.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "<script>alert(1)</script>", "target": PUBLIC, "min_severity": "info"},
        {"kind": "webhook", "target": PUBLIC + "a" * 5000, "min_severity": "info"},
        {"kind": "webhook", "target": PUBLIC, "min_severity": "apocalyptic"},
        {"kind": "webhook", "target": "", "min_severity": "info"},
        {"kind": "email", "target": "a@example.com\r\nBcc: everyone@example.com"},
    ],
)
def test_hostile_personal_channel_input_is_a_form_error_never_a_500(dev, data):
    assert dev.post("/alerts/me/", data).status_code == 200
    assert not Channel.objects.exists()


@pytest.mark.parametrize("value", ["abc", "1 OR 1=1", "", "-1", "9" * 40, "١٢", "1.5"])
def test_deleting_a_personal_channel_with_a_non_numeric_id_is_a_404_not_a_500(dev, bob, value):
    mine = Channel.objects.create(team_id=bob.machines.first().team_id, kind="email",
                                  target="bob@example.com", owner=bob)  # fmt: skip
    assert dev.post("/alerts/me/", {"delete": value}).status_code == 404
    assert Channel.objects.filter(pk=mine.pk).exists()


def test_a_developer_cannot_delete_someone_elses_channel(dev, bob, carol):
    team_id = bob.machines.first().team_id
    theirs = Channel.objects.create(team_id=team_id, kind="email", target="c@x.com", owner=carol)
    assert dev.post("/alerts/me/", {"delete": str(theirs.pk)}).status_code == 302
    assert Channel.objects.filter(pk=theirs.pk).exists()


def test_the_staff_form_refuses_an_internal_url_unless_private_targets_are_allowed(
    client, alice, team, strict
):
    client.force_login(alice)
    data = {"team": team.pk, "name": "ops", "kind": "mattermost", "min_severity": "warning",
            "target": "http://192.168.10.5:8065/hooks/x", "enabled": "on"}  # fmt: skip
    response = client.post("/alerts/channels/new/", data)
    assert response.status_code == 200
    assert NOT_PUBLIC in response.content.decode()
    assert not Channel.objects.exists()
    strict.ALERTS_ALLOW_PRIVATE_TARGETS = True  # an on-premise chat server
    assert client.post("/alerts/channels/new/", data).status_code == 302
    assert Channel.objects.get().target == data["target"]


def test_the_staff_form_refuses_a_url_with_a_space(client, alice, team):
    client.force_login(alice)
    response = client.post(
        "/alerts/channels/new/",
        {"team": team.pk, "kind": "webhook", "target": "https://93.184.215.14/a b",
         "min_severity": "warning", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "spaces" in response.content.decode()
    assert not Channel.objects.exists()


def test_a_staff_made_personal_channel_follows_the_personal_rules(client, alice, team, bob):
    client.force_login(alice)
    response = client.post(
        "/alerts/channels/new/",
        {"team": team.pk, "kind": "apprise", "target": "json://93.184.215.14/x",
         "owner": bob.pk, "min_severity": "warning", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "personal channel" in response.content.decode()
    assert not Channel.objects.exists()


def test_add_channel_refuses_an_internal_url(team, strict):
    with pytest.raises(CommandError, match="public addresses"):
        call_command("add_channel", team="Platform", kind="webhook", target="http://127.0.0.1/")
    with pytest.raises(CommandError, match="spaces"):
        call_command("add_channel", team="Platform", kind="slack", target="https://a.example/b c")
    assert not Channel.objects.exists()
