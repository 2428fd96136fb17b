"""People acting on findings through the API: acknowledge, snooze, unacknowledge.

One entry point, `act_on_finding`: visibility (a finding the user may not see does not exist),
validation of the snooze time, then the lifecycle service, which writes the finding event and
the audit event in one transaction.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from apps.anomalies.lifecycle import acknowledge, snooze, unacknowledge
from apps.anomalies.models import Finding

ACTIONS = ("acknowledge", "snooze", "unacknowledge")
MAX_SNOOZE = timedelta(days=90)
MIN_SNOOZE = timedelta(minutes=1)
MAX_ID = 2**63 - 1
_DURATION_RE = re.compile(r"^\s*(\d{1,7})\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ActionError(ValueError):
    """The request cannot be carried out: `status` 400 (invalid) or 409 (wrong state)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_duration(value) -> timedelta:
    """Seconds as a number, or "<n><s|m|h|d|w>" ("90m", "2h", "7d")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ActionError(400, "invalid_request", "duration must be seconds or like 2h, 1d")
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ActionError(400, "invalid_request", "duration must be seconds or like 2h, 1d")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        if value != value or value in (float("inf"), float("-inf")):
            raise ActionError(400, "invalid_request", "duration must be a finite number")
        seconds = value
    if seconds < 0:  # and -2**70 would overflow timedelta: a 500 instead of a 400
        raise ActionError(400, "invalid_request", "duration must not be negative")
    if seconds > MAX_SNOOZE.total_seconds():
        raise ActionError(400, "invalid_request", f"a snooze lasts at most {MAX_SNOOZE.days} days")
    return timedelta(seconds=seconds)


def parse_until(value) -> datetime:
    """An ISO 8601 time with its UTC offset."""
    if not isinstance(value, str) or len(value) > 64:
        raise ActionError(400, "invalid_request", "until must be an ISO 8601 date-time")
    try:
        until = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ActionError(400, "invalid_request", "until must be an ISO 8601 date-time") from None
    if until.tzinfo is None or until.utcoffset() is None:
        raise ActionError(400, "invalid_request", "until needs a UTC offset (Z or +hh:mm)")
    return until


def snooze_until(body, now: datetime) -> datetime:
    """The end of a snooze from {"until": …} or {"duration": …} (exactly one), within
    [now + 1 minute, now + 90 days]."""
    if not isinstance(body, dict):
        raise ActionError(400, "invalid_request", "body must be a JSON object")
    given = [k for k in ("until", "duration") if k in body]
    if len(given) != 1:
        raise ActionError(400, "invalid_request", "give exactly one of until or duration")
    if given[0] == "until":
        until = parse_until(body["until"])
    else:
        until = now + parse_duration(body["duration"])
    if until < now + MIN_SNOOZE:
        raise ActionError(400, "invalid_request", "a snooze must end at least a minute from now")
    if until > now + MAX_SNOOZE:
        raise ActionError(400, "invalid_request", f"a snooze lasts at most {MAX_SNOOZE.days} days")
    return until


def act_on_finding(user, finding_id: int, action: str, now: datetime, body=None) -> Finding:
    """Apply `action` to a finding `user` may see. Raises Finding.DoesNotExist when the finding
    does not exist or is not visible, ActionError for invalid input or a resolved finding.
    Acknowledging an acknowledged finding (or unacknowledging one that is not) changes nothing.
    """
    if action not in ACTIONS:
        raise ActionError(400, "invalid_request", "unknown action")
    if not 0 < finding_id <= MAX_ID:
        raise Finding.DoesNotExist
    finding = Finding.objects.visible_to(user).select_related("machine").get(pk=finding_id)
    until = snooze_until(body, now) if action == "snooze" else None
    if finding.state != Finding.State.OPEN:
        raise ActionError(409, "conflict", "the finding is resolved")
    if action == "acknowledge" and finding.acknowledged_at is None:
        acknowledge(finding, user, now)
    elif action == "unacknowledge" and finding.acknowledged_at is not None:
        unacknowledge(finding, user, now)
    elif until is not None:
        snooze(finding, until, user, now)
    return finding
