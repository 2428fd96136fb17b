"""Email through Django's email backend; Message-ID derived from the outbox row."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.forms import ValidationError

from apps.alerts.transports.base import Message, Transport, TransportError

FINDING_KINDS = {"opened", "escalated", "repeat", "resolved"}


def message_id(key: str) -> str:
    return f"<alert-{key}@devfleet>"


def recipients(target: str) -> list[str]:
    addresses = [a.strip() for a in target.split(",") if a.strip()]
    try:
        for address in addresses:
            validate_email(address)
    except ValidationError as exc:
        raise TransportError("invalid address in the channel's target", permanent=True) from exc
    if not addresses:
        raise TransportError("no address", permanent=True)
    return addresses


def plain_body(message: Message) -> str:
    label = "Machine page" if message.kind in FINDING_KINDS else "Details"
    lines = [message.text, "", *message.lines, ""]
    if message.link:
        lines.append(f"{label}: {message.link}")
    if message.ack_link:
        lines.append(f"Acknowledge: {message.ack_link}")
    lines.extend(f"{label}: {url}" for label, url in message.links)
    return "\n".join(lines)


class EmailTransport(Transport):
    kind = "email"

    def send(self, message: Message) -> None:
        mail = EmailMultiAlternatives(
            subject=f"[devfleet {message.severity}] {message.title}"[:200],
            body=plain_body(message),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients(self.channel.target),
            headers={"Message-ID": message_id(message.key), "X-Devfleet-Key": message.key},
        )
        if message.html:
            mail.attach_alternative(message.html, "text/html")
        try:
            mail.send(fail_silently=False)
        # The error text names codes only: the server's words can be shown to a developer.
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise TransportError(
                f"recipients refused (SMTP {', '.join(codes)})", permanent=True
            ) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise TransportError(f"SMTP {exc.smtp_code}", permanent=permanent) from exc
        except (smtplib.SMTPException, OSError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise TransportError(f"SMTP: {reason}") from exc
