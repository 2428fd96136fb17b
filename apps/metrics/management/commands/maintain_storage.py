"""`manage.py maintain_storage`: run rollups, compaction and retention once."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.metrics.chunks.maintain import maintain


class Command(BaseCommand):
    help = "Roll up pending and recent samples, compact old raw samples and rollups, prune."

    def handle(self, *args, **options):
        result = maintain(timezone.now())
        compaction = result["compaction"]
        rollups = result["rollup_compaction"]
        self.stdout.write(
            f"pending rollups: {result['pending_rollups']} machines; "
            f"compacted {compaction['hours']} machine hours ({compaction['rows']} raw rows), "
            f"{compaction['skipped_pending']} left raw until rolled up; "
            f"compacted {rollups['periods']} rollup periods ({rollups['rows']} rollup rows); "
            f"retention deleted {sum(result['retention'].values())} rows"
        )
