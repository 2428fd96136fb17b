"""Acknowledge links (no login needed), staff pages for channels and routes, silences."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.alerts.forms import ChannelForm, PersonalChannelForm, RouteForm, SilenceForm
from apps.alerts.models import Channel, Route
from apps.alerts.outbox import queue_message
from apps.alerts.silences import expire_silence, may_manage_silences, silences_visible_to
from apps.alerts.tokens import read_ack_token
from apps.anomalies.lifecycle import acknowledge
from apps.anomalies.models import Finding


def ack(request: HttpRequest, token: str) -> HttpResponse:
    """GET: confirm page; POST (CSRF-checked): acknowledge, which stops repeats."""
    finding_id = read_ack_token(token)
    finding = Finding.objects.select_related("machine").filter(pk=finding_id).first()
    if finding is None:
        return render(request, "alerts/ack.html", {"invalid": True}, status=400)
    done = finding.acknowledged_at is not None
    if request.method == "POST" and not done:
        user = request.user if request.user.is_authenticated else None
        acknowledge(finding, user, timezone.now())
        done = True
    return render(request, "alerts/ack.html", {"finding": finding, "done": done})


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """/alerts/: staff land on channels and routes, everyone else on their own alerts."""
    return redirect("alerts:channels" if request.user.is_staff else "alerts:me")


@login_required
def silences(request: HttpRequest) -> HttpResponse:
    """List active and recent silences; create one (prefilled from ?machine=&rule=)."""
    if not may_manage_silences(request.user):
        raise Http404
    initial = {"machine": request.GET.get("machine", ""), "rule_id": request.GET.get("rule", "")}
    form = SilenceForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        silence = form.save()
        messages.success(request, f"Silenced until {silence.expires_at:%Y-%m-%d %H:%M} UTC.")
        return redirect("alerts:silences")
    now = timezone.now()
    rows = silences_visible_to(request.user)
    context = {
        "form": form,
        "active": rows.filter(expires_at__gt=now).order_by("expires_at"),
        "expired": rows.filter(expires_at__lte=now).order_by("-expires_at")[:50],
    }
    return render(request, "alerts/silences.html", context)


@login_required
@require_POST
def silence_expire(request: HttpRequest, pk: int) -> HttpResponse:
    silence = get_object_or_404(silences_visible_to(request.user), pk=pk)
    if expire_silence(silence, timezone.now()):
        messages.success(request, "Silence ended: matching findings notify again.")
    return redirect("alerts:silences")


@staff_member_required
def channels(request: HttpRequest) -> HttpResponse:
    rows = Channel.objects.select_related("team", "owner").order_by("team__name", "id")
    routes = Route.objects.select_related("team", "project").prefetch_related("channels")
    return render(request, "alerts/channels.html", {"channels": rows, "routes": routes})


@staff_member_required
def channel_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk) if pk else None
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        channel = form.save()
        messages.success(request, f"Saved {channel}.")
        return redirect("alerts:channel", pk=channel.pk)
    attempts = channel.notifications.order_by("-created_at")[:20] if channel else []
    context = {"form": form, "channel": channel, "recent": attempts}
    return render(request, "alerts/channel_form.html", context)


@staff_member_required
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk)
    queue_message(
        channel,
        "test",
        f"test:{uuid.uuid4().hex}",
        {
            "title": "devfleet test message",
            "text": f"Test message for {channel.label}, sent by {request.user}.",
            "severity": "info",
        },
    )
    messages.success(request, "Test message queued; its outcome shows below.")
    return redirect("alerts:channel", pk=pk)


@staff_member_required
def route_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    route = get_object_or_404(Route, pk=pk) if pk else None
    form = RouteForm(request.POST or None, instance=route)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Route saved.")
        return redirect("alerts:channels")
    context = {"form": form, "route": route, "no_channels": not Channel.objects.exists()}
    return render(request, "alerts/route_form.html", context)


@login_required
def my_alerts(request: HttpRequest) -> HttpResponse:
    """Developer opt-in: add or remove personal channels for messages about own machines."""
    mine = Channel.objects.filter(owner=request.user)
    if request.method == "POST" and "delete" in request.POST:
        pk = channel_id(request.POST["delete"])
        if pk is None:
            raise Http404
        mine.filter(pk=pk).delete()
        return redirect("alerts:me")
    team = home_team(request.user)
    form = PersonalChannelForm(request.POST or None, instance=Channel(owner=request.user))
    if request.method == "POST" and team and form.is_valid():
        channel = form.save(commit=False)
        channel.team, channel.name = team, f"{request.user} (personal)"
        channel.save()
        messages.success(request, "You will get messages about your machines there.")
        return redirect("alerts:me")
    return render(request, "alerts/me.html", {"channels": mine, "form": form, "team": team})


def channel_id(value: str) -> int | None:
    """A row id from a form value, or None for anything a database id column cannot hold."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def home_team(user):
    """The team of the user's first machine, else of their first membership."""
    from apps.fleet.models import Machine, Team

    machine = Machine.objects.filter(owner=user).select_related("team").order_by("id").first()
    return machine.team if machine else Team.objects.filter(members=user).order_by("id").first()
