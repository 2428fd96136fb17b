"""Findings and rules API, and POST /api/v1/check for the agent."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.anomalies import serializers
from apps.anomalies.advice import knowledge_base
from apps.anomalies.check import check_report
from apps.anomalies.detectors import REGISTRY
from apps.anomalies.models import Finding
from apps.api.auth import api_login_required
from apps.api.pagination import paginated
from apps.fleet.services import machine_for_credential
from apps.ingest.body import BodyError, read_json_body
from apps.ingest.services import ReportInvalid
from apps.ingest.views import bearer_token, error_response, json_response

STATES = {"open", "resolved", "all"}


@require_GET
@api_login_required
def finding_list(request: HttpRequest) -> HttpResponse:
    qs = Finding.objects.visible_to(request.user).select_related("machine")
    state = request.GET.get("state", "open")
    if state not in STATES:
        return error_response(400, "invalid_request", "state must be open, resolved or all")
    if state != "all":
        qs = qs.filter(state=state)
    for param, lookup in (
        ("machine", "machine__machine_id"),
        ("rule", "rule_id"),
        ("severity", "severity"),
    ):
        if request.GET.get(param):
            qs = qs.filter(**{lookup: request.GET[param]})
    return paginated(request, qs.order_by("-last_seen", "-pk"), serializers.finding)


@require_GET
@api_login_required
def finding_detail(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = get_object_or_404(
        Finding.objects.visible_to(request.user).select_related("machine"), pk=finding_id
    )
    return json_response(serializers.finding(finding, events=True))


@require_GET
@api_login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    entries = knowledge_base()
    results = [
        {**entries[rid].summary(), "category": REGISTRY[rid].category, "scope": REGISTRY[rid].scope}
        for rid in sorted(REGISTRY)
    ]
    return json_response({"count": len(results), "results": results})


@csrf_exempt
@require_POST
def check(request: HttpRequest) -> HttpResponse:
    machine = machine_for_credential(bearer_token(request))
    if machine is None:
        return error_response(
            401,
            "unauthorized",
            "unknown or revoked machine credential",
            headers={"WWW-Authenticate": 'Bearer realm="devfleet"'},
        )
    try:
        return json_response(check_report(machine, read_json_body(request)))
    except BodyError as exc:
        return error_response(
            exc.status, "invalid_report" if exc.status == 400 else exc.code, exc.message
        )
    except ReportInvalid as exc:
        return error_response(400, "invalid_report", str(exc), exc.errors)
