"""Apprise: one URL reaches any of its 100+ services (skipped when apprise is not installed).

Its HTTP plugins connect through the outbound seam (`outbound.guarded`); plugins that open raw
sockets (syslog, SMTP, MQTT…) bypass it, so Apprise channels are for staff-made team channels only.
"""

from __future__ import annotations

from apps.alerts import outbound
from apps.alerts.transports.base import Message, Transport, TransportError

try:
    import apprise
except ImportError:  # pragma: no cover - depends on the environment
    apprise = None


def load(url: str):
    """The one Apprise plugin for url, with Apprise's own retries off (the outbox retries),
    or None when Apprise does not understand it. A list of URLs is not one URL."""
    if apprise is None or not url or any(ch.isspace() or ch == "," for ch in url):
        return None
    asset = apprise.AppriseAsset(async_mode=False, default_service_retry=0)
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is not None:
        plugin.retry = 0
    return plugin


class AppriseTransport(Transport):
    kind = "apprise"

    @classmethod
    def available(cls) -> bool:
        return apprise is not None

    def send(self, message: Message) -> None:
        if apprise is None:
            raise TransportError("apprise is not installed", permanent=True)
        if self.channel.owner_id is not None:
            raise TransportError("Apprise URLs are for team channels only", permanent=True)
        plugin = load(self.channel.target)
        if plugin is None:
            raise TransportError("Apprise does not understand this URL", permanent=True)
        client = apprise.Apprise(asset=plugin.asset)
        client.add(plugin)
        links = [f"{label}: {url}" for label, url in message.links]
        parts = [message.text, *message.lines, message.link, message.ack_link, *links]
        body = "\n".join(parts).strip()
        with outbound.guarded() as refusals:
            ok = client.notify(body=body, title=message.title)
        if refusals:
            raise TransportError(refusals[0].message, permanent=True)
        # Apprise reports only success or failure, so other failures are treated as transient.
        if not ok:
            raise TransportError("Apprise could not deliver the message")
