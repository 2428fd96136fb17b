"""Who may see and manage alert silences, and the two changes made to them (create, expire)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.alerts.models import Silence
from apps.fleet.models import Membership, Team


def led_team_ids(user) -> set[int]:
    return set(Membership.objects.led_team_ids(user).values_list("team_id", flat=True))


def may_manage_silences(user) -> bool:
    """Platform staff silence anything; team leads silence within the teams they lead."""
    if not user.is_authenticated:
        return False
    return user.is_staff or user.is_superuser or bool(led_team_ids(user))


def manageable_teams(user) -> QuerySet:
    if user.is_staff or user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(pk__in=led_team_ids(user))


def silences_visible_to(user) -> QuerySet:
    """Staff see every silence; a lead sees those scoped to their teams' machines."""
    rows = Silence.objects.select_related("team", "machine", "project", "created_by")
    if user.is_staff or user.is_superuser:
        return rows
    teams = led_team_ids(user)
    return rows.filter(Q(team_id__in=teams) | Q(machine__team_id__in=teams))


def expire_silence(silence: Silence, now: datetime) -> bool:
    """End a silence now; False when it had already expired (nothing changes)."""
    if silence.expires_at <= now:
        return False
    silence.expires_at = now
    silence.save(update_fields=["expires_at"])  # audited like every Silence change
    return True
