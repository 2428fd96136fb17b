"""Plain factory functions for tests."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from datetime import datetime, timedelta, timezone

from tests.conftest import EXAMPLE_REPORT

_counter = itertools.count(1)


def enroll(
    team_name: str = "Platform",
    owner: str = "",
    machine_id: str | None = None,
    confirm_owner: bool = True,
    **identity,
):
    """Enroll through the real service; `owner`'s claim is confirmed unless confirm_owner is
    False (enrollment alone only records a pending claim)."""
    from apps.fleet.services import create_enrollment_token, enroll_machine

    _, secret = create_enrollment_token(team_name)
    identity = {
        "machine_id": machine_id or f"machine-{next(_counter):04d}-{uuid.uuid4().hex[:8]}",
        "hostname": identity.pop("hostname", f"dev-{next(_counter)}"),
        "os": "linux",
        "arch": "x86_64",
        "agent_version": "0.1.0",
        "owner": owner,
        **identity,
    }
    enrollment = enroll_machine(secret, identity)
    machine = enrollment.machine
    if confirm_owner and machine.claimed_owner_id:
        machine.owner_id, machine.claimed_owner_id = machine.claimed_owner_id, None
        machine.save(update_fields=["owner", "claimed_owner"])
    return machine, enrollment.credential


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def make_report(
    n_samples: int = 4,
    *,
    start: datetime | None = None,
    step_s: int = 15,
    sent_at: datetime | None = None,
    with_gopls: bool = True,
) -> dict:
    """A valid report of n samples derived from the documented example."""
    base = json.loads(EXAMPLE_REPORT.read_text())
    template = base["samples"][0]
    start = start or datetime.now(timezone.utc) - timedelta(seconds=step_s * n_samples)
    samples = []
    for i in range(n_samples):
        sample = copy.deepcopy(template)
        sample["id"] = str(uuid.uuid4())
        sample["collected_at"] = iso(start + timedelta(seconds=i * step_s))
        if not with_gopls:
            sample["gopls"] = []
        else:
            sample["gopls"][0]["rss_bytes"] += i * 1024 * 1024
        samples.append(sample)
    base["samples"] = samples
    base["sent_at"] = iso(sent_at or datetime.now(timezone.utc))
    return base
