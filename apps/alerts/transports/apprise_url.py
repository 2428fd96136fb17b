"""Apprise: one URL reaches any of its 100+ services (skipped when apprise is not installed)."""

from __future__ import annotations

from apps.alerts.transports.base import Message, Transport, TransportError

try:
    import apprise
except ImportError:  # pragma: no cover - depends on the environment
    apprise = None


class AppriseTransport(Transport):
    kind = "apprise"

    @classmethod
    def available(cls) -> bool:
        return apprise is not None

    def send(self, message: Message) -> None:
        if apprise is None:
            raise TransportError("apprise is not installed", permanent=True)
        client = apprise.Apprise()
        if not client.add(self.channel.target):
            raise TransportError("Apprise does not understand this URL", permanent=True)
        body = "\n".join([message.text, *message.lines, message.link, message.ack_link]).strip()
        # Apprise reports only success or failure, so failures are treated as transient.
        if not client.notify(body=body, title=message.title):
            raise TransportError("Apprise could not deliver the message")
