"""Findings, their actions (acknowledge, snooze, unacknowledge) and the rules, under /api/v1/."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.anomalies.actions import ActionError, act_on_finding
from apps.anomalies.advice import knowledge_base
from apps.anomalies.detectors import REGISTRY
from apps.anomalies.models import Finding
from apps.api import serializers
from apps.api.auth import api_login_required, api_write_required
from apps.api.pagination import paginated
from apps.common.http import error_response, json_response

STATES = {"open", "resolved", "all"}
ACTION_BODY_CAP = 4096


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


def _action_body(request: HttpRequest):
    """The small JSON body of a finding action ({} when there is none)."""
    data = request.read(ACTION_BODY_CAP + 1)
    if len(data) > ACTION_BODY_CAP:
        raise ActionError(413, "too_large", f"body is over {ACTION_BODY_CAP} bytes")
    if not data.strip():
        return {}
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ActionError(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ActionError(400, "invalid_json", "body is not valid JSON") from None


def _finding_action(action: str):
    @require_POST
    @api_write_required
    def view(request: HttpRequest, finding_id: int) -> HttpResponse:
        try:
            body = _action_body(request) if action == "snooze" else None
            finding = act_on_finding(request.user, finding_id, action, timezone.now(), body)
        except Finding.DoesNotExist:
            return error_response(404, "not_found", "no such finding")
        except ActionError as exc:
            return error_response(exc.status, exc.code, exc.message)
        return json_response(serializers.finding(finding))

    view.__name__ = view.__qualname__ = f"finding_{action}"
    view.__doc__ = f"POST: {action} a finding you may see (session with CSRF, or API token)."
    return view


finding_acknowledge = _finding_action("acknowledge")
finding_snooze = _finding_action("snooze")
finding_unacknowledge = _finding_action("unacknowledge")


@require_GET
@api_login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    entries = knowledge_base()
    results = [
        {**entries[rid].summary(), "category": REGISTRY[rid].category, "scope": REGISTRY[rid].scope}
        for rid in sorted(REGISTRY)
    ]
    return json_response({"count": len(results), "results": results})
