"""Developer pages: the machines a person owns, as far as the viewer may see them."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.http import Http404

from apps.dashboard.services.snapshots import Snapshot, load_snapshots
from apps.fleet.models import Machine, Membership

_RANK = {"critical": 0, "warning": 1, "offline": 2, "ok": 3}


def developer_for(viewer, user_id: int):
    """The user whose page `viewer` asks for, or Http404 when the viewer may not see it.

    Platform staff see every developer; team leads see the members of their teams and
    owners of their teams' machines; anyone else only themselves.
    """
    User = get_user_model()
    try:
        person = User.objects.get(pk=user_id, is_active=True)
    except User.DoesNotExist:
        raise Http404("no such developer") from None
    if viewer.pk == person.pk or viewer.is_staff or viewer.is_superuser:
        return person
    lead_teams = Membership.objects.led_team_ids(viewer)
    if (
        Membership.objects.filter(user=person, team_id__in=lead_teams).exists()
        or Machine.objects.filter(owner=person, team_id__in=lead_teams).exists()
    ):
        return person
    raise Http404("no such developer")


def developer_machines(viewer, person, now: datetime) -> list[Snapshot]:
    """The person's active machines that the viewer may open, worst first."""
    qs = Machine.objects.visible_to(viewer).active().filter(owner=person)
    snaps = load_snapshots(qs, now)
    snaps.sort(key=lambda s: (_RANK[s.health.level], s.hostname))
    return snaps
