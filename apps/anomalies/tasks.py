"""Celery tasks: thin, idempotent wrappers taking IDs; the fleet pass fans out bounded chunks."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import group, shared_task
from django.utils import timezone

from apps.anomalies import conf
from apps.anomalies.evaluation import chunks, evaluate_fleet_rules, evaluate_machines
from apps.anomalies.loader import active_machine_ids

log = logging.getLogger(__name__)


def _at(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else timezone.now()


@shared_task(ignore_result=True)
def evaluate_chunk_task(
    machine_ids: list[int], now_iso: str | None = None, long_window: bool = True
) -> None:
    """Evaluate one bounded chunk of machines (idempotent: a rerun adds nothing)."""
    evaluate_machines(machine_ids, _at(now_iso), long_window=long_window)


@shared_task(ignore_result=True)
def evaluate_machine_task(machine_pk: int) -> None:
    evaluate_machines([machine_pk], timezone.now())


@shared_task(ignore_result=True)
def evaluate_fleet_rules_task(now_iso: str | None = None) -> None:
    evaluate_fleet_rules(_at(now_iso))


def plan_fleet_pass(now: datetime) -> list[tuple[list[int], bool]]:
    """The chunks of one beat pass: (machine ids, long_window). Every machine gets the
    every-minute rules; a rotating 1/DETECTION_TREND_EVERY of them also gets the long-window
    (trend) rules, so each machine's trends are read every N minutes."""
    ids = active_machine_ids(now)
    every = max(1, int(conf.get("DETECTION_TREND_EVERY")))
    turn = int(now.timestamp() // 60) % every
    size = int(conf.get("DETECTION_CHUNK_SIZE"))
    long_ids = [pk for pk in ids if pk % every == turn]
    short_ids = [pk for pk in ids if pk % every != turn]
    return [(part, True) for part in chunks(long_ids, size)] + [
        (part, False) for part in chunks(short_ids, size)
    ]


@shared_task(ignore_result=True)
def evaluate_fleet_task() -> int:
    """Beat entry: fan out one task per chunk of active machines, plus the fleet rules."""
    now = timezone.now()
    now_iso = now.isoformat()
    parts = plan_fleet_pass(now)
    group(evaluate_chunk_task.s(part, now_iso, flag) for part, flag in parts).apply_async()
    evaluate_fleet_rules_task.delay(now_iso)
    log.info("fleet pass: %d machines in %d chunks", sum(len(p) for p, _ in parts), len(parts))
    return len(parts)


def evaluate_after_ingest(machine_pk: int, result, **kwargs) -> None:
    """report_stored receiver: a sample that crossed a hard line (an OOM kill) is evaluated now."""
    if getattr(result, "oom_kills", False):
        evaluate_machine_task.delay(machine_pk)
