"""Chat webhooks (Slack, Teams, Mattermost, Discord, Google Chat): one JSON shape each.

Every text field is escaped for its service (transports/markup.py); link markup is written
here and only ever around the server's own URLs.
"""

from __future__ import annotations

from apps.alerts.transports import markup
from apps.alerts.transports.base import Message, Transport, post_json
from apps.alerts.transports.webhook import IDEMPOTENCY_HEADER

EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


def server_links(message: Message) -> list[tuple[str, str]]:
    """(label, url) of the message's links that are this server's own; labels are raw text."""
    pairs = [("Open machine page", message.link), ("Acknowledge", message.ack_link)]
    pairs += list(message.links)
    return [(label, markup.server_link(url)) for label, url in pairs if markup.server_link(url)]


class ChatTransport(Transport):
    """Markdown-flavoured chat: escape() for text, link() for one server link."""

    text_limit = 3500

    @staticmethod
    def escape(text: str) -> str:
        return markup.markdown(text)

    def link(self, label: str, url: str) -> str:
        return f"[{self.escape(label)}]({url})"

    def body(self, message: Message) -> str:
        text = "\n".join(self.escape(part) for part in [message.text, *message.lines])
        links = [self.link(label, url) for label, url in server_links(message)]
        return "\n".join([markup.clip(text, self.text_limit), *links])

    def payload(self, message: Message) -> dict:
        return {"text": f"**{self.escape(message.title)}**\n" + self.body(message)}

    def send(self, message: Message) -> None:
        post_json(self.channel.target, self.payload(message), {IDEMPOTENCY_HEADER: message.key})


class SlackTransport(ChatTransport):
    kind = "slack"
    text_limit = 2500  # a section block holds 3000 characters, links included

    @staticmethod
    def escape(text: str) -> str:
        return markup.slack(text)

    def link(self, label: str, url: str) -> str:
        return f"<{url}|{self.escape(label)}>"

    def payload(self, message: Message) -> dict:
        head = f"{EMOJI.get(message.severity, '')} *{self.escape(message.title)}*".strip()
        body = self.body(message)
        return {
            "text": f"{head}\n{body}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": head}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
            ],
            "unfurl_links": False,
            "unfurl_media": False,
        }


class TeamsTransport(ChatTransport):
    """Adaptive Card: text goes in RichTextBlock/TextRun, which renders no markdown at all;
    links are OpenUrl actions to the server's own pages."""

    kind = "teams"

    @staticmethod
    def escape(text: str) -> str:
        return markup.plain(text)

    def _block(self, text: str, **style) -> dict:
        return {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": self.escape(text), **style}],
        }

    def payload(self, message: Message) -> dict:
        actions = [
            {"type": "Action.OpenUrl", "title": self.escape(label), "url": url}
            for label, url in server_links(message)
        ]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                self._block(message.title, weight="Bolder"),
                self._block(message.text),
                *(self._block(line) for line in message.lines),
            ],
            "actions": actions,
        }
        return {
            "type": "message",
            "summary": self.escape(message.title),
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }


class MattermostTransport(ChatTransport):
    kind = "mattermost"


class DiscordTransport(ChatTransport):
    kind = "discord"
    text_limit = 1500  # content holds 2000 characters, links included

    def link(self, label: str, url: str) -> str:
        return f"{self.escape(label)}: <{url}>"  # <url> shows no embed preview

    def payload(self, message: Message) -> dict:
        content = f"**{self.escape(message.title)}**\n" + self.body(message)
        # parse: [] — no @everyone, @here, role or user ping, whatever the text says.
        return {"content": content[:2000], "allowed_mentions": {"parse": []}}


class GoogleChatTransport(ChatTransport):
    kind = "googlechat"

    @staticmethod
    def escape(text: str) -> str:
        return markup.googlechat(text)

    def link(self, label: str, url: str) -> str:
        return f"<{url}|{self.escape(label)}>"

    def payload(self, message: Message) -> dict:
        return {"text": f"*{self.escape(message.title)}*\n" + self.body(message)}
