"""Agent-facing endpoints: POST /api/v1/enroll and POST /api/v1/reports."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.common.http import bearer_token, error_response, json_response, machine_required
from apps.fleet.services import EnrollmentError, enroll_machine
from apps.ingest.body import BodyError, read_json_body
from apps.ingest.services import RateLimited, ReportInvalid, ingest_report, instructions_for


@csrf_exempt
@require_POST
def enroll(request: HttpRequest) -> HttpResponse:
    try:
        body = read_json_body(request)
    except BodyError as exc:
        return error_response(exc.status, exc.code, exc.message)
    if not isinstance(body, dict):
        return error_response(
            400,
            "invalid_request",
            "body must be a JSON object",
            [{"path": "$", "message": "must be an object"}],
        )
    token = body.get("token") or bearer_token(request)
    try:
        enrollment = enroll_machine(token if isinstance(token, str) else "", body)
    except EnrollmentError as exc:
        code = {401: "unauthorized", 409: "conflict"}.get(exc.status, "invalid_request")
        return error_response(exc.status, code, str(exc), exc.errors or None)
    instructions = instructions_for(enrollment.machine)
    return json_response(
        {
            "machine_id": enrollment.machine.machine_id,
            "credential": enrollment.credential,
            "report_url": "/api/v1/reports",
            "collect_interval_s": instructions["collect_interval_s"],
            "upload_interval_s": instructions["upload_interval_s"],
            "server_time": timezone.now().isoformat().replace("+00:00", "Z"),
        },
        status=201,
    )


@csrf_exempt
@require_POST
@machine_required(
    detail="unknown or revoked machine credential; re-enroll with devfleet-agent enroll"
)
def reports(request: HttpRequest) -> HttpResponse:
    try:
        payload = read_json_body(request)
        result = ingest_report(request.machine, payload)
    except BodyError as exc:
        errors = [{"path": "$", "message": exc.message}] if exc.status == 400 else None
        return error_response(
            exc.status, "invalid_report" if exc.status == 400 else exc.code, exc.message, errors
        )
    except ReportInvalid as exc:
        return error_response(400, "invalid_report", str(exc), exc.errors)
    except RateLimited as exc:
        return error_response(
            429,
            "rate_limited",
            f"too many uploads from this machine; {exc}",
            headers={"Retry-After": str(exc.retry_after)},
        )
    return json_response(result.as_response())
