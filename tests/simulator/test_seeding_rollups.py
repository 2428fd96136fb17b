"""Seeding (`run_direct`, behind `manage.py simulate_fleet` and the demo) rolls its history
up once, completely, and leaves no pending rollup range behind: the range tasks its late
uploads queued find nothing left to do."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.db.models import Count, Sum

from apps.metrics import tasks
from apps.metrics.models import (
    GoplsRollup,
    GoplsSample,
    PendingRollup,
    Resolution,
    SystemRollup,
    SystemSample,
)
from apps.simulator.runner import RunConfig, run_direct

END = datetime(2026, 11, 23, 12, tzinfo=timezone.utc).timestamp()


def per_key(rows) -> dict:
    return {k: n for k, n in rows}


@pytest.mark.django_db(transaction=True)  # report_stored runs on commit, as in production
def test_seeding_leaves_complete_rollups_and_no_pending_ranges(monkeypatch):
    queued = []  # no worker runs: range tasks stay queued, their ranges pending
    monkeypatch.setattr(
        tasks.roll_up_late_task, "apply_async", lambda args, **kw: queued.append(args)
    )
    run_direct(RunConfig(machines=3, hours=2, seed=1, end=END), write=lambda line: None)
    assert queued, "the backfill is late data: its uploads queued range tasks"
    assert not PendingRollup.objects.exists()

    raw = per_key(
        SystemSample.objects.values("machine_id")
        .annotate(n=Count("id"))
        .values_list("machine_id", "n")
    )
    assert len(raw) == 3
    for resolution in (Resolution.FIVE_MINUTES, Resolution.ONE_HOUR):
        rolled = SystemRollup.objects.filter(resolution=resolution).values("machine_id")
        assert per_key(rolled.annotate(n=Sum("n")).values_list("machine_id", "n")) == raw
        gopls = GoplsRollup.objects.filter(resolution=resolution).values("process_id")
        assert per_key(gopls.annotate(n=Sum("n")).values_list("process_id", "n")) == per_key(
            GoplsSample.objects.values("process_id")
            .annotate(n=Count("id"))
            .values_list("process_id", "n")
        )
    for args in queued:  # the queued tasks find nothing left to do
        tasks.roll_up_late_task.apply(args=args, throw=True)
    assert not PendingRollup.objects.exists()
