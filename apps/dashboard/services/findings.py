"""Findings as the dashboard shows them: counts, trend, lists, evidence spans, ack and snooze."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from django.db.models import Case, Count, Q, QuerySet, When
from django.urls import reverse
from django.utils.timezone import now as timezone_now

from apps.anomalies import actions, fixes
from apps.anomalies.actions import ActionError
from apps.anomalies.advice import knowledge_base
from apps.anomalies.models import Finding
from apps.dashboard import charts
from apps.fleet.models import Machine

SEVERITIES = ("critical", "warning", "info")
SNOOZE_CHOICES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
TREND_DAYS = 14
# Which machine chart shows a rule's evidence, by rule id or knowledge-base category.
CHART_FOR_RULE = {
    "gopls_goroutine_growth": "goroutines",
    "gopls_rpc_latency": "latency",
    "oom_kill": "sysmem",
    "cgroup_memory_low": "memory",
}
CHART_FOR_CATEGORY = {
    "memory": "memory",
    "cpu": "cpu",
    "latency": "latency",
    "system": "inotify",
    "wsl": "sysmem",
    "caches": "caches",
    "fleet": "memory",
}


def chart_for(rule_id: str) -> str | None:
    if rule_id in CHART_FOR_RULE:
        return CHART_FOR_RULE[rule_id]
    if rule_id.startswith("inotify"):
        return "inotify"
    entry = knowledge_base().get(rule_id)
    return CHART_FOR_CATEGORY.get(entry.data.get("category", "")) if entry else None


def findings_url(**params) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse("dashboard:findings") + (f"?{query}" if query else "")


def fleet_findings(machines: QuerySet[Machine], now: datetime) -> dict:
    """Open findings by rule and severity (drillable) and the daily trend of open findings.

    One scan of the findings: per (rule, severity), how many are open now and how many were
    open at each day boundary of the trend (counted by the database)."""
    titles = {rid: e.data["title"] for rid, e in knowledge_base().items()}
    start = (now - timedelta(days=TREND_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=i) for i in range(TREND_DAYS + 1)] + [now]
    per_day = {
        f"d{i}": Count(
            "pk",
            filter=Q(first_seen__lte=day) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=day)),
        )
        for i, day in enumerate(days)
    }
    in_trend = Q(first_seen__lte=now) & (Q(resolved_at__isnull=True) | Q(resolved_at__gte=start))
    by_rule: dict[str, Counter] = defaultdict(Counter)
    trend = {s: [0] * len(days) for s in SEVERITIES}
    for row in (
        Finding.objects.filter(machine__in=machines.values("pk"))
        .filter(in_trend | Q(state=Finding.State.OPEN))
        .order_by()
        .values("rule_id", "severity")
        .annotate(open=Count("pk", filter=Q(state=Finding.State.OPEN)), **per_day)
    ):
        if row["open"]:
            by_rule[row["rule_id"]][row["severity"]] += row["open"]
        counts = trend.setdefault(row["severity"], [0] * len(days))
        for i in range(len(days)):
            counts[i] += row[f"d{i}"]
    order = sorted(by_rule, key=lambda r: (-by_rule[r]["critical"], -sum(by_rule[r].values())))
    # Machines per rule: a rule's row is a group that only staff see below MIN_GROUP machines.
    machine_counts = dict(
        Finding.objects.open()
        .filter(machine__in=machines.values("pk"), rule_id__in=order)
        .order_by()
        .values("rule_id")
        .annotate(n=Count("machine_id", distinct=True))
        .values_list("rule_id", "n")
    )
    rows = [
        {
            "rule": r,
            "title": titles.get(r, r),
            "counts": dict(by_rule[r]),
            "urls": {s: findings_url(rule=r, severity=s) for s in SEVERITIES},
            "machines": machine_counts.get(r, 0),
        }
        for r in order
    ]
    return {
        "rows": rows,
        "total": sum(sum(c.values()) for c in by_rule.values()),
        "by_rule_chart": charts.findings_by_rule(rows) if rows else None,
        "trend_chart": charts.findings_trend(days, trend),
    }


def finding_list(user, params, now: datetime) -> QuerySet[Finding]:
    """The findings this user may see, filtered by state, severity, rule, team and machine."""
    everything = user.is_staff or user.is_superuser  # skip a subquery over every machine
    qs = (
        (Finding.objects.all() if everything else Finding.objects.visible_to(user))
        .select_related("machine", "machine__team", "acknowledged_by")
        # Lists show titles and summaries: leave the large JSON columns in the database.
        .defer(
            "evidence",
            "advice",
            "top_allocations",
            "machine__latest",
            "machine__pending_instructions",
        )
    )
    state = params.get("state", "open")
    if state in ("open", "resolved"):
        qs = qs.filter(state=state)
    if params.get("severity") in SEVERITIES:
        qs = qs.filter(severity=params["severity"])
    if params.get("rule"):
        qs = qs.filter(rule_id=params["rule"])
    if params.get("team"):
        qs = qs.filter(machine__team__slug=params["team"])
    if params.get("machine"):
        qs = qs.filter(machine__machine_id=params["machine"])
    if params.get("project"):
        qs = qs.filter(machine__machineproject__project__slug=params["project"])
    if params.get("quiet") == "hide":
        qs = qs.not_snoozed(now).filter(acknowledged_at__isnull=True)
    severity_first = Case(
        When(severity="critical", then=0), When(severity="warning", then=1), default=2
    )
    return qs.order_by(severity_first, "-last_seen", "-pk")


def machine_findings(machine: Machine) -> list[Finding]:
    """Open findings, worst first, each with its fix status and `devfleet-agent fix` command."""
    qs = Finding.objects.open().filter(machine=machine).select_related("caused_by")
    order = {"critical": 0, "warning": 1, "info": 2}
    found = sorted(qs, key=lambda f: (order.get(f.severity, 3), f.rule_id))
    return fixes.annotate(found, timezone_now())


def recent_fixes(machine: Machine, now: datetime, limit: int = 10) -> list[dict]:
    """Fixes reported by this machine's agent, newest first, with whether each helped."""
    out = []
    for fix in machine.fixes.select_related("finding").order_by("-applied_at", "-pk")[:limit]:
        status = fixes.status_of(fix.finding, fix, now) if fix.finding else None
        out.append({"fix": fix, "finding": fix.finding, "status": status})
    return out


def machine_findings_of(snapshots) -> list[Finding]:
    """Open findings of some machines (a developer's), worst first."""
    qs = Finding.objects.open().filter(machine_id__in=[s.pk for s in snapshots])
    order = {"critical": 0, "warning": 1, "info": 2}
    found = sorted(
        qs.select_related("machine"), key=lambda f: (order.get(f.severity, 3), f.rule_id)
    )
    return fixes.annotate(found, timezone_now())


def evidence_spans(machine: Machine, chart: str, since: datetime, until: datetime) -> list[dict]:
    """Shaded windows for the findings whose evidence belongs on `chart`, within the range."""
    spans = []
    qs = Finding.objects.filter(machine=machine, last_seen__gte=since, first_seen__lte=until)
    for f in qs.only("rule_id", "severity", "evidence", "title", "first_seen", "last_seen"):
        if chart_for(f.rule_id) != chart:
            continue
        window = (f.evidence or {}).get("window")
        try:
            start = datetime.fromtimestamp(float(window[0]), tz=timezone.utc)
            end = datetime.fromtimestamp(float(window[1]), tz=timezone.utc)
        except (TypeError, ValueError, IndexError):
            start, end = f.first_seen, f.last_seen
        if end <= start:  # no usable window in the evidence: the finding's own lifetime
            start, end = f.first_seen, max(f.last_seen, f.first_seen + timedelta(minutes=1))
        start, end = max(start, since), min(end, until)
        if start < end:
            spans.append({"start": start, "end": end, "severity": f.severity, "label": f.title})
    return spans


def act_on_finding(user, finding_id: int, action: str, duration: str, now: datetime) -> Finding:
    """The dashboard's buttons go through the API's service (visibility, state, audit).

    Raises Finding.DoesNotExist when the user may not see the finding, ActionError else."""
    if action == "snooze" and duration not in SNOOZE_CHOICES:
        raise ActionError(400, "invalid_request", "unknown snooze duration")
    body = {"duration": duration} if action == "snooze" else None
    return actions.act_on_finding(user, finding_id, action, now, body)
