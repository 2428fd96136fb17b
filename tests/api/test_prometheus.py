"""GET /metrics: token-protected fleet gauges rendered by prometheus_client, read back with its
parsers (text format and OpenMetrics), with hostile label values from agents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.cache import cache
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from apps.anomalies.machine_health import refresh_health
from apps.anomalies.models import Finding
from apps.api.prometheus import quantile
from apps.fleet.services import create_api_token
from apps.ingest.services import ingest_report
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"
HOSTILE = [
    'evil"} 1\ndevfleet_machines{health="healthy"} 999',
    "back\\slash\\n and \\\" quote",
    "# HELP devfleet_machines forged\n# EOF",
    "ünïcode ✓ 模块 \u2028 tab\there",
]


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN
    cache.clear()


def scrape(client, token=TOKEN, **headers):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def samples(body: str, parse=text_string_to_metric_families) -> dict:
    """{(sample name, sorted label items): value} from the client library's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse(body)
        for s in family.samples
    }


def ingest_fleet(now, modules_versions_rss):
    machines = []
    for i, (module, version, rss) in enumerate(modules_versions_rss):
        machine, _ = enroll(hostname=f"m{i}")
        report = make_report(4, start=now - timedelta(minutes=1), sent_at=now)
        for sample in report["samples"]:
            proc = sample["gopls"][0]
            proc["rss_bytes"] = rss
            proc["version"] = version
            proc["projects"][0]["module"] = module
        ingest_report(machine, report)
        machines.append(machine)
    return machines


def test_it_needs_the_metrics_token(client, settings):
    assert scrape(client, token="wrong").status_code == 401
    assert client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404


def test_no_other_credential_opens_it(client, django_user_model):
    """Only the metrics token: not a machine credential, a staff member's personal API token
    or a staff session, so the gauges of every team are never read through those."""
    _, credential = enroll()
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True,
                                                   is_superuser=True)
    _, api_token = create_api_token(staff, "grafana")
    assert scrape(client, token=credential).status_code == 401
    assert scrape(client, token=api_token).status_code == 401
    client.force_login(staff)
    assert client.get("/metrics").status_code == 401
    assert scrape(client, token=TOKEN.upper()).status_code == 401
    assert scrape(client, token=TOKEN + "x").status_code == 401


def test_it_exports_health_findings_memory_quantiles_and_ingest_rate(client):
    now = datetime.now(timezone.utc)
    machines = ingest_fleet(now, [("github.com/yuin/goldmark", "v0.16.2", (i + 1) * 10**9)
                                  for i in range(3)])
    Finding.objects.create(
        machine=machines[0],
        rule_id="gopls_memory_high",
        severity="critical",
        title="x",
        first_seen=now,
        last_seen=now,
    )
    refresh_health([machine.pk for machine in machines])  # as every evaluation pass does
    response = scrape(client)
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.content.decode()
    got = samples(body)
    assert got[("devfleet_machines", (("health", "critical"),))] == 1
    assert got[("devfleet_machines", (("health", "healthy"),))] == 2
    assert got[("devfleet_machines", (("health", "offline"),))] == 0
    assert got[("devfleet_open_findings",
                (("rule", "gopls_memory_high"), ("severity", "critical")))] == 1
    group = (("project", "github.com/yuin/goldmark"), ("version", "v0.16.2"))
    assert got[("devfleet_gopls_rss_bytes", (*group[:1], ("quantile", "0.5"), group[1]))] == 2e9
    assert got[("devfleet_gopls_processes", group)] == 3
    assert ("devfleet_ingest_uploads_per_second", ()) in got
    assert ("devfleet_ingest_samples_per_second", ()) in got
    assert [k for k in got if k[0] == "devfleet_task_queue_depth"]
    assert "# TYPE devfleet_ingest_uploads_per_second gauge" in body


def test_every_family_is_a_gauge_with_help(client):
    families = list(text_string_to_metric_families(scrape(client).content.decode()))
    assert {f.name for f in families} >= {
        "devfleet_machines", "devfleet_open_findings", "devfleet_gopls_rss_bytes",
        "devfleet_gopls_processes", "devfleet_ingest_uploads_per_second",
        "devfleet_ingest_samples_per_second", "devfleet_task_queue_depth"}
    assert all(f.type == "gauge" and f.documentation for f in families)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_project_and_version_names_stay_label_values(client, hostile):
    now = datetime.now(timezone.utc)
    ingest_fleet(now, [(hostile, hostile, 10**9), ("example.com/ok", "v0.20.0", 2 * 10**9)])
    body = scrape(client).content.decode()
    got = samples(body)
    # #11.4: a version is stored only in the form gopls prints, so a hostile one is unknown.
    group = (("project", hostile), ("version", "unknown"))
    assert got[("devfleet_gopls_processes", group)] == 1
    assert got[("devfleet_gopls_processes",
                (("project", "example.com/ok"), ("version", "v0.20.0")))] == 1
    # Nothing was injected: the health gauge has its four series and its real values.
    machines = {k: v for k, v in got.items() if k[0] == "devfleet_machines"}
    assert len(machines) == 4
    assert machines[("devfleet_machines", (("health", "healthy"),))] != 999
    assert sum(machines.values()) == 2
    # Every line is a comment of ours or a sample: no label value broke out onto its own line.
    lines = body.rstrip("\n").split("\n")  # the format separates lines by \n only
    assert all(ln.startswith(("# HELP devfleet_", "# TYPE devfleet_", "devfleet_")) for ln in lines)
    assert sum(ln.startswith("# HELP") for ln in lines) == len(list(
        text_string_to_metric_families(body)))


def test_a_summary_holding_non_text_names_still_scrapes(client):
    from apps.fleet.models import Machine

    machine, _ = enroll()
    Machine.objects.filter(pk=machine.pk).update(
        latest={"gopls": [{"rss_bytes": 10**9, "project": 5, "version": ["v1", None]}]})
    response = scrape(client)
    assert response.status_code == 200
    got = samples(response.content.decode())
    assert got[("devfleet_gopls_processes", (("project", "5"), ("version", "['v1', None]")))] == 1


def test_openmetrics_is_served_when_the_scraper_asks_for_it(client):
    now = datetime.now(timezone.utc)
    ingest_fleet(now, [(HOSTILE[0], "v0.16.2", 10**9)])
    response = scrape(client, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    body = response.content.decode()
    assert body.endswith("# EOF\n")
    got = samples(body, parse=openmetrics_families)
    assert got[("devfleet_gopls_processes",
                (("project", HOSTILE[0]), ("version", "v0.16.2")))] == 1


def test_a_scrape_within_the_cache_window_reads_nothing(client, django_assert_num_queries):
    ingest_fleet(datetime.now(timezone.utc), [("example.com/a", "v0.20.0", 10**9)])
    first = scrape(client).content
    with django_assert_num_queries(0):
        again = scrape(client, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
        assert scrape(client).content == first
    assert again.content.decode().endswith("# EOF\n")


def test_quantiles_interpolate():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([5], 0.99) == 5
