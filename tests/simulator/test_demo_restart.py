"""Re-running the quick start's demo seeding keeps the seeded problems open and adds no tokens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from apps.anomalies.evaluation import evaluate_fleet
from apps.anomalies.models import Finding, FindingEvent
from apps.fleet.models import EnrollmentToken, MachineCredential
from apps.metrics.models import Resolution, SystemRollup, SystemSample
from apps.metrics.rollups import roll_up_hours, roll_up_raw
from apps.metrics.tasks import RECENT
from apps.simulator.runner import RunConfig
from apps.simulator.timeline import lifetimes

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
# The quick start's seeding (scripts/run.sh), on the first 12 machines of its fleet: two leaks,
# a crash loop, pegged CPU, a memory outlier and setting problems among them.
DEMO = {"hours": 6, "seed": 1, "batch": 40, "machines": 12, "progress_every": 1000}
DEMO_FLEET = {"machines": 12, "seed": 1, "end": T0.timestamp()}
SEEDED_RULES = {"gopls_memory_leak", "gopls_crash_loop", "gopls_cpu_pegged"}

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _seed(end: datetime, hours: float = DEMO["hours"]) -> None:
    call_command("simulate_fleet", end=end.isoformat(), **{**DEMO, "hours": hours})


def _beat(now: datetime) -> None:
    """What beat's every-minute rollup pass does at `now`."""
    roll_up_raw(now - RECENT, now)
    roll_up_hours(now - RECENT - timedelta(hours=1), now)


def _open() -> dict[tuple[str, str, str], int]:
    return {
        (f.machine.machine_id, f.rule_id, f.subject): f.pk
        for f in Finding.objects.filter(state="open").select_related("machine")
    }


def _restarted(key: tuple[str, str, str], now: datetime) -> bool:
    """A finding about a gopls the simulated developer has restarted by `now` (the two leaking
    workspaces are restarted half a cycle apart): it resolves with its process (#12.15)."""
    machine_id, _rule, subject = key
    if not subject.startswith("gopls:"):
        return False
    pid, started = (int(x) for x in subject.removeprefix("gopls:").split("@"))
    spec = next(s for s in RunConfig(**DEMO_FLEET).fleet() if s.machine_id == machine_id)
    t = now.timestamp()
    lives = [lt for s in spec.slots for lt in lifetimes(spec, s, started - 60, t)]
    return any(lt.pid == pid and lt.end <= t for lt in lives)


def _still_open(first: dict, when: str, at: datetime) -> None:
    kept = {k: pk for k, pk in first.items() if not _restarted(k, at)}
    assert len(kept) >= len(first) - 2, when  # at most one leaking gopls restarted in 75 min
    now = _open()
    assert {k: now.get(k) for k in kept} == kept, when  # the very same findings, open
    resolved = FindingEvent.objects.filter(kind="resolved", finding_id__in=kept.values())
    assert not resolved.exists(), when
    leaks = {m for m, rule, _ in now if rule == "gopls_memory_leak"}
    assert leaks == {"sim-1-00002", "sim-1-00006"}, when  # and both still show a leak


def test_seeding_twice_keeps_the_seeded_findings_open():
    """The quick start: seed 6 hours, one detection pass, live posting with beat's passes for
    an hour, then a restart that seeds the window again. Rollups of the seeded history must
    not depend on the late-rollup bookkeeping: here it rolls up only each machine's first
    upload, as it did in the quick start when its ranges were merged in a per-process cache."""
    _seed(T0)
    roll_up_raw(T0 - timedelta(hours=6), T0 - timedelta(hours=6) + timedelta(minutes=10))
    _beat(T0)
    evaluate_fleet(T0)
    first = _open()
    rules = {rule for _, rule, _ in first}
    assert rules >= SEEDED_RULES, rules
    leaks = {m for m, rule, _ in first if rule == "gopls_memory_leak"}
    assert leaks == {"sim-1-00002", "sim-1-00006"}
    tokens, credentials = EnrollmentToken.objects.count(), MachineCredential.objects.count()

    for minutes in range(5, 65, 5):  # live: new samples every few minutes, beat, detection
        now = T0 + timedelta(minutes=minutes)
        _seed(now, hours=5 / 60)
        _beat(now)
        evaluate_fleet(now)
        _still_open(first, f"{minutes} minutes into the live demo", now)

    # Stopped, and started again: the whole window is seeded again.
    later = T0 + timedelta(minutes=75)
    _seed(later)
    _beat(later)
    evaluate_fleet(later)
    _still_open(first, "after the restart", later)
    # Idempotent: no new enrollment token, no rotated credential.
    assert EnrollmentToken.objects.count() == tokens
    assert MachineCredential.objects.count() == credentials


def test_a_reseed_continues_history_and_rolls_it_up():
    one = {**DEMO, "machines": 1, "start_index": 2}
    call_command("simulate_fleet", end=T0.isoformat(), **one)
    # Stopped for 9 hours: longer than the 6-hour window, so the gap is filled from the last
    # sample, as agents that kept collecting would deliver it.
    call_command("simulate_fleet", end=(T0 + timedelta(hours=9)).isoformat(), **one)
    assert SystemSample.objects.count() == 15 * 240  # every 15 s from T0 - 6 h to T0 + 9 h
    rollups = SystemRollup.objects.filter(machine__machine_id="sim-1-00002")
    # 5-minute and hourly buckets from T0 - 6 h to T0 + 9 h, the last sample's bucket included
    assert rollups.filter(resolution=Resolution.FIVE_MINUTES).count() == 15 * 12 + 1
    assert rollups.filter(resolution=Resolution.ONE_HOUR).count() == 15 + 1


@pytest.mark.django_db(transaction=True)
def test_restarting_live_posting_keeps_one_live_token_per_team(live_server):
    live = {
        "machines": 2,
        "hours": 0.01,
        "seed": 3,
        "interval": 1,
        "batch": 2,
        "live": True,
        "server": live_server.url,
        "duration": 1,
        "workers": 2,
        "progress_every": 1000,
    }
    call_command("simulate_fleet", **live)
    call_command("simulate_fleet", **live)
    active = EnrollmentToken.objects.active().filter(label="simulate_fleet --live")
    teams = list(active.values_list("team__name", flat=True))
    assert teams
    assert len(teams) == len(set(teams))  # one per team
    assert EnrollmentToken.objects.filter(label="simulate_fleet --live").count() == 2 * len(teams)
