"""The one-statement write (PostgreSQL) stores exactly what the step-by-step transaction stores:
the same uploads through both paths leave the same samples, lifetimes, projects and machine row."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from apps.fleet.models import GoplsProcess, Machine, MachineProject
from apps.ingest import services
from apps.ingest.services import ingest_report
from apps.metrics.models import GoplsSample, SystemSample
from tests.factories import enroll, iso, make_report

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _plain(report: dict) -> dict:
    """Without inventory and fixes: the sections that keep an upload on the step-by-step path."""
    report = copy.deepcopy(report)
    report.pop("inventory", None)
    report.pop("fixes", None)
    return report


def _scenario() -> list[dict]:
    first = _plain(make_report(4, start=NOW - timedelta(minutes=5), sent_at=NOW))
    # A resend of the first upload plus one new sample older than its newest.
    resend = copy.deepcopy(first)
    older = copy.deepcopy(first["samples"][0])
    older["id"] = str(uuid.uuid4())
    older["collected_at"] = iso(NOW - timedelta(minutes=6))
    older["gopls"][0]["rss_bytes"] = 123 * 2**20
    resend["samples"].append(older)
    # A new lifetime whose first sample carries no facts (a later one does), a repeated id, a
    # sample from before the age limit, and a new project.
    later = _plain(make_report(3, start=NOW - timedelta(minutes=2), sent_at=NOW))
    for sample in later["samples"]:
        proc = sample["gopls"][0]
        proc["pid"] = 4242
        proc["start_time"] = iso(NOW - timedelta(minutes=3))
        proc["projects"] = [{"module": "example.com/other", "root": "/src/other"}]
    bare = later["samples"][0]["gopls"][0]
    for key in ("exe", "argv", "version", "projects"):
        bare.pop(key, None)
    later["samples"].append(copy.deepcopy(later["samples"][1]))
    ancient = copy.deepcopy(later["samples"][2])
    ancient["id"] = str(uuid.uuid4())
    ancient["collected_at"] = iso(NOW - timedelta(days=400))
    later["samples"].append(ancient)
    # Clock skew: every time shifted by ten minutes.
    skewed = _plain(
        make_report(2, start=NOW + timedelta(minutes=9), sent_at=NOW + timedelta(minutes=10))
    )
    # Integer fields sent as integral floats (JSON allows 16000000000.0 for an integer).
    floats = _plain(make_report(2, start=NOW + timedelta(minutes=1), sent_at=NOW))
    for sample in floats["samples"]:
        sample["system"]["mem_available_bytes"] = 16e9
        sample["gopls"][0]["rss_bytes"] = 5e8
    return [first, resend, later, skewed, copy.deepcopy(skewed), floats]


def _state(machine: Machine) -> dict:
    machine.refresh_from_db()
    lifetimes = {
        p.pk: (
            p.pid,
            p.start_time,
            p.first_seen,
            p.last_seen,
            p.exe,
            p.version,
            p.argv,
            p.project.module_path if p.project_id else None,
        )
        for p in GoplsProcess.objects.filter(machine=machine).select_related("project")
    }
    system = sorted(
        (
            s.sample_uid,
            s.collected_at,
            s.ts,
            s.clock_skew_s,
            s.mem_available_bytes,
            s.gopls_count,
            s.gopls_rss_bytes,
            s.detail,
        )
        for s in SystemSample.objects.filter(machine=machine)
    )
    gopls = sorted(
        (
            lifetimes[g.process_id][:2],
            g.collected_at,
            g.ts,
            g.rss_bytes,
            g.heap_inuse_bytes,
            g.goroutines,
            g.completion_p95_ms,
            g.detail,
        )
        for g in GoplsSample.objects.filter(machine=machine)
    )
    links = sorted(
        (m.project.module_path, m.root)
        for m in MachineProject.objects.filter(machine=machine).select_related("project")
    )
    return {
        "machine": (
            machine.last_sample_at,
            machine.latest,
            machine.clock_skew_s,
            machine.agent_version,
            machine.hostname,
            machine.rate_tokens,
        ),
        "lifetimes": sorted(lifetimes.values()),
        "system": system,
        "gopls": gopls,
        "links": links,
    }


def _run(machine, reports) -> list[tuple]:
    out = []
    for i, report in enumerate(reports):
        received = NOW + timedelta(seconds=30 * i)
        result = ingest_report(machine, copy.deepcopy(report), received_at=received)
        out.append(
            (
                result.accepted,
                result.duplicates,
                result.rejected,
                result.clock_skew_s,
                result.oldest_new_ts,
                result.newest_new_ts,
            )
        )
        machine.refresh_from_db()
    return out


def test_both_write_paths_store_the_same(monkeypatch):
    reports = _scenario()
    one, _ = enroll(machine_id="one-statement")
    results_one = _run(one, reports)
    monkeypatch.setattr(services, "_needs_transaction", lambda payload: True)
    steps, _ = enroll(machine_id="step-by-step")
    results_steps = _run(steps, reports)
    assert results_one == results_steps
    assert results_one[1][:2] == (1, 4)  # the older sample is new, the four are duplicates
    assert results_one[2][2] == 1  # the ancient sample is refused
    state_one, state_steps = _state(one), _state(steps)
    for part in state_one:
        assert state_one[part] == state_steps[part], part
    # The resend's older sample did not become the newest; the skewed upload's samples did.
    assert state_one["machine"][0] == max(s[2] for s in state_one["system"])
    assert [lt[7] for lt in state_one["lifetimes"] if lt[0] == 4242] == ["example.com/other"]
    assert [type(s[4]) for s in state_one["system"] if s[4] == 16 * 10**9] == [int, int]
    assert [type(g[3]) for g in state_one["gopls"] if g[3] == 5 * 10**8] == [int, int]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path")
def test_an_upload_is_one_statement_on_postgresql(django_assert_num_queries):
    machine, _ = enroll()
    report = _plain(make_report(4))
    ingest_report(machine, report)  # the lifetime starts: its project is linked
    machine.refresh_from_db()
    with django_assert_num_queries(1):
        result = ingest_report(machine, _plain(make_report(4)))
    assert result.accepted == 4


def test_a_float_in_an_integer_column_is_stored_as_postgresql_would_cast_it():
    from apps.ingest.write_sql import _as_integer

    assert [_as_integer(v) for v in (10.0, 2.5, -2.5, 2.4, -0.0)] == [10, 3, -3, 2, 0]
    assert type(_as_integer(16e9)) is int
