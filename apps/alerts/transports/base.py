"""Transport contract: send one rendered Message or raise TransportError(permanent=…)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from apps.alerts import outbound


class TransportError(Exception):
    """A failed send. permanent=True: retrying cannot help (bad address, 404/410): disable."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass
class Message:
    """What every transport renders: plain text plus structured lines and links."""

    key: str  # idempotency key: the outbox row's uuid, the same on every attempt
    kind: str
    severity: str
    title: str
    text: str
    lines: list[str] = field(default_factory=list)
    link: str = ""
    ack_link: str = ""
    html: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # more (label, server URL)

    def as_dict(self) -> dict:
        return {
            "idempotency_key": self.key,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "lines": self.lines,
            "link": self.link,
            "ack_link": self.ack_link,
            "links": [{"label": label, "url": url} for label, url in self.links],
        }


class Transport(ABC):
    """One channel kind. Subclasses implement send(message)."""

    kind = ""

    def __init__(self, channel) -> None:
        self.channel = channel

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver one message; raise TransportError (permanent or not) on failure."""

    @classmethod
    def available(cls) -> bool:
        return True


def post_json(url: str, payload: dict, headers: dict | None = None) -> int:
    """POST JSON; raise TransportError classified by status or network failure."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return post_bytes(url, body, headers)


def post_bytes(url: str, body: bytes, headers: dict | None = None) -> int:
    """POST through the one outbound seam (address vetting, redirects, safe error text)."""
    try:
        return outbound.post(url, body, headers)
    except outbound.OutboundError as exc:
        raise TransportError(exc.message, permanent=exc.permanent) from exc
