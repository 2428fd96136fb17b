"""One storage maintenance pass: pending rollups, recent rollups, compaction, rollup
compaction, retention.

`python manage.py maintain_storage` runs it once; beat runs the same steps on their own
schedules (rollups every minute, compaction every 10 minutes, rollup compaction hourly,
retention daily). Every step is idempotent, so a pass interrupted anywhere is completed by the
next one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from apps.metrics.chunks.rollup_store import compact_rollups
from apps.metrics.chunks.store import compact
from apps.metrics.pending import roll_up_all_pending
from apps.metrics.retention import prune
from apps.metrics.rollups import roll_up_hours, roll_up_raw

RECENT = timedelta(minutes=15)


def compact_after() -> timedelta:
    return timedelta(hours=settings.COMPACT_AFTER_HOURS)


def run_compaction(now: datetime) -> dict[str, int]:
    """Compact what is old enough (each hour's 5-minute and hourly rollups are recomputed in
    its own transaction, so a run killed half-way leaves no hour without them)."""
    return compact(now, compact_after())


def maintain(now: datetime) -> dict[str, object]:
    rolled_pending = roll_up_all_pending()
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)
    compacted = run_compaction(now)
    rollups = compact_rollups(now)
    pruned = prune(now)
    return {
        "pending_rollups": rolled_pending,
        "compaction": compacted,
        "rollup_compaction": rollups,
        "retention": pruned,
    }
