"""The report_stored signal: sent once per upload after commit; a failing receiver is logged
and neither fails the upload nor keeps the other receivers from running."""

from __future__ import annotations

import logging

import pytest

from apps.anomalies.tasks import evaluate_after_ingest
from apps.common.signals import report_stored
from apps.ingest.services import ingest_report
from apps.metrics.tasks import count_ingest, schedule_late_rollup
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


def test_metrics_and_anomalies_receive_it():
    receivers = {entry[1]() for entry in report_stored.receivers}  # (key, weak ref, …)
    assert {schedule_late_rollup, count_ingest, evaluate_after_ingest} <= receivers


def test_it_is_sent_after_commit_with_the_machine_and_result(django_capture_on_commit_callbacks):
    machine, _ = enroll()
    seen = []

    def record(sender, machine_pk, result, **kwargs):
        seen.append((machine_pk, result.accepted))

    report_stored.connect(record, dispatch_uid="test.record")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            ingest_report(machine, make_report(3))
        assert seen == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        report_stored.disconnect(dispatch_uid="test.record")
    assert seen == [(machine.pk, 3)]


def test_a_failing_receiver_is_logged_and_the_others_still_run(
    django_capture_on_commit_callbacks, caplog
):
    machine, _ = enroll()
    seen = []

    def broken(sender, **kwargs):
        raise ConnectionError("redis is down")

    def record(sender, machine_pk, result, **kwargs):
        seen.append(machine_pk)

    report_stored.connect(broken, dispatch_uid="test.broken")
    report_stored.connect(record, dispatch_uid="test.record")
    try:
        with (
            caplog.at_level(logging.ERROR, logger="django.dispatch"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            result = ingest_report(machine, make_report(2))
    finally:
        report_stored.disconnect(dispatch_uid="test.broken")
        report_stored.disconnect(dispatch_uid="test.record")
    assert result.accepted == 2
    assert seen == [machine.pk]
    assert "redis is down" in caplog.text
