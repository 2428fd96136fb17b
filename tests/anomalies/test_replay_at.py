"""evaluate_fleet --at T sees what existed at T: lifetimes, alive processes, windows, inventory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.loader import load_snapshots
from apps.anomalies.models import Finding
from apps.anomalies.thresholds import thresholds
from apps.ingest.services import ingest_report
from tests.factories import iso, make_report

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6
    settings.DETECTION_REQUEST_PROFILES = False


def upload(machine, at, n, *, step=30, procs=(), cpu=None, flags=None):
    """n samples from `at`; procs: [(pid, start)] running in every sample; cpu(t) → CPU %."""
    report = make_report(n, start=at, step_s=step, sent_at=at + timedelta(seconds=step * n))
    template = report["samples"][0]["gopls"][0]
    for k, s in enumerate(report["samples"]):
        ts = at + timedelta(seconds=step * k)
        s["gopls"] = []
        for pid, start in procs:
            g = {**template, "pid": pid, "start_time": iso(start)}
            g["cpu_percent"] = float(cpu(ts)) if cpu else 2.0
            s["gopls"].append(g)
    if flags is not None:
        settings = report["inventory"]["editor_settings"][0]["settings"]
        settings["go.languageServerFlags"] = flags
    received = at + timedelta(seconds=step * n)
    ingest_report(machine, report, received_at=received)


def snapshot(machine, at):
    return load_snapshots([machine.pk], at)[0]


def test_lifetimes_and_alive_are_bounded_by_t(enrolled):
    machine, _ = enrolled
    a, c, b = (101, T0), (303, T0), (202, T0 + timedelta(hours=1, minutes=30))
    upload(machine, T0, 80, procs=[a, c])  # until T0+40 min both run
    upload(machine, T0 + timedelta(minutes=40), 100, procs=[a])  # c has exited
    upload(machine, T0 + timedelta(minutes=90), 60, procs=[a, b])  # b starts later
    at_t = snapshot(machine, T0 + timedelta(hours=1))
    assert sorted(p.pid for p in at_t.processes) == [101, 303]  # b did not exist yet
    assert [p.pid for p in at_t.alive()] == [101]
    pa = next(p for p in at_t.processes if p.pid == 101)
    assert pa.last_ts <= (T0 + timedelta(hours=1)).timestamp()
    assert at_t.last_sample_ts <= (T0 + timedelta(hours=1)).timestamp()
    # 30 s after c's last sample it still counts as running; 3 minutes after (with newer
    # samples from the machine that no longer list it) it does not.
    c_last = T0 + timedelta(seconds=30 * 79)
    assert 303 in [p.pid for p in snapshot(machine, c_last + timedelta(seconds=30)).alive()]
    assert 303 not in [p.pid for p in snapshot(machine, c_last + timedelta(minutes=3)).alive()]
    later = snapshot(machine, T0 + timedelta(hours=2))
    assert sorted(p.pid for p in later.alive()) == [101, 202]


def pegged_until(end):
    return lambda ts: 100.0 if ts < end else 1.0


def test_cpu_pegged_is_judged_at_t_even_when_the_process_idles_afterwards(enrolled):
    machine, _ = enrolled
    peg_end = T0 + timedelta(minutes=30)
    upload(machine, T0, 240, procs=[(101, T0)], cpu=pegged_until(peg_end))  # 2 hours
    th = thresholds()

    def pegged(at):
        dets = run_machine_rules(snapshot(machine, at), th, {"gopls_cpu_pegged"})
        return [d for d in dets if d.fired]

    assert pegged(T0 + timedelta(minutes=25))  # pegged at that time
    assert not pegged(T0 + timedelta(minutes=100))  # 70 idle minutes later: not any more
    assert not pegged(T0 + timedelta(minutes=3))  # too short yet at T0+3 min


def test_inventory_is_read_as_it_stood_at_t(enrolled):
    machine, _ = enrolled
    upload(machine, T0, 20, procs=[(101, T0)], flags=["-debug=localhost:0"])
    upload(machine, T0 + timedelta(minutes=30), 20, procs=[(101, T0)], flags=["-max-parallel"])
    upload(machine, T0 + timedelta(minutes=60), 20, procs=[(101, T0)], flags=[])
    th = thresholds()

    def invalid(at):
        dets = run_machine_rules(snapshot(machine, at), th, {"gopls_invalid_flags"})
        return [d.evidence["flags"] for d in dets]

    assert invalid(T0 + timedelta(minutes=20)) == []
    assert invalid(T0 + timedelta(minutes=45)) == [["-max-parallel"]]
    assert invalid(T0 + timedelta(minutes=75)) == []


def test_evaluate_fleet_at_t_opens_what_was_wrong_at_t(enrolled):
    machine, _ = enrolled
    peg_end = T0 + timedelta(minutes=30)
    upload(machine, T0, 240, procs=[(101, T0)], cpu=pegged_until(peg_end))
    at = T0 + timedelta(minutes=25)
    call_command("evaluate_fleet", "--at", iso(at))
    finding = Finding.objects.get(rule_id="gopls_cpu_pegged")
    assert finding.first_seen == at
    assert finding.subject == f"gopls:101@{int(T0.timestamp())}"


def test_a_machine_silent_at_t_is_not_evaluated_at_t_even_if_it_reported_later(enrolled):
    from apps.anomalies.loader import active_machine_ids

    machine, _ = enrolled
    upload(machine, T0, 20, procs=[(101, T0)])  # until T0+10 min
    upload(machine, T0 + timedelta(hours=3), 20, procs=[(101, T0)])  # back 3 hours later
    assert active_machine_ids(T0 + timedelta(minutes=20)) == [machine.pk]
    assert active_machine_ids(T0 + timedelta(hours=2)) == []  # silent for 110 minutes
    assert active_machine_ids(T0 + timedelta(hours=3, minutes=5)) == [machine.pk]


def test_the_live_pass_keeps_the_current_state_path_while_machines_upload(enrolled):
    """A live pass evaluates at its start while uploads continue: that is not a replay, so
    the summary and current inventory are read (no per-machine history queries)."""
    from django.utils import timezone

    from apps.anomalies.replay import in_the_past

    machine, _ = enrolled
    now = timezone.now()
    rows = [(machine.pk, now + timedelta(seconds=20))]
    assert in_the_past(rows, now) == set()
    assert in_the_past(rows, now - timedelta(hours=1)) == {machine.pk}
