"""GET /metrics: Prometheus exposition of fleet gauges, for teams that also run Grafana."""

from __future__ import annotations

import hmac
from collections import Counter, defaultdict
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.anomalies.models import Finding
from apps.fleet.models import Machine
from apps.ingest.views import bearer_token
from apps.metrics.counters import rates

CACHE_KEY = "prometheus-exposition"
CACHE_SECONDS = 15
QUANTILES = (0.5, 0.9, 0.99)


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: dict, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}" if inner else f"{name} {value}"


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


def exposition() -> str:
    lines = []

    def gauge(name: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(_line(name, labels, value) for labels, value in samples)

    health = machine_health()
    gauge(
        "devfleet_machines",
        "Machines by health.",
        [({"health": h}, health.get(h, 0)) for h in ("healthy", "warning", "critical", "offline")],
    )
    findings = (
        Finding.objects.open().values("rule_id", "severity").annotate(n=Count("id")).order_by()
    )
    gauge(
        "devfleet_open_findings",
        "Open findings by rule and severity.",
        [({"rule": f["rule_id"], "severity": f["severity"]}, f["n"]) for f in findings],
    )
    by_group: dict[tuple[str, str], list[float]] = defaultdict(list)
    for latest in Machine.objects.active().values_list("latest", flat=True):
        for proc in (latest or {}).get("gopls") or []:
            if isinstance(proc.get("rss_bytes"), int):
                key = (proc.get("project") or "unknown", proc.get("version") or "unknown")
                by_group[key].append(proc["rss_bytes"])
    gauge(
        "devfleet_gopls_rss_bytes",
        "gopls resident memory quantiles by project and version.",
        [
            ({"project": p, "version": v, "quantile": str(q)}, quantile(values, q))
            for (p, v), values in sorted(by_group.items())
            for q in QUANTILES
        ],
    )
    gauge(
        "devfleet_gopls_processes",
        "gopls server processes by project and version.",
        [
            ({"project": p, "version": v}, len(values))
            for (p, v), values in sorted(by_group.items())
        ],
    )
    ingest = rates()
    gauge(
        "devfleet_ingest_uploads_per_second",
        "Uploads accepted per second (5-minute mean).",
        [({}, round(ingest["uploads"], 3))],
    )
    gauge(
        "devfleet_ingest_samples_per_second",
        "New samples stored per second (5-minute mean).",
        [({}, round(ingest["samples"], 3))],
    )
    depth = queue_depth()
    if depth is not None:
        gauge(
            "devfleet_task_queue_depth",
            "Celery tasks waiting in the broker queue.",
            [({"queue": settings.CELERY_TASK_DEFAULT_QUEUE}, depth)],
        )
    return "\n".join(lines) + "\n"


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
    body = cache.get(CACHE_KEY)
    if body is None:
        body = exposition()
        cache.set(CACHE_KEY, body, CACHE_SECONDS)
    return HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")
