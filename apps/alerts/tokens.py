"""Signed, expiring acknowledge links that work without a login session."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.alerts import conf

SALT = "devfleet.alerts.ack"


def ack_token(finding_id: int) -> str:
    return signing.dumps({"f": finding_id}, salt=SALT, compress=True)


def read_ack_token(token: str) -> int | None:
    try:
        data = signing.loads(token, salt=SALT, max_age=conf.get("ALERTS_ACK_MAX_AGE_S"))
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return data.get("f") if isinstance(data, dict) else None


def ack_url(finding_id: int) -> str:
    path = reverse("alerts:ack", args=[ack_token(finding_id)])
    return f"{settings.DEVFLEET_BASE_URL}{path}"


def machine_url(machine_id: str) -> str:
    # Machine ids come from agents: quoted, so an id can never add a path, query or host.
    return f"{settings.DEVFLEET_BASE_URL}/machines/{quote(machine_id, safe=':')}/"
