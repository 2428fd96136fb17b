"""Every channel kind delivers to a real local receiver in its service's JSON shape."""

from __future__ import annotations

import pytest

from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Channel, Route
from apps.alerts.transports import TRANSPORTS
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "field"), [("mattermost", "text"), ("discord", "content"), ("googlechat", "text")]
)
def test_chat_webhook_variants_post_the_title_and_machine_link(team, receiver, kind, field):
    channel = Channel.objects.create(team=team, kind=kind, target=f"{receiver.url}/{kind}")
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    m = machine()
    leak(m)
    flush_outbox(NOW)
    (post,) = receiver.posts(f"/{kind}")
    assert "gopls memory grows" in post["json"][field]
    assert f"https://devfleet.example.com/machines/{m.machine_id}/" in post["json"][field]
    assert post["headers"]["Idempotency-Key"]


@pytest.mark.skipif("apprise" not in TRANSPORTS, reason="apprise is not installed")
def test_an_apprise_url_reaches_its_service(team, receiver):
    target = receiver.url.replace("http://", "json://") + "/apprise"
    channel = Channel.objects.create(team=team, kind="apprise", target=target)
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    leak(machine())
    flush_outbox(NOW)
    (post,) = receiver.posts("/apprise")
    assert post["json"]["title"] == "gopls memory grows"
    assert "First fix: Upgrade gopls" in post["json"]["message"]
    channel.refresh_from_db()
    assert channel.last_success_at is not None


def test_an_apprise_url_it_cannot_parse_disables_the_channel(team):
    if "apprise" not in TRANSPORTS:
        pytest.skip("apprise is not installed")
    channel = Channel.objects.create(team=team, kind="apprise", target="nonsense")
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    leak(machine())
    flush_outbox(NOW)
    channel.refresh_from_db()
    assert not channel.enabled
    assert "does not understand" in channel.disabled_reason
