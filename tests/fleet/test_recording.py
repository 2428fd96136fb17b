"""Lifetimes, projects and inventory history recorded from uploads."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from apps.fleet.models import GoplsProcess, InventoryChange, InventoryItem, MachineProject, Project
from apps.ingest.services import ingest_report
from tests.factories import iso, make_report


def upload_at(machine, start: datetime, n: int = 4):
    report = make_report(n, start=start, sent_at=start + timedelta(seconds=15 * n))
    return ingest_report(machine, report, received_at=start + timedelta(seconds=15 * n))


@pytest.mark.django_db(transaction=True)
def test_one_lifetime_spans_uploads_and_its_last_seen_moves_forward(enrolled):
    machine, _ = enrolled
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    for minute in range(3):  # the 2nd and 3rd uploads take the cached fast path
        upload_at(machine, t0 + timedelta(minutes=minute))
    process = GoplsProcess.objects.get(machine=machine)
    assert process.first_seen == t0
    assert process.last_seen == t0 + timedelta(minutes=2, seconds=45)
    assert process.project.module_path == "github.com/yuin/goldmark"


@pytest.mark.django_db
def test_a_restart_is_a_new_lifetime(enrolled):
    machine, _ = enrolled
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    upload_at(machine, t0)
    report = make_report(2, start=t0 + timedelta(minutes=5), sent_at=t0 + timedelta(minutes=6))
    for sample in report["samples"]:
        sample["gopls"][0]["pid"] = 99
        sample["gopls"][0]["start_time"] = iso(t0 + timedelta(minutes=4))
    ingest_report(machine, report, received_at=t0 + timedelta(minutes=6))
    assert GoplsProcess.objects.filter(machine=machine).count() == 2
    assert MachineProject.objects.filter(machine=machine).count() == 1
    assert Project.objects.count() == 1


@pytest.mark.django_db
def test_inventory_keeps_current_state_and_a_history_of_changes(enrolled, example_report):
    machine, _ = enrolled
    ingest_report(machine, example_report)
    again = copy.deepcopy(example_report)
    for sample in again["samples"]:
        sample["id"] += "-2"
    ingest_report(machine, again)  # same inventory: no new history
    assert InventoryChange.objects.filter(machine=machine).count() == len(
        [k for k in example_report["inventory"] if k != "collected_at"]
    )
    changed = copy.deepcopy(again)
    for sample in changed["samples"]:
        sample["id"] += "-3"
    changed["inventory"] = {"tools": {"go": "go1.24.0", "gopls": "v0.18.1"}}
    ingest_report(machine, changed)
    current = InventoryItem.objects.get(machine=machine, section="tools")
    assert current.value["gopls"] == "v0.18.1"
    change = InventoryChange.objects.filter(machine=machine, section="tools").first()
    assert change.old_value["gopls"] == "v0.16.2"
    assert change.new_value["gopls"] == "v0.18.1"
    assert (
        InventoryItem.objects.get(machine=machine, section="go_env").value["GOFLAGS"] == "-mod=mod"
    )
