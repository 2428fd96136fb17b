"""TRANSPORTS registry: channel kind → Transport class (healthchecks style)."""

from __future__ import annotations

from apps.alerts.transports.apprise_url import AppriseTransport
from apps.alerts.transports.base import Message, Transport, TransportError
from apps.alerts.transports.chat import (
    DiscordTransport,
    GoogleChatTransport,
    MattermostTransport,
    SlackTransport,
    TeamsTransport,
)
from apps.alerts.transports.email import EmailTransport
from apps.alerts.transports.webhook import WebhookTransport

TRANSPORTS: dict[str, type[Transport]] = {
    cls.kind: cls
    for cls in (
        EmailTransport,
        SlackTransport,
        TeamsTransport,
        MattermostTransport,
        DiscordTransport,
        GoogleChatTransport,
        WebhookTransport,
        AppriseTransport,
    )
    if cls.available()
}


def transport_for(channel) -> Transport:
    cls = TRANSPORTS.get(channel.kind)
    if cls is None:
        raise TransportError(f"channel kind {channel.kind!r} is not available", permanent=True)
    return cls(channel)


__all__ = ["TRANSPORTS", "Message", "Transport", "TransportError", "transport_for"]
