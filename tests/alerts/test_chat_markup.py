"""Issue #11 point 5: agent and user text in chat messages stays text in every chat format."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Channel, Route
from apps.alerts.transports import markup
from apps.anomalies.detectors.base import Detection
from apps.anomalies.lifecycle import open_finding
from tests.alerts.helpers import ADVICE, NOW, machine

pytestmark = pytest.mark.django_db
BASE = "https://devfleet.example.com/"
HOSTNAME = "<https://evil.example|Acknowledge> <!channel>"
TITLE = "gopls [Acknowledge](https://evil.example) @everyone @here <@123> <users/all> <!here>"
OWNER = "<!subteam^S1> @channel [x](http://evil.example/owner) *bold* `code`"
VERSION = "v0.16.1 <https://evil.example/v|update> @all"
CHAT_KINDS = ["slack", "mattermost", "discord", "googlechat", "teams"]


def hostile_finding():
    m = machine(hostname=HOSTNAME, owner=OWNER, confirm_owner=False)
    det = Detection(
        rule_id="gopls_memory_leak",
        fired=True,
        severity="warning",
        evidence={"gopls_version": VERSION, "slope_mb_per_hour": 117.1},
        explanation="Heap grows.",
    )
    return m, open_finding(m.pk, det, TITLE, ADVICE, NOW)[0]


def sent(team, receiver, kind) -> dict:
    channel = Channel.objects.create(team=team, kind=kind, target=f"{receiver.url}/{kind}")
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    m, _ = hostile_finding()
    flush_outbox(NOW)
    (post,) = receiver.posts(f"/{kind}")
    return post["json"], m


def urls_in(payload: dict) -> list[str]:
    flat = json.dumps({k: v for k, v in payload.items()}, ensure_ascii=False)
    flat = flat.replace("http://adaptivecards.io/schemas/adaptive-card.json", "")
    return re.findall(r"https?://[^\s\"|>)\\]+", flat)


@pytest.mark.parametrize("kind", CHAT_KINDS)
def test_urls_in_every_chat_message_are_only_the_servers_own_links(team, receiver, kind):
    payload, m = sent(team, receiver, kind)
    found = urls_in(payload)
    assert f"{BASE}machines/{m.machine_id}/" in found
    assert all(url.startswith(BASE) for url in found), found
    assert "evil.example" in json.dumps(payload)  # the text is still shown, as text


def test_a_hostile_hostname_is_inert_in_slack(team, receiver):
    payload, _ = sent(team, receiver, "slack")
    for text in (payload["text"], payload["blocks"][1]["text"]["text"]):
        assert "<!channel>" not in text
        assert "<!here>" not in text
        assert "<@123>" not in text
        assert "&lt;https[:]//evil.example|Acknowledge&gt; &lt;!channel&gt;" in text
        # The only <…> tokens left are the server's links.
        assert all(token.startswith(BASE) for token in re.findall(r"<([^>]*)>", text))
    assert payload["unfurl_links"] is False


@pytest.mark.parametrize("kind", ["mattermost", "discord"])
def test_a_hostile_hostname_is_inert_in_markdown_chats(team, receiver, kind):
    payload, _ = sent(team, receiver, kind)
    text = payload["text" if kind == "mattermost" else "content"]
    unescaped_link_targets = [text[m.end() :] for m in re.finditer(r"(?<!\\)\]\(", text)]
    assert all(rest.startswith(BASE) for rest in unescaped_link_targets)
    assert not re.search(r"(?<!\\)<[@!#]", text)  # no <@id>, <!channel>, <#chan> mention
    for ping in ("@everyone", "@here", "@all", "@channel"):
        assert ping not in text
    assert "\\[Acknowledge\\]\\(https\\[:\\]//evil.example\\)" in text
    assert "\\*bold\\*" in text


def test_discord_messages_allow_no_mentions_at_all(team, receiver):
    payload, _ = sent(team, receiver, "discord")
    assert payload["allowed_mentions"] == {"parse": []}


def test_a_hostile_hostname_is_inert_in_google_chat(team, receiver):
    payload, _ = sent(team, receiver, "googlechat")
    text = payload["text"]
    assert "<users/all>" not in text
    assert all(token.startswith(BASE) for token in re.findall(r"<([^>]*)>", text))
    assert "\u2039https[:]//evil.example|Acknowledge\u203a" in text


def test_a_hostile_hostname_is_inert_in_teams(team, receiver):
    payload, _ = sent(team, receiver, "teams")
    card = payload["attachments"][0]["content"]
    # RichTextBlock/TextRun render no markdown; links exist only as the server's actions.
    assert {block["type"] for block in card["body"]} == {"RichTextBlock"}
    assert all(action["url"].startswith(BASE) for action in card["actions"])
    texts = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert any("https[:]//evil.example|Acknowledge" in t for t in texts)
    assert not any("@everyone" in t for t in texts)


def test_a_disabled_channel_notice_names_the_channel_not_its_target(team, receiver):
    secret_path = "/services/T0/B0/s3cr3t-token"
    gone = Channel.objects.create(team=team, kind="webhook", target=receiver.url + secret_path)
    other = Channel.objects.create(team=team, kind="slack", target=receiver.url + "/team")
    Route.objects.create(team=team, min_severity="info").channels.add(gone)
    receiver.statuses[secret_path] = 410
    hostile_finding()
    flush_outbox(NOW)
    gone.refresh_from_db()
    assert not gone.enabled
    flush_outbox(NOW + timedelta(seconds=1))
    (notice,) = receiver.posts("/team")
    text = json.dumps(notice["json"])
    assert f"Webhook (JSON, HMAC-signed) channel #{gone.pk}" in text
    assert "s3cr3t" not in text
    assert "/services/" not in text
    assert other.notifications.get().kind == "channel_disabled"


@pytest.mark.parametrize(
    ("escape", "hostile", "expected"),
    [
        (markup.slack, "<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
        (markup.slack, "see https://x.example", "see https[:]//x.example"),
        (markup.markdown, "[a](https://x.example)", "\\[a\\]\\(https\\[:\\]//x.example\\)"),
        (markup.markdown, "@everyone", "@\u200beveryone"),
        (markup.markdown, "@alice", "@\u200balice"),
        (markup.googlechat, "<users/all>", "\u2039users/all\u203a"),
        (markup.plain, "HTTPS://x.example @here", "HTTPS[:]//x.example @\u200bhere"),
        (markup.slack, "javascript://x", "javascript[:]//x"),
        (markup.markdown, "plain text 1.5", "plain text 1.5"),
        (markup.markdown, "go install x/gopls@v0.16.1", "go install x/gopls@v0.16.1"),
        (markup.markdown, "(@alice)", "\\(@\u200balice\\)"),
    ],
)
def test_each_escape_makes_markup_text(escape, hostile, expected):
    assert escape(hostile) == expected


def test_only_server_links_survive(settings):
    assert markup.server_link(BASE + "machines/x/") == BASE + "machines/x/"
    assert markup.server_link("https://devfleet.example.com.evil.example/x") == ""
    assert markup.server_link("https://evil.example/") == ""
    assert markup.server_link("") == ""
