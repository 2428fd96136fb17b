"""Generic webhook: the message as JSON, HMAC-SHA256 signed, with an idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json

from apps.alerts.transports.base import Message, Transport, post_bytes

SIGNATURE_HEADER = "X-Devfleet-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTransport(Transport):
    kind = "webhook"

    def send(self, message: Message) -> None:
        body = json.dumps(message.as_dict(), separators=(",", ":"), sort_keys=True).encode()
        headers = {IDEMPOTENCY_HEADER: message.key}
        if self.channel.secret:
            headers[SIGNATURE_HEADER] = sign(self.channel.secret, body)
        post_bytes(self.channel.target, body, headers)
