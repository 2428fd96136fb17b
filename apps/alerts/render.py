"""Render an outbox row (with its group and cause chain) into a transport Message."""

from __future__ import annotations

from django.template.loader import render_to_string

from apps.alerts.tokens import ack_url, machine_url
from apps.alerts.transports import Message

SKIP_EVIDENCE = {"series", "window", "settled_at", "explains", "pid", "points"}
HEADINGS = {
    "opened": "{title}",
    "escalated": "Escalated: {title}",
    "repeat": "Still open: {title}",
    "resolved": "Resolved: {title}",
}


def figures(evidence: dict, limit: int = 12) -> list[str]:
    """The evidence figures worth reading in a message (no series, no raw windows), by name:
    PostgreSQL's jsonb does not keep key order.
    """
    out = []
    for name, value in sorted(evidence.items()):
        if name in SKIP_EVIDENCE or isinstance(value, (list, dict)):
            continue
        out.append(f"{name.replace('_', ' ')}: {value}")
    return out[:limit]


def first_step(advice: dict) -> str:
    steps = advice.get("steps") or []
    if not steps:
        return advice.get("summary", "")
    step = steps[0]
    extra = step.get("command") or step.get("setting") or ""
    return f"{step.get('text', '')}" + (f" `{extra}`" if extra else "")


def describe_machine(finding) -> dict:
    machine = finding.machine
    owner = machine.owner
    return {
        "machine": machine.hostname or machine.machine_id,
        "developer": (owner.get_full_name() or owner.username) if owner else machine.owner_hint,
        "project": ", ".join(p.slug for p in machine.projects.all()[:3]),
        "team": machine.team.name,
    }


def render_finding(row, members: list) -> Message:
    finding = row.finding
    who = describe_machine(finding)
    title = HEADINGS.get(row.kind, "{title}").format(title=finding.title)
    lines = [
        f"Severity: {finding.severity}",
        f"Machine: {who['machine']}",
        f"Developer: {who['developer'] or 'unknown'}",
        f"Project: {who['project'] or '-'}",
        *figures(finding.evidence),
    ]
    step = first_step(finding.advice)
    if step and row.kind != "resolved":
        lines.append(f"First fix: {step}")
    explained = list(finding.explains.all()) if row.kind != "resolved" else []
    if explained:
        title = f"{title} (root cause of {len(explained)} more)"
        lines.append("Root cause of: " + "; ".join(f"{f.title} ({f.rule_id})" for f in explained))
    if finding.caused_by_id:
        lines.append(f"Caused by: {finding.caused_by.title} ({finding.caused_by.rule_id})")
    if members:
        title = f"{finding.title} on {len(members) + 1} machines"
        names = [who["machine"]] + [describe_machine(m.finding)["machine"] for m in members]
        lines.append("Machines: " + ", ".join(names))
    links = [
        (describe_machine(m.finding)["machine"], machine_url(m.finding.machine.machine_id))
        for m in members
    ]
    text = finding.summary or finding.title
    link = machine_url(finding.machine.machine_id)
    ack = ack_url(finding.pk) if row.kind != "resolved" else ""
    html = render_to_string(
        "alerts/emails/finding.html",
        {"title": title, "text": text, "lines": lines, "link": link, "ack_link": ack,
         "links": links},
    )  # fmt: skip
    return Message(
        str(row.key), row.kind, finding.severity, title, text, lines, link, ack, html, links
    )


def render(row, members: list | None = None) -> Message:
    if row.finding_id:
        return render_finding(row, members or [])
    ctx = row.context or {}
    title = ctx.get("title") or row.get_kind_display()
    return Message(
        key=str(row.key),
        kind=row.kind,
        severity=ctx.get("severity", "info"),
        title=title,
        text=ctx.get("text", title),
        lines=list(ctx.get("lines", [])),
        link=ctx.get("link", ""),
    )
