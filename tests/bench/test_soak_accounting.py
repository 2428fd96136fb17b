"""bench/soak_accounting.py: the soak's arithmetic (the soak itself takes minutes, not in CI)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter

from tests.conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "soak_accounting", REPO_ROOT / "bench/soak_accounting.py"
)
acc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("soak_accounting", acc)  # dataclasses look their module up
_spec.loader.exec_module(acc)


def test_samples_lost_duplicated_and_unexpected_are_counted_separately():
    generated = [("m1", "a"), ("m1", "b"), ("m2", "c"), ("m2", "c")]  # c spooled twice: once
    stored = Counter({("m1", "a"): 1, ("m2", "c"): 3, ("m3", "z"): 1})
    assert acc.sample_figures(generated, stored) == {
        "generated": 3,
        "stored": 2,
        "lost": 1,  # b
        "duplicated": 2,  # c stored three times
        "unexpected": 1,  # z was never generated
    }


def test_notifications_sent_must_arrive_and_unsent_rows_count_as_lost():
    rows = [
        ("k1", "sent"),
        ("k2", "sent"),
        ("k3", "grouped"),  # travelled inside a leader's message
        ("k4", "suppressed"),  # dropped on purpose
        ("k5", "pending"),  # never sent
        ("k6", "sent"),
    ]
    received = ["k1", "k1", "k2", "zz"]  # k1 resent after a kill; k6 never arrived
    figures = acc.notification_figures(rows, received)
    assert figures["expected"] == 3
    assert figures["delivered"] == 2
    assert figures["lost"] == 2  # k6 and k5
    assert figures["duplicate_requests"] == 1
    assert figures["keys_resent"] == 1
    assert figures["unknown_keys"] == 1
    assert figures["by_status"]["sent"] == 3


def test_upload_recovery_waits_for_every_agent_that_failed():
    faults = [acc.Fault(100.0, "pg", 102.0), acc.Fault(200.0, "redis", 201.0)]
    attempts = [
        (99.0, 0, "ok"),
        (101.0, 0, "backoff"),
        (101.5, 1, "backoff"),
        (103.0, 0, "backoff"),
        (104.0, 1, "ok"),
        (110.0, 0, "ok"),
        (205.0, 1, "ok"),
    ]
    first, second = acc.upload_recovery(faults, attempts)
    assert first == {
        "fault": "pg",
        "failed_attempts": 3,
        "agents_affected": 2,
        "all_recovered_s": 10.0,  # agent 0 delivered again at 110
        "first_ok_s": 4.0,
    }
    assert second["failed_attempts"] == 0
    assert second["all_recovered_s"] == 0.0


def test_upload_recovery_is_none_when_an_agent_never_delivers_again():
    faults = [acc.Fault(100.0, "pg", 102.0)]
    assert acc.upload_recovery(faults, [(101.0, 3, "backoff")])[0]["all_recovered_s"] is None


def test_worker_recovery_counts_from_the_last_failure_after_the_fault():
    lines = [
        "[2026-11-23 17:00:00,000: INFO/ForkPoolWorker-1] Task a.b[1f-2e] succeeded in 0.1s: None",
        "[2026-11-23 17:00:05,000: ERROR/ForkPoolWorker-2] Task a.c[3a] raised unexpected: X()",
        "[2026-11-23 17:00:06,500: INFO/MainProcess] Task a.b[4b] received",
        "[2026-11-23 17:00:09,000: INFO/ForkPoolWorker-1] Task a.b[4b] succeeded in 0.1s: None",
    ]
    tasks = acc.parse_task_log(lines)
    assert [ok for _, _, ok in tasks] == [True, False, True]
    at = tasks[0][0] + 2.0  # the fault, two seconds after the first task
    (result,) = acc.worker_recovery([acc.Fault(at, "pg", at + 1)], tasks)
    assert result == {"fault": "pg", "failed_tasks": 1, "tasks_ok_again_s": 7.0}
