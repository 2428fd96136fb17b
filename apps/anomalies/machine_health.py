"""The stored health level of machines: kept current by evaluation and finding changes.

A machine's level is the worst severity of its open, unsnoozed findings (info counts as
healthy): a live reading without a finding never sets it (`apps.anomalies.health`). The
evaluation pass calls `refresh_health` for each chunk it evaluated; a finding that opens,
reopens, changes severity, resolves or is snoozed refreshes its machine at once. Only rows
whose level changed are written, so the index on the level costs nothing in the steady state.
"offline" is never stored: readers derive it from last_seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from apps.anomalies.health import OK, worst
from apps.anomalies.models import Finding, FindingEvent
from apps.fleet.models import Machine

# Finding events after which the machine's level may differ.
LEVEL_EVENTS = {
    FindingEvent.Kind.OPENED,
    FindingEvent.Kind.REOPENED,
    FindingEvent.Kind.ESCALATED,
    FindingEvent.Kind.DEESCALATED,
    FindingEvent.Kind.RESOLVED,
    FindingEvent.Kind.SNOOZED,
}
BATCH = 2000
_deferred: ContextVar[bool] = ContextVar("machine_health_deferred", default=False)


@contextmanager
def deferred_refresh() -> Iterator[None]:
    """Within it, finding events do not refresh their machine one at a time: the caller (the
    evaluation of a chunk) refreshes every machine it evaluated once, at the end."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


def finding_levels(machine_ids: Iterable[int], now: datetime) -> dict[int, str]:
    """Worst open, unsnoozed warning or critical finding per machine pk."""
    out: dict[int, str] = {}
    rows = (
        Finding.objects.open()
        .not_snoozed(now)
        .filter(machine_id__in=list(machine_ids), severity__in=("warning", "critical"))
        .values_list("machine_id", "severity")
    )
    for machine_id, severity in rows:
        out[machine_id] = worst(out.get(machine_id, OK), severity)
    return out


def refresh_health(machine_ids: Iterable[int], now: datetime | None = None) -> int:
    """Recompute and store the level of some machines; returns how many changed."""
    now = now or timezone.now()
    ids = list(machine_ids)
    changed = 0
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        levels = finding_levels(part, now)
        moves: dict[str, list[int]] = {}
        rows = Machine.objects.filter(pk__in=part).values_list("pk", "health")
        for pk, old in rows:
            level = levels.get(pk, OK)
            if level != old:
                moves.setdefault(level, []).append(pk)
        for level, pks in moves.items():
            changed += Machine.objects.filter(pk__in=pks).update(
                health=level, health_changed_at=now
            )
    return changed


@receiver(post_save, sender=FindingEvent, dispatch_uid="machine_health_on_finding_event")
def _on_finding_event(sender, instance: FindingEvent, created: bool, **kwargs) -> None:
    if not created or instance.kind not in LEVEL_EVENTS or _deferred.get():
        return
    machine_id = instance.finding.machine_id  # the finding is cached on a new event
    transaction.on_commit(lambda: refresh_health([machine_id], instance.at))
