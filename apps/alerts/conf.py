"""Alert settings with their defaults (config/settings.py sets them from the environment)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    "ALERTS_GROUP_WAIT_S": 30,  # wait this long before a first message, to group a storm
    "ALERTS_STORM_WINDOW_S": 300,  # opened rows of one rule this close together form one message
    "ALERTS_REPEAT_HOURS": 4.0,  # default repeat interval of a route (0 = never)
    "ALERTS_RATE_PER_MINUTE": 6,  # messages per channel per minute; the rest wait
    "ALERTS_MAX_ATTEMPTS": 8,  # transient failures before a row is given up
    "ALERTS_SENDING_TIMEOUT_S": 120,  # a row 'sending' this long is taken back (worker died)
    "ALERTS_HTTP_TIMEOUT_S": 10.0,
    "ALERTS_ACK_MAX_AGE_S": 7 * 86400,  # lifetime of the acknowledge link in messages
    "ALERTS_ALLOW_PRIVATE_TARGETS": False,  # let alert requests reach non-public addresses
    "ALERTS_ALLOWED_PRIVATE_NETWORKS": [],  # CIDRs reachable even when the above is False
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
