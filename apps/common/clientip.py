"""The client's IP address, trusting X-Forwarded-For only from the configured proxies."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or with DEVFLEET_TRUSTED_PROXIES=n the address n hops back in
    X-Forwarded-For (each trusted proxy appends the address it saw; anything further left
    was sent by the client and may be forged)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    hops = getattr(settings, "DEVFLEET_TRUSTED_PROXIES", 0)
    if hops <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return forwarded[0] if forwarded else remote
