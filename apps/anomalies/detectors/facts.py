"""Pure helpers the rules share: versions, GOMEMLIMIT syntax, a process's memory ceiling."""

from __future__ import annotations

import math

from apps.anomalies import suggest
from apps.anomalies.detectors.gomemlimit import read_gomemlimit
from apps.common import shapes

GIB = 1024**3
MIB = 1024**2


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """'v0.16.2' → (0, 16, 2), strictly (shapes.parse_version): agent text that is not
    vMAJOR.MINOR.PATCH[-pre] is unknown, never compared or substituted."""
    return shapes.parse_version(text)


def format_version(version: tuple[int, int, int] | None) -> str:
    return "v{}.{}.{}".format(*version) if version else "unknown"


def gopls_version(version: str, version_source: str = "") -> tuple[tuple | None, bool]:
    """(version, estimated). A (devel) build is placed by the x/tools version it was built from:
    x/tools 0.5.0 is about gopls v0.11 (docs/facts.md §0) and x/tools v0.1.x about v0.8, so any
    x/tools before v0.9 predates the v0.12 redesign."""
    parsed = parse_version(version)
    if parsed:
        return parsed, False
    if version not in (shapes.DEVEL, "", None):
        return None, False  # not a version gopls prints: unknown, whatever the source says
    xtools = shapes.xtools_version(version_source)
    if not xtools:
        return None, False
    major, minor = xtools[0], xtools[1]
    if major == 0 and minor < 2:
        return (0, 8, 0), True
    if major == 0 and minor < 5:
        return (0, 10, 0), True
    if major == 0 and minor < 9:
        return (0, 11, 0), True
    return None, False


def go_minor(text: str | None) -> int | None:
    """'go1.23.2' → 23, strictly (shapes.parse_go_version); anything else → None."""
    parsed = shapes.parse_go_version(text)
    return parsed[1] if parsed else None


def gomemlimit_valid(value: str) -> bool:
    """Whether every Go runtime (≥ 1.19) starts with this GOMEMLIMIT (detectors/gomemlimit.py):
    "" and "off" mean no limit; `4GB`, spaces and overflow abort."""
    return read_gomemlimit(value).ok


def gomemlimit_bytes(value: str | None) -> float | None:
    """The limit in bytes; None for no limit ("" / "off" / unset) or a malformed value."""
    limit = read_gomemlimit(value).limit_bytes
    return float(limit) if limit is not None else None


def iec(n: float) -> str:
    """Bytes as a GOMEMLIMIT value with an IEC suffix: whole GiB when possible, else MiB."""
    if n >= GIB and n % GIB == 0:
        return f"{int(n // GIB)}GiB"
    return f"{max(1, int(n // MIB))}MiB"


def human(n: float | None) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "?"
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _hard_candidates(snapshot, process=None) -> list[tuple[float, str]]:
    """The hard memory ceilings that apply: RAM, the WSL VM cap (MemTotal inside the VM) and,
    for a process, its cgroup memory.max."""
    candidates: list[tuple[float, str]] = []
    if snapshot.mem_total_bytes:
        candidates.append((float(snapshot.mem_total_bytes), "ram"))
    cap = snapshot.wsl_cap_bytes()
    if cap:
        candidates.append((cap, "wsl_cap"))
    cg = process.last("cgroup_max") if process is not None else None
    if cg:
        candidates.append((cg, "cgroup"))
    return candidates


def ceiling(snapshot, process=None) -> tuple[float | None, str]:
    """The lowest memory ceiling a gopls process hits: a hard ceiling (RAM, the WSL VM cap,
    cgroup memory.max) or GOMEMLIMIT in its environment (soft: GC thrashes near it)."""
    candidates = _hard_candidates(snapshot, process)
    if process is not None:
        limit = gomemlimit_bytes((process.env or {}).get("GOMEMLIMIT"))
        if limit:
            candidates.append((limit, "gomemlimit"))
    if not candidates:
        return None, ""
    return min(candidates)


def hard_ceiling(snapshot, process=None) -> tuple[float | None, str]:
    """The lowest hard memory ceiling of a gopls process: RAM, the WSL VM cap or cgroup
    memory.max (not GOMEMLIMIT, which is soft and what a suggestion replaces)."""
    candidates = _hard_candidates(snapshot, process)
    if not candidates:
        return None, ""
    # On a tie name the most specific ceiling: inside WSL, "RAM" is the VM's cap.
    rank = {"cgroup": 0, "wsl_cap": 1, "ram": 2}
    return min(candidates, key=lambda c: (c[0], rank[c[1]]))


def gomemlimit_suggestion(snapshot, process) -> suggest.Suggestion:
    """The safe GOMEMLIMIT for one gopls process on this machine (suggest.gomemlimit)."""
    top, source = hard_ceiling(snapshot, process)
    return suggest.gomemlimit(suggest.steady_bytes(process), top, source)
