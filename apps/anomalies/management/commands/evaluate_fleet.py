"""Run one full detection pass over the fleet synchronously and print what changed."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.anomalies.evaluation import evaluate_fleet
from apps.common.timestamps import parse_timestamp


class Command(BaseCommand):
    help = "Evaluate every active machine once (detectors → findings), synchronously."

    def add_arguments(self, parser):
        parser.add_argument("--at", default=None, help="Evaluate as of this ISO 8601 time.")
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args, **opts):
        try:
            now = parse_timestamp(opts["at"]) if opts["at"] else timezone.now()
        except ValueError as exc:
            raise CommandError(f"--at: {exc}") from exc
        stats = evaluate_fleet(now, opts["chunk_size"]).as_dict()
        if opts["json"]:
            self.stdout.write(json.dumps(stats))
            return
        self.stdout.write(
            f"evaluated {stats['machines']} machines in {stats['chunks']} chunks "
            f"({stats['seconds']} s): {stats['opened']} opened, {stats['reopened']} reopened, "
            f"{stats['changed']} changed, {stats['resolved']} resolved"
        )
