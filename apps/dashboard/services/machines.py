"""The machine list behind every drill-down: fleet filters plus health, visible machines only."""

from __future__ import annotations

from datetime import datetime

from django.core.paginator import Paginator

from apps.dashboard.filters import FleetFilter
from apps.dashboard.services.fleet import fleet_aggregates
from apps.dashboard.services.snapshots import load_snapshots
from apps.fleet.models import Machine

PAGE_SIZE = 100
_RANK = {"critical": 0, "warning": 1, "offline": 2, "ok": 3}


def machine_list(user, flt: FleetFilter, now: datetime, page: str | int = 1) -> dict:
    """Machines matching the filter: how many fleet-wide, and a page of those the user may open."""
    fleet = flt.apply(Machine.objects.active(), now)
    visible = load_snapshots(flt.apply(Machine.objects.visible_to(user).active(), now), now)
    if flt.health:
        visible = [s for s in visible if s.health.level == flt.health]
    if user.is_staff or user.is_superuser:
        fleet_count = len(visible)
    elif flt.health:
        counts = fleet_aggregates(flt.with_(health=""), now)["health"]["tiles"]
        fleet_count = next(t["count"] for t in counts if t["level"] == flt.health)
    else:
        fleet_count = fleet.count()
    visible.sort(key=lambda s: (_RANK[s.health.level], -s.max_rss, s.hostname))
    return {
        "fleet_count": fleet_count,
        "page": Paginator(visible, PAGE_SIZE).get_page(page),
        "visible_count": len(visible),
    }
