"""Machines that made charts lie (issue 13), ingested through the real path, for the chart-JSON
and browser tests: a gap in the samples, 14 gopls, a skewed clock, macOS, no reports."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from apps.anomalies.models import Finding
from tests.dashboard.conftest import ingest
from tests.factories import enroll, iso, make_report

GIB, MIB = 1024**3, 1024**2
HOSTILE = '<a href="https://evil.example">x</a>'


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _upload(machine, start: datetime, n: int, step_s: int = 60, edit=None, started=None) -> None:
    report = make_report(n, start=start, step_s=step_s)
    report["machine"].pop("wsl", None)
    report["machine"]["kernel"] = "6.8.0-45-generic"
    report["machine"]["hostname"] = machine.hostname
    report["inventory"].pop("wsl", None)
    for i, sample in enumerate(report["samples"]):
        sample.pop("wsl", None)
        sample["gopls"][0]["start_time"] = iso(started or start - timedelta(minutes=30))
        if edit:
            edit(i, sample)
    machine.rate_updated_at = None
    ingest(machine, report)


def machine_with_gap(team: str = "Platform"):
    """Two hours of samples, then three hours of nothing (laptop lid shut), then one hour."""
    machine, _ = enroll(team, hostname="gap-laptop")
    now = _now()
    started = now - timedelta(hours=7)  # one gopls lifetime across the gap
    _upload(machine, now - timedelta(hours=6), 120, started=started)
    _upload(machine, now - timedelta(minutes=60), 60, started=started)
    machine.refresh_from_db()
    return machine


def machine_with_many_gopls(n: int = 14, team: str = "Platform"):
    """n gopls at once (one per open module), of different sizes, restarted in the last hour;
    an open finding about one of the small ones."""
    machine, _ = enroll(team, hostname="monorepo-box")
    now = _now()
    start = now - timedelta(minutes=50)

    def many(i: int, sample: dict) -> None:
        base = sample["gopls"][0]
        procs = []
        for k in range(n):
            proc = copy.deepcopy(base)
            proc["pid"] = 30000 + k
            # half started before the window, half restarted inside it, several at once
            later = timedelta(minutes=5 * ((k // 2) % 4))  # four restart moments
            begun = start - timedelta(hours=2) if k % 2 else start + later
            if begun > start + timedelta(minutes=i):
                continue  # not running yet
            proc["start_time"] = iso(begun)
            proc["rss_bytes"] = (300 + 150 * k) * MIB + i * MIB
            proc["projects"] = [{"module": f"example.com/mod{k}", "root": f"/src/mod{k}"}]
            procs.append(proc)
        sample["gopls"] = procs

    _upload(machine, start, 50, edit=many)
    small = machine.gopls_processes.get(pid=30001)
    Finding.objects.create(
        machine=machine,
        rule_id="gopls_memory_leak",
        subject=f"gopls:{small.pid}@{int(small.start_time.timestamp())}",
        severity="warning",
        title="gopls memory keeps growing",
        first_seen=now - timedelta(minutes=30),
        last_seen=now,
        evidence={
            "rss_bytes": 500 * MIB,
            "slope_mb_per_hour": 400.0,
            "hours_to_ceiling": 20.0,
            "headroom_source": "memory runs out (7.8 GiB available)",
            "pid": small.pid,
        },
    )
    machine.refresh_from_db()
    return machine


def machine_with_fast_clock(team: str = "Platform", ahead: timedelta = timedelta(hours=3)):
    """An agent whose clock runs `ahead`: its gopls started 20 minutes ago by the server."""
    machine, _ = enroll(team, hostname="fast-clock")
    now = _now()
    report = make_report(40, start=now - timedelta(minutes=10) + ahead, step_s=15)
    report["sent_at"] = iso(now + ahead)
    for sample in report["samples"]:
        sample["gopls"][0]["start_time"] = iso(now - timedelta(minutes=20) + ahead)
    ingest(machine, report)
    machine.refresh_from_db()
    return machine


def macos_machine(team: str = "Platform"):
    """A Mac: no inotify (a Linux API), no WSL; gopls and caches as anywhere."""
    machine, _ = enroll(team, hostname="mac-mini", os="darwin")
    report = make_report(30, start=_now() - timedelta(minutes=30), step_s=60)
    report["machine"].update(os="darwin", os_version="15.0.1", kernel="24.0.0")
    report["machine"].update(hostname="mac-mini")
    report["machine"].pop("wsl", None)
    report["inventory"].pop("wsl", None)
    for sample in report["samples"]:
        sample.pop("inotify", None)
        sample.pop("wsl", None)
    machine.rate_updated_at = None
    ingest(machine, report)
    machine.refresh_from_db()
    return machine


def silent_machine(team: str = "Platform"):
    """Enrolled, never reported."""
    machine, _ = enroll(team, hostname="never-reported")
    return machine


def hostile_project_machine(team: str = "Platform"):
    """gopls on a module whose path is markup, with a version string that is markup too."""
    machine, _ = enroll(team, hostname="hostile-box")

    def hostile(i: int, sample: dict) -> None:
        proc = sample["gopls"][0]
        proc["projects"] = [{"module": HOSTILE, "root": "/src/x"}]
        proc["version"] = "v0.16.2<b>&x</b>"

    _upload(machine, _now() - timedelta(minutes=20), 20, edit=hostile)
    machine.refresh_from_db()
    return machine
