"""GET /metrics: token-protected Prometheus exposition of fleet gauges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.cache import cache

from apps.anomalies.machine_health import refresh_health
from apps.anomalies.models import Finding
from apps.api.prometheus import quantile
from apps.ingest.services import ingest_report
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    cache.clear()


def scrape(client, token="s3cret-metrics-token"):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_needs_the_token(client, settings):
    assert scrape(client, token="wrong").status_code == 401
    assert client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404


def test_it_exports_health_findings_memory_quantiles_and_ingest_rate(client):
    now = datetime.now(timezone.utc)
    machines = [enroll(hostname=f"m{i}")[0] for i in range(3)]
    for i, machine in enumerate(machines):
        report = make_report(4, start=now - timedelta(minutes=1), sent_at=now)
        for sample in report["samples"]:
            sample["gopls"][0]["rss_bytes"] = (i + 1) * 1_000_000_000
        ingest_report(machine, report)
    Finding.objects.create(
        machine=machines[0],
        rule_id="gopls_memory_high",
        severity="critical",
        title="x",
        first_seen=now,
        last_seen=now,
    )
    refresh_health([machine.pk for machine in machines])  # as every evaluation pass does
    body = scrape(client).content.decode()
    assert 'devfleet_machines{health="critical"} 1' in body
    assert 'devfleet_machines{health="healthy"} 2' in body
    assert 'devfleet_open_findings{rule="gopls_memory_high",severity="critical"} 1' in body
    median = (
        'devfleet_gopls_rss_bytes{project="github.com/yuin/goldmark",version="v0.16.2",'
        'quantile="0.5"} 2000000000.0'
    )
    assert median in body
    assert "# TYPE devfleet_ingest_uploads_per_second gauge" in body
    assert "devfleet_task_queue_depth" in body


def test_quantiles_interpolate():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([5], 0.99) == 5
