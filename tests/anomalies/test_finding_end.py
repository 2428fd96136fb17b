"""Findings end when the problem ends: a leak finding about a gopls that exited resolves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.evaluation import evaluate_fleet, evaluate_machines
from apps.anomalies.models import Finding
from apps.ingest.services import ingest_report
from tests.factories import iso, make_report

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
MB = 1_000_000


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6
    settings.DETECTION_RESOLVE_AFTER_S = 600
    settings.DETECTION_REQUEST_PROFILES = False


def run(machine, pid: int, start: datetime, end: datetime, memory, step=60, first=None):
    """Samples of one gopls lifetime (pid, started at `start`) from `first` (default: start)
    to `end`; memory(hours since start) → bytes of RSS and HeapInuse."""
    at = first or start
    while at < end:
        n = min(30, int((end - at).total_seconds() // step) + 1)
        report = make_report(n, start=at, step_s=step, sent_at=at + timedelta(seconds=step * n))
        for k, s in enumerate(report["samples"]):
            g = s["gopls"][0]
            g["pid"], g["start_time"] = pid, iso(start)
            h = (at - start).total_seconds() / 3600 + k * step / 3600
            g["rss_bytes"] = int(memory(h) * 1.3)
            g["debug"]["heap_inuse_bytes"] = int(memory(h))
        ingest_report(machine, report, received_at=at + timedelta(seconds=step * n))
        at += timedelta(seconds=step * n)


def leaking(h):  # steady 400 MB for 20 minutes, then +200 MB/h
    return 400 * MB + max(0.0, h - 1 / 3) * 200 * MB


def steady(h):
    return 350 * MB + (h % 0.1) * 10 * MB


def leak_findings():
    return list(Finding.objects.filter(rule_id="gopls_memory_leak").order_by("pk"))


def test_restarting_a_leaking_gopls_resolves_its_finding_and_it_does_not_reopen(enrolled):
    machine, _ = enrolled
    leak_end = T0 + timedelta(hours=3)
    run(machine, 111, T0, leak_end, leaking)
    evaluate_fleet(leak_end)
    (finding,) = leak_findings()
    assert finding.state == "open"
    assert finding.subject == f"gopls:111@{int(T0.timestamp())}"

    restart = leak_end + timedelta(minutes=1)
    run(machine, 222, restart, restart + timedelta(minutes=40), steady)
    seen = restart + timedelta(minutes=5)  # the first evaluation that sees the new lifetime
    evaluate_fleet(seen)
    finding.refresh_from_db()
    assert finding.state == "open"
    assert finding.clear_since == seen
    evaluate_fleet(seen + timedelta(minutes=5))
    evaluate_fleet(seen + timedelta(minutes=10))  # one resolve delay (600 s) after
    finding.refresh_from_db()
    assert finding.state == "resolved"
    assert finding.resolved_at == seen + timedelta(minutes=10)
    # the old lifetime's leak is still in the 6-hour window: it must not come back
    for minutes in (15, 20, 25, 30):
        evaluate_fleet(seen + timedelta(minutes=minutes))
    assert [f.state for f in leak_findings()] == ["resolved"]
    assert "reopened" not in set(finding.events.values_list("kind", flat=True))


def test_a_gopls_that_keeps_leaking_keeps_its_finding(enrolled):
    machine, _ = enrolled
    end = T0 + timedelta(hours=3, minutes=40)
    run(machine, 111, T0, end, leaking)
    for minutes in (0, 5, 10, 15, 20):
        evaluate_fleet(T0 + timedelta(hours=3, minutes=minutes))
    (finding,) = leak_findings()
    assert finding.state == "open"
    assert finding.clear_since is None


def test_the_every_minute_pass_clears_a_gone_lifetime_too(enrolled):
    """The short pass does not run the leak rule, but a finding about a lifetime that has
    ended clears in it as well, so the restart is seen within a minute."""
    machine, _ = enrolled
    leak_end = T0 + timedelta(hours=3)
    run(machine, 111, T0, leak_end, leaking)
    evaluate_fleet(leak_end)
    restart = leak_end + timedelta(minutes=1)
    run(machine, 222, restart, restart + timedelta(minutes=20), steady)
    seen = restart + timedelta(minutes=3)
    evaluate_machines([machine.pk], seen, long_window=False)
    evaluate_machines([machine.pk], seen + timedelta(minutes=10), long_window=False)
    (finding,) = leak_findings()
    assert finding.state == "resolved"


def test_a_silent_machine_does_not_declare_its_gopls_gone(enrolled):
    """No newer sample says the process ended: its finding stays until the rule says so."""
    machine, _ = enrolled
    leak_end = T0 + timedelta(hours=3)
    run(machine, 111, T0, leak_end, leaking)
    evaluate_fleet(leak_end)
    evaluate_machines([machine.pk], leak_end + timedelta(minutes=2), long_window=False)
    (finding,) = leak_findings()
    assert finding.clear_since is None
