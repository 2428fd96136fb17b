"""add_channel: create an alert channel for a team, with a catch-all route unless --no-route."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.alerts.models import Channel, Route, Severity
from apps.alerts.targets import check_target
from apps.alerts.transports import TRANSPORTS
from apps.fleet.models import Team


class Command(BaseCommand):
    help = "Add an alert channel: --team T --kind email|webhook|slack|teams|… --target …"

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="Team name or slug.")
        parser.add_argument("--kind", required=True, choices=sorted(Channel.Kind.values))
        parser.add_argument("--target", required=True, help="Address(es) or URL.")
        parser.add_argument("--name", default="")
        parser.add_argument("--secret", default="", help="HMAC key (webhook).")
        parser.add_argument("--min-severity", default=Severity.WARNING, choices=Severity.values)
        parser.add_argument("--no-route", action="store_true", help="Do not add a route.")

    def handle(self, *args, **opts):
        team = (
            Team.objects.filter(name=opts["team"]).first()
            or Team.objects.filter(slug=opts["team"]).first()
        )
        if team is None:
            raise CommandError(f"no team {opts['team']!r}")
        kind, target = opts["kind"], opts["target"].strip()
        if kind not in TRANSPORTS:
            raise CommandError(f"kind {kind!r} is not available here (is apprise installed?)")
        try:
            check_target(kind, target, personal=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        with transaction.atomic():
            channel = Channel.objects.create(
                team=team, kind=kind, target=target, name=opts["name"], secret=opts["secret"]
            )
            if not opts["no_route"]:
                route = Route.objects.create(team=team, min_severity=opts["min_severity"])
                route.channels.add(channel)
        self.stdout.write(f"channel {channel.pk} ({kind}) for team {team.name}")
