"""Problems injected into machines: drawing scenarios, their companions, the ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from apps.simulator.scenarios import SCENARIOS, Scenario


@dataclass
class Problem:
    """One injected problem on one machine: the ground truth detectors are checked against."""

    scenario: str
    params: dict
    caused_by: str | None = None
    onset: str | None = None  # filled in by the generator: first time its signature shows
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "params": self.params,
            "caused_by": self.caused_by,
            "onset": self.onset,
            "in_window": self.onset is not None,
            "expected": self.onset is not None,  # its signature shows in this window
            "may_also_show": list(SCENARIOS[self.scenario].may_also_show),
        }


def assign(rng: np.random.Generator, platform: str, healthy_share: float = 0.6) -> list[Problem]:
    """0 problems for ~60% of machines, else 1 (70%) or 2 primary scenarios plus companions."""
    if rng.random() < healthy_share:
        return []
    wanted = 1 if rng.random() < 0.7 else 2
    chosen: list[Scenario] = []
    for _ in range(10):
        if len(chosen) == wanted:
            break
        taken = {s.group for s in chosen}
        blocked = {g for s in chosen for g in s.blocks}
        pool = [
            s
            for s in SCENARIOS.values()
            if platform in s.platforms
            and s.group not in taken
            and s.group not in blocked
            and not taken.intersection(s.blocks)
        ]
        if not pool:
            break
        weights = np.array([s.weight for s in pool])
        chosen.append(pool[int(rng.choice(len(pool), p=weights / weights.sum()))])
    return expand(rng, [(s.id, s.params(rng)) for s in chosen], platform)


def expand(
    rng: np.random.Generator, picked: list[tuple[str, dict]], platform: str
) -> list[Problem]:
    """Add the companion problems a primary one brings (bad GOMEMLIMIT → crash loop, …)."""
    problems = [Problem(sid, params) for sid, params in picked]
    ids = {p.scenario for p in problems}
    for problem in list(problems):
        scenario = SCENARIOS[problem.scenario]
        for companion in scenario.companions:
            if companion not in ids:
                params = SCENARIOS[companion].params(rng)
                params["cause"] = problem.scenario
                problems.append(Problem(companion, params, caused_by=problem.scenario))
                ids.add(companion)
        if problem.scenario == "crash_loop" and problem.params["cause"] not in ids:
            cause = problem.params["cause"]
            problems.append(Problem(cause, SCENARIOS[cause].params(rng), caused_by=None))
            problem.caused_by = cause
            ids.add(cause)
        if (
            problem.scenario == "oom_kill"
            and platform == "wsl2"
            and "wsl_memory_pressure" not in ids
        ):
            params = SCENARIOS["wsl_memory_pressure"].params(rng)
            problems.append(Problem("wsl_memory_pressure", params, caused_by="oom_kill"))
            ids.add("wsl_memory_pressure")
    return problems


def by_id(problems: list[Problem]) -> dict[str, dict]:
    return {p.scenario: p.params for p in problems}
