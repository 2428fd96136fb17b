"""Machine ownership: pending claims from enrollment, confirmed or declined by a person.

An agent's `owner` is hostile input: anyone with an enrollment token could name anybody. So it
only records a claim (`Machine.claimed_owner`); the machine becomes that person's (on their
`/me/`, and in their personal alerts) once the claimed person, a lead of the machine's team or
platform staff confirms it. Every decision is written to the audit log.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.audit.recording import record_event
from apps.fleet.models import Machine, Membership

DECISIONS = ("confirm", "decline")


def pending_claims_for(user) -> QuerySet[Machine]:
    """Active machines whose agent says `user` owns them, not yet confirmed."""
    if not user.is_authenticated:
        return Machine.objects.none()
    return (
        Machine.objects.active()
        .filter(claimed_owner=user, owner__isnull=True)
        .select_related("team")
        .order_by("hostname", "machine_id")
    )


def may_decide(user, machine: Machine) -> bool:
    """The claimed person, a lead of the machine's team, or platform staff."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser or machine.claimed_owner_id == user.pk:
        return True
    return Membership.objects.led_team_ids(user).filter(team_id=machine.team_id).exists()


def claim_for_decision(user, machine_id: str) -> Machine:
    """The machine with a pending claim that `user` may decide on; Machine.DoesNotExist for
    anything else (the caller answers 404, so nobody learns of machines they may not see)."""
    machine = (
        Machine.objects.select_related("claimed_owner", "team")
        .filter(machine_id=machine_id, claimed_owner__isnull=False, owner__isnull=True)
        .first()
    )
    if machine is None or not may_decide(user, machine):
        raise Machine.DoesNotExist
    return machine


@transaction.atomic
def decide_claim(user, machine_id: str, decision: str) -> Machine:
    """Confirm (the claimed person becomes the owner) or decline (the claim is dropped).

    Team membership never changes here: ownership alone lets the owner see the machine."""
    if decision not in DECISIONS:
        raise ValueError("decision must be confirm or decline")
    machine = claim_for_decision(user, machine_id)
    claimed = machine.claimed_owner
    if decision == "confirm":
        machine.owner = claimed
    machine.claimed_owner = None
    machine.save(update_fields=["owner", "claimed_owner"])
    record_event(
        AuditEvent.Action.CHANGE,
        machine,
        {
            "owner": [None, claimed.get_username() if decision == "confirm" else None],
            "claimed_owner": [claimed.get_username(), None],
            "decision": decision,
        },
    )
    return machine
