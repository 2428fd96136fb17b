"""The agent's endpoints besides ingest: POST /api/v1/check and GET /api/v1/fixes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.anomalies.check import check_report
from apps.anomalies.fixes import machine_fixes
from apps.common.http import error_response, json_response, machine_required
from apps.ingest.body import BodyError, read_json_body
from apps.ingest.services import ReportInvalid


@csrf_exempt
@require_POST
@machine_required
def check(request: HttpRequest) -> HttpResponse:
    try:
        return json_response(check_report(request.machine, read_json_body(request)))
    except BodyError as exc:
        return error_response(
            exc.status, "invalid_report" if exc.status == 400 else exc.code, exc.message
        )
    except ReportInvalid as exc:
        return error_response(400, "invalid_report", str(exc), exc.errors)


@require_GET
@machine_required
def fixes(request: HttpRequest) -> HttpResponse:
    """GET with the machine credential: this machine's open findings that have a fix action
    `devfleet-agent fix` can apply (no other machine's, whatever the request says)."""
    machine = request.machine
    return json_response({"machine_id": machine.machine_id, "findings": machine_fixes(machine)})
