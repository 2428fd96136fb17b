"""GET /metrics: fleet gauges for Prometheus (rendered by prometheus_client), for Grafana users."""

from __future__ import annotations

import hmac
from collections import Counter, defaultdict
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from apps.anomalies import fixes
from apps.anomalies.models import AppliedFix, Finding
from apps.common.http import bearer_token
from apps.fleet.models import Machine
from apps.metrics.counters import rates

CACHE_KEY = "prometheus-fleet-families"
CACHE_SECONDS = 15
QUANTILES = (0.5, 0.9, 0.99)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def machine_health() -> Counter:
    """healthy / warning / critical from each machine's stored level (as the dashboard shows
    it), offline from last contact."""
    stale_before = timezone.now() - timezone.timedelta(seconds=settings.MACHINE_STALE_AFTER_S)
    active = Machine.objects.active()
    offline = Q(last_seen__isnull=True) | Q(last_seen__lt=stale_before)
    health = Counter({"offline": active.filter(offline).count()})
    levels = active.exclude(offline).order_by().values_list("health").annotate(n=Count("id"))
    for level, n in levels:
        health["healthy" if level == "ok" else level] += n
    return health


def queue_depth() -> int | None:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if settings.REDIS_URL:
        import redis

        return int(redis.Redis.from_url(settings.REDIS_URL).llen(queue))
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return sum(1 for path in folder.glob("*.msg") if queue in path.name)


def fleet_families() -> list[GaugeMetricFamily]:
    """The fleet gauges, read from the database and the broker."""
    health = machine_health()
    machines = GaugeMetricFamily("devfleet_machines", "Machines by health.", labels=["health"])
    for h in ("healthy", "warning", "critical", "offline"):
        machines.add_metric([h], health.get(h, 0))
    findings = GaugeMetricFamily(
        "devfleet_open_findings", "Open findings by rule and severity.", labels=["rule", "severity"]
    )
    open_findings = Finding.objects.open().values("rule_id", "severity")
    for f in open_findings.annotate(n=Count("id")).order_by():
        findings.add_metric([f["rule_id"], f["severity"]], f["n"])
    fix_counts = fixes.counts(AppliedFix.objects.all())
    by_group: dict[tuple[str, str], list[float]] = defaultdict(list)
    for latest in Machine.objects.active().values_list("latest", flat=True):
        for proc in (latest or {}).get("gopls") or []:
            if isinstance(proc.get("rss_bytes"), int):
                # str(): a label value must be text whatever a stored summary holds.
                key = (str(proc.get("project") or "unknown"), str(proc.get("version") or "unknown"))
                by_group[key].append(proc["rss_bytes"])
    rss = GaugeMetricFamily(
        "devfleet_gopls_rss_bytes",
        "gopls resident memory quantiles by project and version.",
        labels=["project", "version", "quantile"],
    )
    processes = GaugeMetricFamily(
        "devfleet_gopls_processes",
        "gopls server processes by project and version.",
        labels=["project", "version"],
    )
    for (project, version), values in sorted(by_group.items()):
        for q in QUANTILES:
            rss.add_metric([project, version, str(q)], quantile(values, q))
        processes.add_metric([project, version], len(values))
    ingest = rates()
    families = [
        machines,
        findings,
        rss,
        processes,
        GaugeMetricFamily(
            "devfleet_ingest_uploads_per_second",
            "Uploads accepted per second (5-minute mean).",
            value=round(ingest["uploads"], 3),
        ),
        GaugeMetricFamily(
            "devfleet_ingest_samples_per_second",
            "New samples stored per second (5-minute mean).",
            value=round(ingest["samples"], 3),
        ),
        GaugeMetricFamily(
            "devfleet_fixes_applied",
            "Fixes applied with devfleet-agent fix (all time).",
            value=fix_counts["applied"],
        ),
        GaugeMetricFamily(
            "devfleet_fixes_resolved",
            "Applied fixes whose finding resolved afterwards (all time).",
            value=fix_counts["resolved"],
        ),
    ]
    depth = queue_depth()
    if depth is not None:
        queue = GaugeMetricFamily(
            "devfleet_task_queue_depth",
            "Celery tasks waiting in the broker queue.",
            labels=["queue"],
        )
        queue.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], depth)
        families.append(queue)
    return families


class FleetCollector:
    """A prometheus_client custom collector over the fleet queries; one read per CACHE_SECONDS
    whatever the number of scrapers or the exposition format they ask for."""

    def collect(self):
        families = cache.get(CACHE_KEY)
        if families is None:
            families = fleet_families()
            cache.set(CACHE_KEY, families, CACHE_SECONDS)
        yield from families


# Its own registry: the process-wide default one would add this worker's Python and process
# metrics, which say nothing about the fleet and differ per gunicorn worker.
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(FleetCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if not expected:
        return HttpResponse(
            "metrics are disabled: set METRICS_TOKEN\n", status=404, content_type="text/plain"
        )
    if not hmac.compare_digest(bearer_token(request).encode(), expected.encode()):
        return HttpResponse(
            "unauthorized\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="devfleet-metrics"'},
        )
    # Text format 0.0.4 by default, OpenMetrics when the scraper's Accept header asks for it.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(REGISTRY), content_type=content_type)
