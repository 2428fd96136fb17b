"""The real agent CLI against the live server: a machine id cannot be enrolled into another
team, and the machine's own team re-enrolls it (an agent that lost its credential)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("apps.fleet.services", reason="the devfleet server (apps.fleet) is not here")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_another_teams_token_cannot_enroll_a_known_machine_id_and_its_own_team_can(
    live_server, tmp_path
):
    from apps.fleet.models import Machine
    from apps.fleet.services import create_enrollment_token
    from tests.agent.test_server_integration import _cli, _env

    state = tmp_path / "state"
    _, payments = create_enrollment_token("Payments")
    _, attackers = create_enrollment_token("Attackers")
    first = _cli(_env(state), "enroll", "--server", live_server.url, "--token", payments)
    assert first.returncode == 0, first.stderr
    credential = json.loads((state / "credential.json").read_text())

    taken = _cli(_env(state), "enroll", "--server", live_server.url, "--token", attackers)

    assert taken.returncode != 0
    assert "HTTP 409" in taken.stderr
    assert "another team" in taken.stderr
    assert "Payments" not in taken.stderr
    machine = Machine.objects.get(machine_id=credential["machine_id"])
    assert machine.team.name == "Payments"
    assert json.loads((state / "credential.json").read_text()) == credential  # kept

    (state / "credential.json").unlink()  # the agent lost its credential
    again = _cli(_env(state), "enroll", "--server", live_server.url, "--token", payments)
    assert again.returncode == 0, again.stderr
    assert json.loads((state / "credential.json").read_text())["machine_id"] == machine.machine_id
