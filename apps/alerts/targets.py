"""Save-time check of a channel's kind and target, by the same rule deliveries follow."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.alerts import outbound
from apps.alerts.transports import TRANSPORTS, TransportError
from apps.alerts.transports.apprise_url import load as load_apprise
from apps.alerts.transports.email import recipients

HTTP_KINDS = ("slack", "teams", "mattermost", "discord", "googlechat", "webhook")
# A developer's own channel: email, chat or webhook. Apprise can reach raw-socket services
# (syslog, SMTP, MQTT…) that the outbound seam does not vet, so it is for staff channels only.
PERSONAL_KINDS = ("email", *HTTP_KINDS)


def check_target(kind: str, target: str, *, personal: bool) -> None:
    """Raise ValidationError ({field: message}) when a channel could not or must not be sent to."""
    if kind not in TRANSPORTS:
        raise ValidationError({"kind": f"{kind or 'This kind'} is not available on this server."})
    if personal and kind not in PERSONAL_KINDS:
        raise ValidationError({"kind": "A personal channel is email, a chat webhook or a webhook."})
    target = (target or "").strip()
    if kind == "email":
        try:
            recipients(target)
        except TransportError as exc:
            raise ValidationError(
                {"target": "An invalid address: enter email addresses, separated by commas."}
            ) from exc
    elif kind in HTTP_KINDS:
        check_http_url(target)
    elif kind == "apprise" and load_apprise(target) is None:
        raise ValidationError({"target": "Apprise does not understand this URL (one URL only)."})


def check_http_url(url: str) -> None:
    """A well-formed http(s) URL whose host resolves only to addresses alerts may reach."""
    try:
        parts, port = outbound.parse_http_url(url)
        outbound.vetted_addresses(parts.hostname, port)
    except outbound.OutboundError as exc:
        if exc.permanent:
            message = exc.message[0].upper() + exc.message[1:]
        else:
            message = "The host name of this URL does not resolve."
        if "not a public address" in exc.message:
            message = (
                "This URL points to a loopback, private, link-local, multicast or reserved "
                "address; alert requests only go to public addresses."
            )
        raise ValidationError({"target": message.rstrip(".") + "."}) from exc
