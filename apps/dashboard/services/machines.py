"""The machine list behind every drill-down: fleet filters plus health, visible machines only."""

from __future__ import annotations

from datetime import datetime

from django.core.paginator import Paginator

from apps.dashboard.filters import FleetFilter
from apps.dashboard.services.snapshots import load_snapshots
from apps.fleet.models import Machine

PAGE_SIZE = 100
_RANK = {"critical": 0, "warning": 1, "offline": 2, "ok": 3}


def machine_list(user, flt: FleetFilter, now: datetime, page: str | int = 1) -> dict:
    """Machines matching the filter: how many fleet-wide, and a page of those the user may open."""
    fleet = flt.apply(Machine.objects.active(), now)
    if flt.health:
        fleet_count = sum(1 for s in load_snapshots(fleet, now) if s.health.level == flt.health)
    else:
        fleet_count = fleet.count()
    visible = load_snapshots(flt.apply(Machine.objects.visible_to(user).active(), now), now)
    if flt.health:
        visible = [s for s in visible if s.health.level == flt.health]
    visible.sort(key=lambda s: (_RANK[s.health.level], -s.max_rss, s.hostname))
    return {
        "fleet_count": fleet_count,
        "page": Paginator(visible, PAGE_SIZE).get_page(page),
        "visible_count": len(visible),
    }
