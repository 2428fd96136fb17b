"""Pure health classification of a machine: its open findings set the level; live readings
of its newest-sample summary are shown beside it (HEURISTIC thresholds).

A machine is Critical or Warning only through an open finding of that severity, which comes with
advice and names the cause in the machine list; a live reading (1 % of RAM free, OOM kills since
boot, little free disk) is context next to the level, never the level itself: the rules
(`oom_kill`, `cache_disk_full`, `gopls_memory_high`, `inotify_*`, `wsl_memory_pressure`…) turn
the lasting ones into findings with advice. `apps.anomalies.machine_health` stores the level on
the machine after each evaluation, and the dashboard reads the stored level. Thresholds follow
the playbooks of docs/facts.md (P1 memory, P6 inotify, P9 disk): proposals from the cited
evidence, not official numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

GIB = 1024**3
OK, WARNING, CRITICAL, OFFLINE = "ok", "warning", "critical", "offline"
LEVELS = (OK, WARNING, CRITICAL, OFFLINE)
LEVEL_LABELS = {OK: "Healthy", WARNING: "Warning", CRITICAL: "Critical", OFFLINE: "Offline"}
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True)
class Signal:
    level: str
    text: str


@dataclass(frozen=True)
class Health:
    level: str
    signals: list[Signal] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LEVEL_LABELS[self.level]


def worst(*levels: str) -> str:
    """The most severe of some ok/warning/critical levels."""
    return max(levels, key=lambda level: _RANK.get(level, 0), default=OK)


def _ratio(used, limit) -> float | None:
    if not isinstance(used, (int, float)) or not isinstance(limit, (int, float)) or limit <= 0:
        return None
    return used / limit


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def memory_signals(latest: dict) -> list[Signal]:
    out: list[Signal] = []
    total = latest.get("wsl_mem_total_bytes") or latest.get("mem_total_bytes")
    for proc in latest.get("gopls") or []:
        if not isinstance(proc, dict):
            continue
        rss = proc.get("rss_bytes")
        if not isinstance(rss, int):
            continue
        share = _ratio(rss, total)
        if share is not None and share > 0.5:
            out.append(Signal(CRITICAL, f"gopls {proc.get('pid')} uses {share:.0%} of RAM"))
        elif rss > 4 * GIB or (share is not None and share > 0.25):
            out.append(Signal(WARNING, f"gopls {proc.get('pid')} RSS {_gib(rss)}"))
    available = _ratio(latest.get("mem_available_bytes"), latest.get("mem_total_bytes"))
    if available is not None and available < 0.05:
        out.append(Signal(CRITICAL, f"only {available:.0%} of memory available"))
    elif available is not None and available < 0.10:
        out.append(Signal(WARNING, f"only {available:.0%} of memory available"))
    if (latest.get("oom_kill_count") or 0) > 0:
        out.append(Signal(CRITICAL, f"{latest['oom_kill_count']} OOM kill(s) since boot"))
    return out


def resource_signals(latest: dict) -> list[Signal]:
    out: list[Signal] = []
    watches = _ratio(latest.get("inotify_watches_used"), latest.get("inotify_watches_max"))
    if watches is not None and watches > 0.95:
        out.append(Signal(CRITICAL, f"inotify watches at {watches:.0%} of the limit"))
    elif watches is not None and watches > 0.80:
        out.append(Signal(WARNING, f"inotify watches at {watches:.0%} of the limit"))
    instances = _ratio(latest.get("inotify_instances_used"), latest.get("inotify_instances_max"))
    if instances is not None and instances > 0.80:
        out.append(Signal(WARNING, f"inotify instances at {instances:.0%} of the limit"))
    free = latest.get("disk_free_min_bytes")
    if isinstance(free, int) and free < 5 * 10**9:
        out.append(Signal(CRITICAL, f"{_gib(free)} free disk"))
    elif isinstance(free, int) and free < 10 * 10**9:
        out.append(Signal(WARNING, f"{_gib(free)} free disk"))
    cache = latest.get("gopls_cache_bytes")
    if isinstance(cache, int) and cache > 3 * GIB:
        out.append(Signal(WARNING, f"gopls cache {_gib(cache)}"))
    return out


def assess(
    latest: dict | None,
    last_seen: datetime | None,
    now: datetime,
    stale_after: timedelta,
    finding_level: str = OK,
) -> Health:
    """Classify one machine: offline when silent, else the worst open finding; the live
    readings come along as signals (worst first) without setting the level."""
    if last_seen is None or now - last_seen > stale_after:
        return Health(OFFLINE, [Signal(OFFLINE, "no report recently")])
    latest = latest or {}
    signals = memory_signals(latest) + resource_signals(latest)
    signals.sort(key=lambda s: -_RANK[s.level])
    return Health(worst(finding_level), signals)
