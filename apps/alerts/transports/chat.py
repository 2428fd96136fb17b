"""Chat webhooks (Slack, Teams, Mattermost, Discord, Google Chat): one JSON shape each."""

from __future__ import annotations

from apps.alerts.transports.base import Message, Transport, post_json
from apps.alerts.transports.webhook import IDEMPOTENCY_HEADER

EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


def _markdown(message: Message, link_fmt: str) -> str:
    parts = [message.text, *message.lines]
    if message.link:
        parts.append(link_fmt.format(url=message.link, label="Open machine page"))
    if message.ack_link:
        parts.append(link_fmt.format(url=message.ack_link, label="Acknowledge"))
    return "\n".join(parts)


class ChatTransport(Transport):
    link_fmt = "[{label}]({url})"

    def payload(self, message: Message) -> dict:
        return {"text": f"*{message.title}*\n" + _markdown(message, self.link_fmt)}

    def send(self, message: Message) -> None:
        post_json(self.channel.target, self.payload(message), {IDEMPOTENCY_HEADER: message.key})


class SlackTransport(ChatTransport):
    kind = "slack"
    link_fmt = "<{url}|{label}>"

    def payload(self, message: Message) -> dict:
        head = f"{EMOJI.get(message.severity, '')} *{message.title}*".strip()
        body = _markdown(message, self.link_fmt)
        return {
            "text": f"{head}\n{body}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": head}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
            ],
        }


class TeamsTransport(ChatTransport):
    kind = "teams"

    def payload(self, message: Message) -> dict:
        actions = [
            {"type": "Action.OpenUrl", "title": label, "url": url}
            for label, url in (
                ("Open machine page", message.link),
                ("Acknowledge", message.ack_link),
            )
            if url
        ]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": message.title, "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": message.text, "wrap": True},
                *({"type": "TextBlock", "text": line, "wrap": True} for line in message.lines),
            ],
            "actions": actions,
        }
        return {
            "type": "message",
            "summary": message.title,
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }


class MattermostTransport(ChatTransport):
    kind = "mattermost"

    def payload(self, message: Message) -> dict:
        return {"text": f"**{message.title}**\n" + _markdown(message, self.link_fmt)}


class DiscordTransport(ChatTransport):
    kind = "discord"

    def payload(self, message: Message) -> dict:
        return {
            "content": (f"**{message.title}**\n" + _markdown(message, "{label}: <{url}>"))[:2000]
        }


class GoogleChatTransport(ChatTransport):
    kind = "googlechat"
    link_fmt = "<{url}|{label}>"
