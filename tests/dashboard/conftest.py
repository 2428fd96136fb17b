"""Dashboard fixtures: a small fleet ingested through the real path, with a team lead."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import enroll, make_report

GIB = 1024**3


@dataclass
class Fleet:
    bobs: object  # bob's machine, team Platform, healthy, gopls v0.16.2 on goldmark
    carols: object  # carol's machine, team Mobile, critical: huge gopls v0.18.1 on a monorepo
    dave: object  # team lead of Mobile


def ingest(machine, report: dict) -> None:
    """Store a report, then run the evaluation pass over the machine: its findings open and
    set its stored health (live readings alone never do)."""
    from apps.anomalies.evaluation import evaluate_machines
    from apps.ingest.services import ingest_report

    ingest_report(machine, report)
    evaluate_machines([machine.pk])


def big_gopls_report(n: int = 8, **kw) -> dict:
    """A report whose gopls is v0.18.1 on example.com/monorepo using 12 GiB of a 16 GiB box."""
    report = make_report(n, **kw)
    for i, sample in enumerate(report["samples"]):
        proc = sample["gopls"][0]
        proc["rss_bytes"] = 12 * GIB + i * 1024**2
        proc["debug"]["heap_inuse_bytes"] = 9 * GIB
        if "version" in proc:
            proc["version"] = "v0.18.1"
            proc["projects"] = [{"module": "example.com/monorepo", "root": "/src/mono"}]
        proc["pid"] = 4242
        sample["inotify"]["watches_used"] = 190000
    return report


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The fleet overview is cached for 30 s; every test starts from an empty cache."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fleet(alice, bob, carol, django_user_model) -> Fleet:
    from apps.fleet.models import Membership

    bobs, _ = enroll("Platform", owner="bob", hostname="bob-laptop")
    carols, _ = enroll("Mobile", owner="carol", hostname="carol-wsl")
    report = make_report(8)
    report["machine"]["hostname"] = "bob-laptop"
    report["machine"].pop("wsl")
    ingest(bobs, report)
    report = big_gopls_report(8)
    report["machine"]["hostname"] = "carol-wsl"
    ingest(carols, report)
    dave = django_user_model.objects.create_user("dave", "dave@example.com", "pw")
    Membership.objects.create(user=dave, team=carols.team, role="lead")
    bobs.refresh_from_db()
    carols.refresh_from_db()
    return Fleet(bobs=bobs, carols=carols, dave=dave)


def restarted_report(start: datetime, n: int, pid: int, started: datetime) -> dict:
    """n samples 15 s apart from `start` of one gopls lifetime (pid, started)."""
    report = make_report(n, start=start)
    for sample in report["samples"]:
        proc = sample["gopls"][0]
        proc["pid"] = pid
        proc["start_time"] = started.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return copy.deepcopy(report)


def hours_ago(h: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=h)
