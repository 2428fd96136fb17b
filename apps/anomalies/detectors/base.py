"""Detection results, severities and the rule registry; no ORM, no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SEVERITIES = ("ok", "info", "warning", "critical")


def jsonable(value):
    """Evidence as plain JSON: numpy scalars and arrays to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def worst(severities) -> str:
    return max(severities, key=severity_rank, default="ok")


@dataclass
class Detection:
    """What one rule concluded about one subject.

    fired: the condition is over its firing threshold now. hold: not fired, but not clear
    either (between the clear and the fire thresholds): an open finding stays open (hysteresis).
    evidence holds the figures and the time window, enough to draw the chart; facts are the
    values advice templates use (ceiling, GOMEMLIMIT to suggest, offending flags…).
    """

    rule_id: str
    fired: bool
    severity: str = "ok"
    subject: str = "machine"
    evidence: dict = field(default_factory=dict)
    explanation: str = ""
    hold: bool = False
    facts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.evidence = jsonable(self.evidence)

    @property
    def active(self) -> bool:
        return self.fired or self.hold


@dataclass(frozen=True)
class Rule:
    rule_id: str
    func: Callable
    category: str
    scope: str  # "machine" (one snapshot) or "fleet" (many snapshots)


REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str, *, category: str, scope: str = "machine"):
    """Register `func(snapshot, thresholds) -> list[Detection]` under a rule id."""

    def register(func):
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} registered twice")
        REGISTRY[rule_id] = Rule(rule_id, func, category, scope)
        return func

    return register


def not_fired(rule_id: str, subject: str = "machine") -> Detection:
    return Detection(rule_id=rule_id, fired=False, subject=subject)
