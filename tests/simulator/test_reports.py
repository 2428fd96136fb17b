"""Generated reports are valid schema-v1 uploads and reproducible from the seed."""

from __future__ import annotations

import pytest

from apps.ingest.validation import validate_report
from apps.simulator.fleet import build_machine
from apps.simulator.reports import MachineSim, report

END = 1_795_430_400.0  # 2026-11-24T00:00:00Z
TEAMS = ["Payments", "Platform"]


@pytest.mark.parametrize("index", range(24))
def test_every_generated_report_validates_against_schema_v1(index):
    sim = MachineSim(build_machine(7, index, TEAMS))
    samples = sim.samples(END - 2 * 3600, END)
    for i in range(0, len(samples), 60):
        payload = report(sim, samples[i : i + 4], END, first=i == 0)
        assert validate_report(payload) == []


def test_same_seed_gives_identical_samples_and_ids():
    a = MachineSim(build_machine(3, 5, TEAMS)).samples(END - 3600, END)
    b = MachineSim(build_machine(3, 5, TEAMS)).samples(END - 3600, END)
    assert a == b
    assert len({s["id"] for s in a}) == len(a) == 240


def test_overlapping_windows_produce_the_same_samples():
    sim = MachineSim(build_machine(3, 2, TEAMS))
    whole = sim.samples(END - 2 * 3600, END)
    tail = sim.samples(END - 3600, END)
    assert whole[-240:] == tail


@pytest.mark.parametrize("force", [[], ["oom_kill"], ["orphan_gopls"], ["gopls_leak"]])
def test_consecutive_windows_join_seamlessly_across_midnight_and_reboots(force):
    # what --live relies on: a minute at a time gives what one long window gives
    sim = MachineSim(build_machine(9, 1, TEAMS, force=force))
    whole = sim.samples(END - 30 * 3600, END)
    cuts = [END - 30 * 3600, END - 20 * 3600 + 7, END - 3 * 3600 - 41, END]
    pieces = [s for a, b in zip(cuts, cuts[1:]) for s in sim.samples(a, b)]
    assert pieces == whole
