"""Personal alerts follow confirmed ownership only: an agent naming someone as its owner does
not make devfleet message that person (issue: an agent cannot claim an owner)."""

from __future__ import annotations

import pytest

from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Channel
from apps.fleet.models import Team
from apps.fleet.ownership import decide_claim
from tests.alerts.helpers import NOW, leak, machine

pytestmark = pytest.mark.django_db


def test_no_personal_alert_reaches_a_claimed_owner_until_the_claim_is_confirmed(smtp, bob):
    team = Team.objects.create(name="Platform")
    Channel.objects.create(team=team, kind="email", target="bob@example.com", owner=bob)
    claimed = machine(owner="bob", confirm_owner=False)
    assert claimed.owner is None
    assert claimed.claimed_owner == bob

    leak(claimed)
    flush_outbox(NOW)
    assert smtp.messages == []

    decide_claim(bob, claimed.machine_id, "confirm")
    leak(claimed, rule="gopls_memory_high", title="gopls uses too much memory")
    flush_outbox(NOW)
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]
