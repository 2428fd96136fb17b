"""manage.py create_enrollment_token --team NAME [--expires 7d] [--max-uses 50]: print a new
team enrollment token (last line)."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.fleet.services import create_enrollment_token

_EXPIRES_RE = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_EXPIRY = timedelta(days=3650)


def parse_expiry(value: str) -> timedelta:
    """A lifetime like 90m, 12h, 7d or 2w (at most ten years)."""
    match = _EXPIRES_RE.match(value or "")
    if not match:
        raise CommandError(f"--expires must look like 90m, 12h, 7d or 2w, not {value!r}")
    lifetime = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if not timedelta(0) < lifetime <= MAX_EXPIRY:
        raise CommandError("--expires must be more than 0 and at most 3650d")
    return lifetime


class Command(BaseCommand):
    help = "Create a team enrollment token (and the team if missing); the token is the last line."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="Team name; created when missing.")
        parser.add_argument("--label", default="", help="What the token is for.")
        parser.add_argument(
            "--expires", default=None, help="Lifetime, e.g. 7d, 12h, 2w (default: no expiry)."
        )
        parser.add_argument(
            "--max-uses", type=int, default=None, help="Most enrollments (default: no limit)."
        )

    def handle(self, *args, **options):
        expires_at = None
        if options["expires"] is not None:
            expires_at = timezone.now() + parse_expiry(options["expires"])
        try:
            token, secret = create_enrollment_token(
                options["team"],
                label=options["label"],
                expires_at=expires_at,
                max_uses=options["max_uses"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        limits = []
        if token.expires_at:
            limits.append(f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
        if token.max_uses:
            limits.append(f"at most {token.max_uses} enrollments")
        self.stderr.write(
            f"Enrollment token for team {token.team.name!r}"
            f"{' (' + ', '.join(limits) + ')' if limits else ''} (stored hashed, shown once):"
        )
        self.stdout.write(secret)
