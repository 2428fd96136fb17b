"""Fleet filters (team, project, OS, editor, gopls version, health) parsed from a query string."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.fleet.models import GoplsProcess, Machine, Team

OS_CHOICES = [("linux", "Linux"), ("wsl", "WSL"), ("darwin", "macOS"), ("windows", "Windows")]
HEALTH_CHOICES = [
    ("critical", "Critical"),
    ("warning", "Warning"),
    ("ok", "Healthy"),
    ("offline", "Offline"),
]


@dataclass(frozen=True)
class FleetFilter:
    team: str = ""
    project: str = ""
    os: str = ""
    editor: str = ""
    version: str = ""
    health: str = ""

    @classmethod
    def from_query(cls, query) -> FleetFilter:
        values = {name: str(query.get(name, "")).strip()[:200] for name in cls.__dataclass_fields__}
        if values["os"] not in dict(OS_CHOICES):
            values["os"] = ""
        if values["health"] not in dict(HEALTH_CHOICES):
            values["health"] = ""
        return cls(**values)

    def resolved(self) -> FleetFilter:
        """The same filter with a team given by its name (`?team=Platform`, as people type it)
        turned into that team's slug, so it filters and shows selected like a chosen one."""
        if not self.team or Team.objects.filter(slug=self.team).exists():
            return self
        slug = Team.objects.filter(name__iexact=self.team).values_list("slug", flat=True).first()
        return replace(self, team=slug) if slug else self

    def with_(self, **changes) -> FleetFilter:
        return replace(self, **changes)

    def query(self, **changes) -> str:
        """URL query string of this filter with some fields changed; empty fields left out."""
        values = {k: v for k, v in asdict(replace(self, **changes)).items() if v}
        return urlencode(values)

    @property
    def active(self) -> bool:
        return any(asdict(self).values())

    def apply(self, qs: QuerySet[Machine], now: datetime | None = None) -> QuerySet[Machine]:
        """Narrow a machine queryset (health is applied by services.fleet.filtered, in SQL)."""
        if self.team:
            qs = qs.filter(team__slug=self.team)
        if self.project:
            qs = qs.filter(machineproject__project__slug=self.project)
        if self.os == "wsl":
            qs = qs.filter(wsl_version__isnull=False)
        elif self.os:
            qs = qs.filter(os=self.os, wsl_version__isnull=True)
        if self.editor or self.version:
            procs = alive_processes(now)
            if self.editor:
                procs = procs.filter(editor=self.editor)
            if self.version:
                procs = procs.filter(version=self.version)
            qs = qs.filter(pk__in=procs.values("machine_id"))
        return qs


def alive_processes(now: datetime | None = None) -> QuerySet[GoplsProcess]:
    """gopls lifetimes seen within the staleness window: the ones running now."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.MACHINE_STALE_AFTER_S)
    return GoplsProcess.objects.filter(last_seen__gte=cutoff)
