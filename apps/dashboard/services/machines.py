"""The machine list behind every drill-down: fleet filters plus health, visible machines only."""

from __future__ import annotations

from datetime import datetime

from django.core.paginator import Paginator

from apps.dashboard.filters import FleetFilter
from apps.dashboard.services.fleet import fleet_aggregates
from apps.dashboard.services.snapshots import load_snapshots
from apps.fleet.models import Machine

PAGE_SIZE = 100


def machine_list(user, flt: FleetFilter, now: datetime, page: str | int = 1) -> dict:
    """Machines matching the filter: how many fleet-wide, and a page of those the user may open.

    The ranking (health, then gopls size) comes from the cached fleet aggregates, so a
    drill-down loads full snapshots only for the 100 machines of the page it shows.
    """
    ranked = fleet_aggregates(flt.with_(health=""), now)["ranked"]
    if flt.health:
        ranked = [row for row in ranked if row[1] == flt.health]
    fleet_count = len(ranked)
    if not (user.is_staff or user.is_superuser):
        allowed = set(Machine.objects.visible_to(user).values_list("pk", flat=True))
        ranked = [row for row in ranked if row[0] in allowed]
    current = Paginator(ranked, PAGE_SIZE).get_page(page)
    pks = [row[0] for row in current.object_list]
    snaps = {s.pk: s for s in load_snapshots(Machine.objects.filter(pk__in=pks), now)}
    return {
        "fleet_count": fleet_count,
        "page": current,
        "machines": [snaps[pk] for pk in pks if pk in snaps],
        "visible_count": len(ranked),
    }
