"""manage.py create_enrollment_token --team NAME: print a new team enrollment token (last line)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.fleet.services import create_enrollment_token


class Command(BaseCommand):
    help = "Create a team enrollment token (and the team if missing); the token is the last line."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="Team name; created when missing.")
        parser.add_argument("--label", default="", help="What the token is for.")

    def handle(self, *args, **options):
        try:
            token, secret = create_enrollment_token(options["team"], label=options["label"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Enrollment token for team {token.team.name!r} (stored hashed, shown once):"
        )
        self.stdout.write(secret)
