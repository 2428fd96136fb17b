"""Machines (list, detail, series) and the OpenAPI document, under /api/v1/."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.api import serializers
from apps.api.auth import api_login_required
from apps.api.openapi import openapi_document
from apps.api.pagination import paginated
from apps.common.http import error_response, json_response
from apps.common.timestamps import parse_timestamp
from apps.fleet.models import Machine
from apps.metrics.catalog import METRICS
from apps.metrics.series import MAX_POINTS, read_series, resolution_for


def visible_machine(request: HttpRequest, machine_id: str) -> Machine:
    """The machine if this user may see it; 404 otherwise (never reveal that it exists)."""
    return get_object_or_404(
        Machine.objects.visible_to(request.user).select_related("team", "owner"),
        machine_id=machine_id,
    )


@require_GET
@api_login_required
def machine_list(request: HttpRequest) -> HttpResponse:
    qs = Machine.objects.visible_to(request.user).active().select_related("team", "owner")
    for param, lookup in (
        ("team", "team__name"),
        ("os", "os"),
        ("hostname", "hostname__icontains"),
    ):
        if request.GET.get(param):
            qs = qs.filter(**{lookup: request.GET[param]})
    return paginated(request, qs.order_by("hostname", "machine_id"), serializers.machine_summary)


@require_GET
@api_login_required
def machine_detail(request: HttpRequest, machine_id: str) -> HttpResponse:
    machine = visible_machine(request, machine_id)
    processes = machine.gopls_processes.select_related("project").order_by("-last_seen")[:20]
    projects = machine.machineproject_set.select_related("project").order_by("-last_seen")
    return json_response(
        serializers.machine_detail(machine, processes, machine.inventory.all(), projects)
    )


@require_GET
@api_login_required
def machine_series(request: HttpRequest, machine_id: str) -> HttpResponse:
    machine = visible_machine(request, machine_id)
    metric = METRICS.get(request.GET.get("metric", ""))
    if metric is None:
        return error_response(
            400,
            "invalid_request",
            "unknown metric",
            [{"path": "metric", "message": f"one of: {', '.join(sorted(METRICS))}"}],
        )
    now = timezone.now()
    try:
        since = (
            parse_timestamp(request.GET["since"])
            if request.GET.get("since")
            else now - timedelta(hours=1)
        )
        until = parse_timestamp(request.GET["until"]) if request.GET.get("until") else now
        max_points = min(MAX_POINTS, max(2, int(request.GET.get("max_points", MAX_POINTS))))
    except ValueError as exc:
        return error_response(400, "invalid_request", f"bad since/until/max_points: {exc}")
    if since > until:
        return error_response(400, "invalid_request", "since is after until")
    return json_response(
        {
            "machine_id": machine.machine_id,
            "metric": metric.name,
            "unit": metric.unit,
            "since": serializers.iso(since),
            "until": serializers.iso(until),
            "resolution_s": resolution_for(since, until, metric),
            "series": read_series(machine, metric, since, until, max_points),
        }
    )


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    return json_response(openapi_document())
