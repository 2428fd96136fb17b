"""Celery tasks and the beat entry: fan-out in chunks, the cheap every-minute pass, OOM hook."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings as django_settings

from apps.anomalies.evaluation import evaluate_machines
from apps.anomalies.models import Finding
from apps.anomalies.tasks import evaluate_after_ingest, evaluate_fleet_task
from apps.ingest.services import ingest_report
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


def upload_bad_flags(machine, at):
    report = make_report(4, start=at - timedelta(minutes=1), step_s=15, sent_at=at)
    report["inventory"]["editor_settings"][0]["settings"]["go.languageServerFlags"] = [
        "-max-parallel=4"
    ]
    ingest_report(machine, report, received_at=at)


def test_beat_schedules_the_fleet_pass_every_minute_with_expiry():
    entry = django_settings.CELERY_BEAT_SCHEDULE["detection"]
    assert entry["task"] == "apps.anomalies.tasks.evaluate_fleet_task"
    assert entry["options"]["expires"] < 60


def test_the_fleet_task_fans_out_bounded_chunks_over_every_machine(settings):
    settings.DETECTION_CHUNK_SIZE = 2
    now = datetime.now(timezone.utc)
    machines = [enroll()[0] for _ in range(5)]
    for machine in machines:
        upload_bad_flags(machine, now)
    assert evaluate_fleet_task() == 3
    assert Finding.objects.filter(rule_id="gopls_invalid_flags").count() == 5


def test_the_short_pass_leaves_long_window_findings_open(settings):
    settings.DETECTION_RESOLVE_AFTER_S = 0
    machine, _ = enroll()
    now = datetime.now(timezone.utc)
    upload_bad_flags(machine, now)
    finding = Finding.objects.create(
        machine=machine,
        rule_id="gopls_crash_loop",
        subject="gopls_lifetimes",
        severity="critical",
        title="t",
        first_seen=now,
        last_seen=now,
    )
    evaluate_machines([machine.pk], now, long_window=False)
    evaluate_machines([machine.pk], now + timedelta(minutes=1), long_window=False)
    finding.refresh_from_db()
    assert finding.state == "open"
    assert finding.clear_since is None
    evaluate_machines([machine.pk], now + timedelta(minutes=2))
    evaluate_machines([machine.pk], now + timedelta(minutes=3))
    finding.refresh_from_db()
    assert finding.state == "resolved"


def test_the_ingest_hook_evaluates_only_on_an_oom_kill():
    machine, _ = enroll()
    upload_bad_flags(machine, datetime.now(timezone.utc))

    class Result:
        oom_kills = False

    evaluate_after_ingest(machine.pk, Result())
    assert not Finding.objects.exists()
    Result.oom_kills = True
    evaluate_after_ingest(machine.pk, Result())
    assert Finding.objects.filter(rule_id="gopls_invalid_flags").exists()
