"""Runs due collectors with error isolation, time budgets and penalty backoff (self-watchdog)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from devfleet_agent.collectors import Collector, CollectorContext, ordered
from devfleet_agent.collectors.base import INVENTORY, CollectorUnsupported

OVERRUNS_BEFORE_BACKOFF = 3
FAILURES_BEFORE_BACKOFF = 3
MAX_PENALTY_CYCLES = 32


@dataclass
class CollectorState:
    next_due: float = 0.0
    overruns: int = 0
    failures: int = 0
    penalties: int = 0
    skip_cycles: int = 0
    unsupported: str | None = None
    last_ms: float = 0.0


@dataclass
class CycleResult:
    sample: dict[str, Any] = field(default_factory=dict)
    inventory: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    durations_ms: dict[str, float] = field(default_factory=dict)
    backed_off: list[str] = field(default_factory=list)
    ran_inventory: bool = False


class Scheduler:
    """One `run_cycle()` per collection tick; a failing or slow collector never stops the rest."""

    def __init__(self, ctx: CollectorContext, collectors: list[Collector] | None = None) -> None:
        self.ctx = ctx
        disabled = set(ctx.config.disabled_collectors)
        self.collectors = [c for c in (collectors or ordered()) if c.name not in disabled]
        self.states = {c.name: CollectorState() for c in self.collectors}

    def run_cycle(self, force_all: bool = False) -> CycleResult:
        result = CycleResult()
        now = self.ctx.monotonic()
        for c in self.collectors:
            st = self.states[c.name]
            if st.unsupported or not c.applies(self.ctx.platform):
                continue
            if not force_all and now < st.next_due:
                continue
            if st.skip_cycles > 0:
                st.skip_cycles -= 1
                result.backed_off.append(c.name)
                continue
            st.next_due = now + c.interval(self.ctx.config)
            self._run_one(c, st, result)
        return result

    def _run_one(self, c: Collector, st: CollectorState, result: CycleResult) -> None:
        t0 = time.perf_counter()
        try:
            fragment = c.func(self.ctx) or {}
            failed = False
        except CollectorUnsupported as exc:
            st.unsupported = str(exc)
            return
        except Exception as exc:  # isolation: any bug in one collector is just an error entry
            fragment = {}
            failed = True
            result.errors.append({"collector": c.name, "kind": "error",
                                  "message": f"{type(exc).__name__}: {exc}"[:2000]})
        elapsed = (time.perf_counter() - t0) * 1000.0
        st.last_ms = elapsed
        result.durations_ms[c.name] = round(elapsed, 3)
        for message in fragment.pop("_errors", []):
            result.errors.append({"collector": c.name, "kind": "error",
                                  "message": str(message)[:2000]})
        target = result.inventory if c.section == INVENTORY else result.sample
        for key, value in fragment.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key].update(value)
            else:
                target[key] = value
        if c.section == INVENTORY:
            result.ran_inventory = True
        st.failures = st.failures + 1 if failed else 0
        if elapsed > c.budget_ms:
            st.overruns += 1
            result.errors.append({"collector": c.name, "kind": "timeout",
                                  "message": f"took {elapsed:.0f} ms, budget {c.budget_ms:.0f} ms"})
        else:
            st.overruns = 0
        if st.overruns >= OVERRUNS_BEFORE_BACKOFF or st.failures >= FAILURES_BEFORE_BACKOFF:
            st.penalties += 1
            st.skip_cycles = min(MAX_PENALTY_CYCLES, 2 ** st.penalties)
            why = "overran its budget" if st.overruns else "failed"
            result.errors.append({
                "collector": c.name, "kind": "backed_off",
                "message": f"{why} {max(st.overruns, st.failures)} times in a row; "
                           f"skipping its next {st.skip_cycles} runs"})
            st.overruns = st.failures = 0
        elif not failed and elapsed <= c.budget_ms:
            st.penalties = max(0, st.penalties - 1) if st.penalties else 0
