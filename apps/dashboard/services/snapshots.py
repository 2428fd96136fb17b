"""Read a page of machines' newest-sample summaries at once, with their stored health.

The level is the stored `Machine.health` (offline when silent); the reasons shown next to it
are the machine's open findings and the live signals of its summary. Only for lists of at
most a page: fleet-wide figures come from `facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from apps.anomalies.health import OFFLINE, Health, Signal, memory_signals, resource_signals
from apps.anomalies.models import Finding
from apps.fleet.models import Machine


@dataclass
class Snapshot:
    pk: int
    machine_id: str
    hostname: str
    team: str
    team_slug: str
    owner_id: int | None
    owner: str
    os: str
    wsl_version: int | None
    last_seen: datetime | None
    latest: dict
    health: Health
    reasons: list[str]

    @property
    def platform(self) -> str:
        return (
            f"WSL{self.wsl_version}"
            if self.wsl_version
            else {"linux": "Linux", "darwin": "macOS", "windows": "Windows"}.get(self.os, self.os)
        )

    @property
    def gopls(self) -> list[dict]:
        return [p for p in self.latest.get("gopls") or [] if isinstance(p, dict)]

    @property
    def max_rss(self) -> int | None:
        """The largest gopls RSS; None when no gopls reports one (shown as a dash)."""
        sizes = [p["rss_bytes"] for p in self.gopls if isinstance(p.get("rss_bytes"), int)]
        return max(sizes, default=None)

    @property
    def versions(self) -> list[str]:
        return sorted({str(p["version"]) for p in self.gopls if p.get("version")})

    @property
    def editors(self) -> list[str]:
        return sorted({str(p["editor"]) for p in self.gopls if p.get("editor")})


def stale_after() -> timedelta:
    return timedelta(seconds=settings.MACHINE_STALE_AFTER_S)


def load_snapshots(qs: QuerySet[Machine], now: datetime) -> list[Snapshot]:
    """One query; `latest` is read as text and parsed with orjson (much faster at fleet scale)."""
    rows = qs.annotate(latest_text=Cast("latest", TextField())).values_list(
        "pk",
        "health",
        "machine_id",
        "hostname",
        "team__name",
        "team__slug",
        "owner_id",
        "owner__username",
        "os",
        "wsl_version",
        "last_seen",
        "latest_text",
    )
    rows = list(rows)
    titles: dict[int, list[str]] = {}
    order = {"critical": 0, "warning": 1, "info": 2}
    findings = (
        Finding.objects.open()
        .not_snoozed(now)
        .filter(machine_id__in=[row[0] for row in rows])
        .exclude(severity="info")
        .values_list("machine_id", "severity", "title")
    )
    for machine_pk, _, title in sorted(findings, key=lambda f: order.get(f[1], 3)):
        titles.setdefault(machine_pk, []).append(title)
    cutoff = now - stale_after()
    out = []
    for pk, level, mid, host, team, slug, owner_id, owner, os_, wsl, seen, text in rows:
        latest = orjson.loads(text) if text else {}
        if not isinstance(latest, dict):
            latest = {}
        if seen is None or seen < cutoff:
            health = Health(OFFLINE, [Signal(OFFLINE, "no report recently")])
        else:
            signals = memory_signals(latest) + resource_signals(latest)
            signals.sort(key=lambda s: s.level != "critical")
            health = Health(level, signals)
        out.append(
            Snapshot(
                pk,
                mid,
                host or mid,
                team,
                slug,
                owner_id,
                owner or "",
                os_,
                wsl,
                seen,
                latest,
                health,
                titles.get(pk, []) + [s.text for s in health.signals],
            )
        )
    return out
