"""Dashboard pages: thin views that check access, parse the request and call one service."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.anomalies.actions import ActionError
from apps.anomalies.advice import knowledge_base
from apps.anomalies.models import Finding
from apps.common.timestamps import parse_timestamp
from apps.dashboard.constants import DEFAULT_RANGE, RANGES
from apps.dashboard.filters import HEALTH_CHOICES, OS_CHOICES, FleetFilter
from apps.dashboard.services import machine as machine_service
from apps.dashboard.services.findings import (
    SNOOZE_CHOICES,
    act_on_finding,
    finding_list,
    machine_findings_of,
)
from apps.dashboard.services.fleet import filter_options, fleet_overview
from apps.dashboard.services.machines import machine_list
from apps.dashboard.services.people import developer_for, developer_machines
from apps.dashboard.services.projects import project_list, project_page
from apps.dashboard.services.rules import AdviceContext, rule_list, rule_page
from apps.dashboard.services.versions import version_cohorts
from apps.dashboard.services.visibility import (
    MIN_GROUP,
    filter_options_for,
    project_for,
    sees_everything,
)
from apps.fleet.models import Machine
from apps.fleet.ownership import decide_claim, may_decide, pending_claims_for


def _without_page(query) -> str:
    """The query string minus `page`, ending with & when not empty (for pager links)."""
    rest = query.copy()
    rest.pop("page", None)
    encoded = rest.urlencode()
    return f"{encoded}&" if encoded else ""


def visible_machine(request: HttpRequest, machine_id: str) -> Machine:
    """The machine if this user may see it; 404 otherwise (never reveal that it exists)."""
    return get_object_or_404(
        Machine.objects.visible_to(request.user).select_related("team", "owner"),
        machine_id=machine_id,
    )


@require_GET
@login_required
def fleet(request: HttpRequest) -> HttpResponse:
    flt = FleetFilter.from_query(request.GET).resolved()
    context = fleet_overview(request.user, flt, timezone.now())
    return render(
        request,
        "dashboard/fleet.html",
        {
            **context,
            "flt": flt,
            "os_choices": OS_CHOICES,
            "health_choices": HEALTH_CHOICES,
        },
    )


@require_GET
@login_required
def machines(request: HttpRequest) -> HttpResponse:
    flt = FleetFilter.from_query(request.GET).resolved()
    context = machine_list(request.user, flt, timezone.now(), request.GET.get("page", 1))
    return render(
        request,
        "dashboard/machine_list.html",
        {
            **context,
            "flt": flt,
            "options": filter_options_for(
                request.user, filter_options(timezone.now()), timezone.now()
            ),
            "os_choices": OS_CHOICES,
            "health_choices": HEALTH_CHOICES,
        },
    )


@require_GET
@login_required
def machine(request: HttpRequest, machine_id: str) -> HttpResponse:
    obj = visible_machine(request, machine_id)
    chosen = request.GET.get("range", DEFAULT_RANGE)
    if chosen not in RANGES:
        chosen = DEFAULT_RANGE
    context = machine_service.machine_page(obj, timezone.now())
    pending = obj.claimed_owner_id and obj.owner_id is None and may_decide(request.user, obj)
    return render(
        request,
        "dashboard/machine.html",
        {
            **context,
            "claims": [obj] if pending else [],
            "machine": obj,
            "range": chosen,
            "ranges": list(RANGES),
            "charts": machine_service.CHARTS,
            "snooze_choices": SNOOZE_CHOICES,
        },
    )


@require_GET
@login_required
def machine_chart(request: HttpRequest, machine_id: str, name: str) -> HttpResponse:
    """Chart JSON for a range name (?range=6h) or an explicit zoom window (?since=&until=)."""
    obj = visible_machine(request, machine_id)
    if name not in machine_service.CHARTS:
        raise Http404("no such chart")
    now = timezone.now()
    try:
        if request.GET.get("since"):
            since = parse_timestamp(request.GET["since"])
            until = parse_timestamp(request.GET["until"]) if request.GET.get("until") else now
            # A zoom that reached into a drawn projection still ends the data window at now.
            until = min(until, now)
        else:
            since = now - RANGES.get(request.GET.get("range", ""), RANGES[DEFAULT_RANGE])
            until = now
    except ValueError:
        return JsonResponse({"error": "since/until must be ISO 8601 timestamps"}, status=400)
    if since >= until or until - since > timedelta(days=92):
        return JsonResponse({"error": "since must be before until, at most 92 days"}, status=400)
    figure = machine_service.machine_chart(obj, name, since, until)
    return JsonResponse(figure)


@require_GET
@login_required
def me(request: HttpRequest) -> HttpResponse:
    snaps = developer_machines(request.user, request.user, timezone.now())
    return render(
        request,
        "dashboard/developer.html",
        {
            "person": request.user,
            "machines": snaps,
            "claims": list(pending_claims_for(request.user)),
            "is_me": True,
            "findings": machine_findings_of(snaps),
            "snooze_choices": SNOOZE_CHOICES,
        },
    )


@require_POST
@login_required
def machine_ownership(request: HttpRequest, machine_id: str) -> HttpResponse:
    """Confirm or decline a pending ownership claim (POST, CSRF-checked)."""
    try:
        decide_claim(request.user, machine_id, request.POST.get("decision", ""))
    except Machine.DoesNotExist:
        raise Http404("no such claim") from None
    except ValueError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("dashboard:me")
    return HttpResponseRedirect(target)


@require_GET
@login_required
def developer(request: HttpRequest, user_id: int) -> HttpResponse:
    person = developer_for(request.user, user_id)
    if person.pk == request.user.pk:
        return redirect("dashboard:me")
    snaps = developer_machines(request.user, person, timezone.now())
    return render(
        request,
        "dashboard/developer.html",
        {
            "person": person,
            "machines": snaps,
            "is_me": False,
            "findings": machine_findings_of(snaps),
            "snooze_choices": SNOOZE_CHOICES,
        },
    )


@require_GET
@login_required
def projects(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/project_list.html", {"projects": project_list(request.user)})


@require_GET
@login_required
def project(request: HttpRequest, slug: str) -> HttpResponse:
    obj = project_for(request.user, slug)
    context = project_page(request.user, obj, timezone.now())
    return render(request, "dashboard/project.html", {**context, "project": obj})


@require_GET
@login_required
def versions(request: HttpRequest) -> HttpResponse:
    smallest = 0 if sees_everything(request.user) else MIN_GROUP
    return render(
        request, "dashboard/versions.html", version_cohorts(timezone.now(), min_machines=smallest)
    )


@require_GET
@login_required
def rules(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/rule_list.html", {"rules": rule_list()})


@require_GET
@login_required
def rule(request: HttpRequest, rule_id: str) -> HttpResponse:
    context = rule_page(rule_id, AdviceContext.from_query(request.GET))
    return render(request, "dashboard/rule.html", context)


@require_GET
@login_required
def findings(request: HttpRequest) -> HttpResponse:
    rows = Paginator(finding_list(request.user, request.GET, timezone.now()), 100).get_page(
        request.GET.get("page", 1)
    )
    return render(
        request,
        "dashboard/findings.html",
        {
            "findings": rows,
            "query": _without_page(request.GET),
            "params": request.GET,
            "snooze_choices": SNOOZE_CHOICES,
            "rules": sorted(knowledge_base()),
            "options": filter_options_for(
                request.user, filter_options(timezone.now()), timezone.now()
            ),
        },
    )


@require_POST
@login_required
def finding_action(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Acknowledge, un-acknowledge or snooze (POST, CSRF-checked); back to where the user came
    from."""
    try:
        finding = act_on_finding(
            request.user,
            finding_id,
            request.POST.get("action", ""),
            request.POST.get("duration", ""),
            timezone.now(),
        )
    except Finding.DoesNotExist:
        raise Http404("no such finding") from None
    except ActionError as error:  # unknown action or duration (400), resolved finding (409)
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("dashboard:machine", args=[finding.machine.machine_id])
    # HttpResponseRedirect, not redirect(): redirect() would try "-1" or "me" as a view name.
    return HttpResponseRedirect(target)
