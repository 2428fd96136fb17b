"""Plain-dict renderings of machines and findings for the JSON API."""

from __future__ import annotations

from apps.anomalies.models import Finding


def iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def machine_summary(machine) -> dict:
    return {
        "machine_id": machine.machine_id,
        "hostname": machine.hostname,
        "os": machine.os,
        "os_version": machine.os_version,
        "arch": machine.arch,
        "kernel": machine.kernel,
        "platform": machine.platform,
        "wsl": {"version": machine.wsl_version, "distro": machine.wsl_distro}
        if machine.wsl_version
        else None,
        "team": machine.team.name,
        "owner": machine.owner.get_username() if machine.owner_id else None,
        "agent_version": machine.agent_version,
        "first_seen": iso(machine.first_seen),
        "last_seen": iso(machine.last_seen),
        "last_sample_at": iso(machine.last_sample_at),
        "clock_skew_s": machine.clock_skew_s,
        "url": f"/api/v1/machines/{machine.machine_id}/",
    }


def gopls_lifetime(process) -> dict:
    return {
        "id": process.pk,
        "pid": process.pid,
        "start_time": iso(process.start_time),
        "first_seen": iso(process.first_seen),
        "last_seen": iso(process.last_seen),
        "version": process.version,
        "version_source": process.version_source,
        "go_version": process.go_version,
        "exe": process.exe,
        "argv": process.argv,
        "editor": process.editor,
        "debug_addr": process.debug_addr,
        "env": process.env,
        "workspace_roots": process.workspace_roots,
        "project": process.project.module_path if process.project_id else None,
    }


def machine_detail(machine, processes, inventory, projects) -> dict:
    data = machine_summary(machine)
    data.update(
        cpu_count=machine.cpu_count,
        mem_total_bytes=machine.mem_total_bytes,
        latest=machine.latest,
        gopls_processes=[gopls_lifetime(p) for p in processes],
        projects=[
            {
                "module": link.project.module_path,
                "slug": link.project.slug,
                "root": link.root,
                "last_seen": iso(link.last_seen),
            }
            for link in projects
        ],
        inventory={
            item.section: {"value": item.value, "updated_at": iso(item.updated_at)}
            for item in inventory
        },
    )
    return data


def finding(f: Finding, *, events: bool = False) -> dict:
    data = {
        "id": f.pk,
        "machine_id": f.machine.machine_id,
        "hostname": f.machine.hostname,
        "rule_id": f.rule_id,
        "subject": f.subject,
        "severity": f.severity,
        "state": f.state,
        "title": f.title,
        "summary": f.summary,
        "evidence": f.evidence,
        "advice": f.advice,
        "first_seen": iso(f.first_seen),
        "last_seen": iso(f.last_seen),
        "resolved_at": iso(f.resolved_at),
        "acknowledged_at": iso(f.acknowledged_at),
        "snoozed_until": iso(f.snoozed_until),
        "caused_by": f.caused_by_id,
        "top_allocations": f.top_allocations,
    }
    if events:
        data["events"] = [
            {"kind": e.kind, "at": iso(e.at), "severity": e.severity, "detail": e.detail}
            for e in f.events.all()
        ]
    return data
