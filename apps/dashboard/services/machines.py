"""The machine list behind every drill-down: fleet filters plus health, visible machines only."""

from __future__ import annotations

from datetime import datetime

from django.core.paginator import Paginator

from apps.dashboard.filters import FleetFilter
from apps.dashboard.services.facts import worst_first
from apps.dashboard.services.fleet import filtered
from apps.dashboard.services.snapshots import load_snapshots
from apps.dashboard.services.visibility import large_enough, sees_everything
from apps.fleet.models import Machine

PAGE_SIZE = 100


def machine_list(user, flt: FleetFilter, now: datetime, page: str | int = 1) -> dict:
    """Machines matching the filter: how many fleet-wide, and a page of those the user may open.

    Filtering and ranking (health, then gopls size) happen in SQL on the stored health level,
    so a drill-down loads full snapshots only for the 100 machines of the page it shows.
    """
    fleet = filtered(flt, now)
    fleet_count = fleet.count()
    mine = fleet
    if not sees_everything(user):
        mine = filtered(flt, now, Machine.objects.visible_to(user).active())
        if not large_enough(fleet_count):
            fleet_count = None  # a group this small is not counted for anyone but staff
    ranked = worst_first(mine, now).values_list("pk", flat=True)
    current = Paginator(ranked, PAGE_SIZE).get_page(page)
    pks = list(current.object_list)
    snaps = {s.pk: s for s in load_snapshots(Machine.objects.filter(pk__in=pks), now)}
    return {
        "fleet_count": fleet_count,
        "page": current,
        "machines": [snaps[pk] for pk in pks if pk in snaps],
        "visible_count": current.paginator.count,
    }
