"""Findings on the dashboard: fleet counts and trend, machine evidence and advice, ack, snooze."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from apps.anomalies.evaluation import evaluate_machines
from apps.anomalies.machine_health import finding_levels
from apps.anomalies.models import Finding, FindingEvent
from tests.dashboard.test_pages import figure


@pytest.fixture
def memory_finding(fleet) -> Finding:
    """Carol's 12 GiB gopls, found by the real detection pass."""
    evaluate_machines([fleet.bobs.pk, fleet.carols.pk])
    return Finding.objects.open().get(machine=fleet.carols, rule_id="gopls_memory_high")


def act(client, finding, **data):
    return client.post(reverse("dashboard:finding-action", args=[finding.pk]), data)


@pytest.mark.django_db
def test_fleet_counts_open_findings_by_rule_and_drills_to_them(client, alice, memory_finding):
    client.force_login(alice)
    body = client.get("/").content.decode()
    chart = figure(body, "fig-findings")
    critical = next(t for t in chart["data"] if t["name"] == "Critical")
    row = chart["data"][0]["y"].index(memory_finding.title)
    assert critical["x"][row] == 1
    url = critical["customdata"][row]
    assert url == "/findings/?rule=gopls_memory_high&severity=critical"
    assert "carol-wsl" in client.get(url).content.decode()
    trend = figure(body, "fig-findings-trend")
    assert trend["data"][0]["y"][-1] >= 1


@pytest.mark.django_db
def test_findings_list_shows_a_developer_only_their_own(client, bob, carol, memory_finding):
    client.force_login(bob)
    assert "carol-wsl" not in client.get(reverse("dashboard:findings")).content.decode()
    client.force_login(carol)
    assert "carol-wsl" in client.get(reverse("dashboard:findings")).content.decode()


@pytest.mark.django_db
def test_machine_page_gives_the_advice_with_copyable_commands(client, carol, memory_finding):
    client.force_login(carol)
    url = reverse("dashboard:machine", args=[memory_finding.machine.machine_id])
    body = client.get(url).content.decode()
    assert memory_finding.title in body
    # gopls v0.18.1 is newer than the v0.12.0 the upgrade fix names: no upgrade (#12.9); the
    # GOMEMLIMIT is this machine's safe value: ≥ 1.25 × the 9 GiB heap, ≤ 75 % of the
    # 15.5 GiB WSL cap.
    assert "go install golang.org/x/tools/gopls@latest" not in body
    assert "go work init" in body
    assert f'data-copy="adv{memory_finding.pk}-cmd-2"' in body
    assert "&quot;GOMEMLIMIT&quot;: &quot;11904MiB&quot;" in body
    assert f'action="/findings/{memory_finding.pk}/act/"' in body
    assert '<option value="1d">1d</option>' in body


@pytest.mark.django_db
def test_memory_chart_shades_the_findings_evidence(client, carol, memory_finding):
    client.force_login(carol)
    machine = memory_finding.machine
    fig = client.get(reverse("dashboard:machine-chart", args=[machine.machine_id, "memory"]))
    rects = [s for s in fig.json()["layout"]["shapes"] if s["type"] == "rect"]
    assert len(rects) == 1
    assert rects[0]["fillcolor"] == "#f85149"
    inotify = client.get(reverse("dashboard:machine-chart", args=[machine.machine_id, "inotify"]))
    assert [s for s in inotify.json()["layout"].get("shapes", []) if s["type"] == "rect"]


@pytest.mark.django_db
def test_acknowledging_records_who_and_returns_to_the_page(client, carol, memory_finding):
    client.force_login(carol)
    response = act(client, memory_finding, action="acknowledge", next="/me/")
    assert response.status_code == 302
    assert response["Location"] == "/me/"
    memory_finding.refresh_from_db()
    assert memory_finding.acknowledged_by == carol
    assert FindingEvent.objects.filter(finding=memory_finding, kind="acknowledged").exists()
    body = client.get("/me/").content.decode()
    assert "acknowledged by carol" in body


@pytest.mark.django_db
def test_snoozing_hides_the_finding_from_health(client, carol, memory_finding):
    client.force_login(carol)
    machines = [memory_finding.machine_id]
    others = Finding.objects.filter(machine_id=memory_finding.machine_id).exclude(
        pk=memory_finding.pk
    )
    others.update(snoozed_until=memory_finding.last_seen + timedelta(days=30))
    assert finding_levels(machines, memory_finding.last_seen) == {
        memory_finding.machine_id: "critical"
    }
    response = act(client, memory_finding, action="snooze", duration="1d", next="//evil.example/")
    assert response["Location"] == reverse(
        "dashboard:machine", args=[memory_finding.machine.machine_id]
    )
    memory_finding.refresh_from_db()
    assert memory_finding.is_snoozed
    assert finding_levels(machines, memory_finding.last_seen) == {}


@pytest.mark.django_db
def test_others_cannot_act_on_a_finding_and_actions_need_post(client, bob, carol, memory_finding):
    client.force_login(bob)
    assert act(client, memory_finding, action="acknowledge").status_code == 404
    client.force_login(carol)
    url = reverse("dashboard:finding-action", args=[memory_finding.pk])
    assert client.get(url).status_code == 405
    assert act(client, memory_finding, action="snooze", duration="forever").status_code == 400
    memory_finding.refresh_from_db()
    assert memory_finding.acknowledged_at is None
    assert not memory_finding.is_snoozed


@pytest.mark.django_db
def test_a_lead_can_acknowledge_their_teams_findings(client, fleet, memory_finding):
    client.force_login(fleet.dave)
    assert act(client, memory_finding, action="acknowledge").status_code == 302
    memory_finding.refresh_from_db()
    assert memory_finding.acknowledged_by == fleet.dave


@pytest.mark.django_db
def test_dashboard_actions_are_audited_and_refused_on_resolved_findings(
    client, carol, memory_finding
):
    from apps.audit.models import AuditEvent

    client.force_login(carol)
    assert act(client, memory_finding, action="acknowledge").status_code == 302
    assert AuditEvent.objects.filter(object_id=str(memory_finding.pk)).exists()
    Finding.objects.filter(pk=memory_finding.pk).update(state=Finding.State.RESOLVED)
    response = act(client, memory_finding, action="snooze", duration="1d")
    assert response.status_code == 409
    assert "resolved" in response.content.decode()
