"""Machine-specific values for advice, computed to be safe on that machine, or none with a reason.

Each function returns a Suggestion: a value already validated against the shape its snippet
needs (shapes.py), its size in bytes, and a sentence saying why this value, or why no value is
safe. Advice shows a snippet only with a value; typed fix actions (issue #16) take the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.common.shapes import validate

MIB = 1024**2
GIB = 1024**3

# GOMEMLIMIT is a soft limit: near the live heap the GC runs continuously
# (runtime/debug.SetMemoryLimit; gopls settings.md memoryLimit). Keep 25 % above the heap
# gopls keeps, and stay below the hard ceiling with room for the rest of the process.
MIN_HEAP_RATIO = 1.25
CEILING_SHARE = 0.75
CEILING_GAP = 256 * MIB
# Windows needs memory of its own: leave it a quarter of the host, at least 4 GiB.
WINDOWS_SHARE = 0.25
WINDOWS_MIN = 4 * GIB
STEADY_WINDOW_S = 1800.0

CEILING_WORDS = {
    "ram": "the machine's RAM",
    "wsl_cap": "the WSL VM's memory cap",
    "cgroup": "the cgroup memory.max",
}


@dataclass(frozen=True)
class Suggestion:
    value: str | None
    bytes: int | None
    reason: str

    def facts(self, name: str) -> dict:
        """Advice facts: `name` (the value), `name`_bytes and `name`_reason."""
        return {name: self.value, f"{name}_bytes": self.bytes, f"{name}_reason": self.reason}


def size(n: float) -> str:
    """Bytes as words for reasons: 1.5 GiB, 480 MiB."""
    if n >= GIB:
        return f"{n / GIB:.1f} GiB"
    return f"{max(1, round(n / MIB))} MiB"


def _none(reason: str) -> Suggestion:
    return Suggestion(None, None, reason)


def steady_bytes(proc) -> float | None:
    """The memory a gopls process keeps: the median heap (HeapInuse) over its last half hour,
    or its RSS when the debug server gives no heap (RSS is higher: a safer lower bound)."""
    for name in ("heap", "rss"):
        values = np.asarray(proc.get(name), float)
        t = np.asarray(proc.t, float)
        ok = ~np.isnan(values)
        if not ok.any():
            continue
        recent = ok & (t >= proc.last_ts - STEADY_WINDOW_S)
        chosen = values[recent] if recent.any() else values[ok][-3:]
        return float(np.median(chosen))
    return None


def _go_size(target: float, lower: float, upper: float) -> tuple[int, str] | None:
    """A round GOMEMLIMIT in [lower, upper]: whole GiB from 4 GiB, else MiB in steps of 64."""
    if target >= 4 * GIB:
        whole = math.floor(target / GIB) * GIB
        if lower <= whole <= upper:
            return whole, f"{whole // GIB}GiB"
    stepped = math.floor(target / (64 * MIB)) * 64 * MIB
    if stepped < lower:
        stepped = math.ceil(lower / MIB) * MIB
    if not lower <= stepped <= upper:
        return None
    if stepped % GIB == 0:
        return stepped, f"{stepped // GIB}GiB"
    return stepped, f"{stepped // MIB}MiB"


def gomemlimit(steady: float | None, ceiling: float | None, source: str = "") -> Suggestion:
    """A GOMEMLIMIT ≥ 1.25 × the steady heap and below the hard ceiling (RAM, WSL cap or
    cgroup memory.max) with headroom; none, with the reason, when both cannot hold."""
    where = CEILING_WORDS.get(source, "the memory ceiling")
    if not steady or steady <= 0 or not math.isfinite(steady):
        return _none("gopls's memory has not been measured on this machine yet")
    if not ceiling or ceiling <= 0 or not math.isfinite(ceiling):
        return _none("this machine's memory ceiling is not known")
    lower = MIN_HEAP_RATIO * steady
    upper = min(CEILING_SHARE * ceiling, ceiling - CEILING_GAP)
    if lower > upper:
        return _none(
            f"a safe limit must be at least 1.25 × the {size(steady)} gopls keeps "
            f"({size(lower)}), but {where} ({size(ceiling)}) leaves room only up to "
            f"{size(max(upper, 0))}: shrink the workspace or raise the ceiling instead"
        )
    target = min(upper, max(lower, 2 * steady, 0.5 * ceiling))
    rounded = _go_size(target, lower, upper)
    value = validate("go_byte_size", rounded[1]) if rounded else None
    if value is None:
        return _none(f"no round value fits between {size(lower)} and {size(upper)}")
    n = rounded[0]
    return Suggestion(
        value,
        n,
        f"{value} is {n / steady:.1f} × the {size(steady)} gopls keeps and "
        f"{n / ceiling:.0%} of {where} ({size(ceiling)})",
    )


HOST_UNKNOWN = (
    "devfleet does not know this Windows host's memory (the agent reads it through WSL "
    "interop, which is off or did not answer): choose a value above the VM's current cap that "
    "leaves Windows at least a quarter of the host's memory (Task Manager, Performance, Memory "
    "shows the total)"
)


def wsl_memory(cap: float | None, host: float | None) -> Suggestion:
    """A .wslconfig memory= above the VM's current cap (MemTotal inside it) and below the
    Windows host's RAM with room for Windows; none, with how to choose, otherwise."""
    if not host or host <= 0 or not math.isfinite(host):
        return _none(HOST_UNKNOWN)
    if not cap or cap <= 0 or not math.isfinite(cap):
        return _none("the VM's current memory cap has not been measured yet")
    upper = host - max(WINDOWS_MIN, WINDOWS_SHARE * host)
    # MemTotal sits a few percent below the configured memory=, so "above the cap" means
    # above the configured value, not only above MemTotal.
    lower_gb = math.ceil(cap * 1.05 / GIB)
    upper_gb = math.floor(upper / GIB)
    if upper_gb < lower_gb:
        return _none(
            f"the VM's cap ({size(cap)}) already leaves Windows only {size(host - cap)} of the "
            f"host's {size(host)}: shrink the workspace or close other programs in the VM "
            "instead of raising the cap"
        )
    gb = min(upper_gb, max(lower_gb, math.floor(1.5 * cap / GIB)))
    value = validate("wsl_size", f"{gb}GB")
    if value is None:
        return _none("no whole-GB value fits")
    return Suggestion(
        value,
        gb * GIB,
        f"{value} is above the VM's current cap ({size(cap)}) and leaves Windows "
        f"{size(host - gb * GIB)} of the host's {size(host)}",
    )
