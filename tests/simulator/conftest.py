"""Helpers: generate one machine's samples for a forced scenario without touching the database."""

from __future__ import annotations

import pytest

from apps.simulator.fleet import build_machine
from apps.simulator.reports import MachineSim

END = 1_795_430_400.0  # 2026-11-24T00:00:00Z, a Monday midnight UTC
TEAMS = ["Payments", "Platform"]


def simulate(force, hours=6.0, index=0, seed=11, end=END):
    spec = build_machine(seed, index, TEAMS, force=list(force))
    sim = MachineSim(spec)
    return spec, sim.samples(end - hours * 3600, end)


def main_procs(spec, samples):
    """(sample, process) pairs of the machine's main gopls slot's processes."""
    main_project = spec.slots[0].project
    return [
        (s, p)
        for s in samples
        for p in s["gopls"]
        if p["projects"][0]["module"] == main_project and p["editor"]["kind"] != "none"
    ]


@pytest.fixture
def sim():
    return simulate
