"""Leak evidence: ask the agent for a heap profile, parse the symbolized text, attach top sites."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import datetime, timezone

from django.db import transaction

from apps.anomalies.models import Finding, FindingEvent
from apps.fleet.models import GoplsProcess, Machine
from apps.metrics.models import HeapProfile

_RECORD_RE = re.compile(r"^\s*(\d+):\s*(\d+)\s*\[\s*(\d+):\s*(\d+)\s*\]\s*@")
_FRAME_RE = re.compile(r"^#\s+0x[0-9a-f]+\s+(\S+?)(?:\+0x[0-9a-f]+)?\s+(\S+):(\d+)\s*$")
SKIP_PREFIXES = ("runtime.", "reflect.", "sync.", "internal/")


def parse_heap_profile(text: str, top: int = 10) -> list[dict]:
    """Top allocation sites by bytes in use from a `/debug/pprof/heap?debug=1` profile.

    A site is the first frame of a record outside the runtime, so `make`/`newobject` frames
    point at the gopls code that allocated.
    """
    sites: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    current: list[int] | None = None
    site_found = False
    for line in text.splitlines():
        m = _RECORD_RE.match(line)
        if m:
            current, site_found = [int(m.group(1)), int(m.group(2))], False
            continue
        if line.startswith("# runtime.MemStats"):
            break
        f = _FRAME_RE.match(line)
        if f and current is not None and not site_found:
            func, path, lineno = f.group(1), f.group(2), int(f.group(3))
            if func.startswith(SKIP_PREFIXES):
                continue
            entry = sites[(func, path, lineno)]
            entry[0] += current[1]
            entry[1] += current[0]
            site_found = True
    ranked = sorted(sites.items(), key=lambda kv: -kv[1][0])[:top]
    return [
        {"function": func, "file": f"{path}:{lineno}", "inuse_bytes": b, "inuse_objects": n}
        for (func, path, lineno), (b, n) in ranked
        if b > 0
    ]


def request_profile(finding: Finding, process_pk: int | None, now: datetime) -> str | None:
    """Queue a capture request in the machine's pending instructions (returned to its agent
    with the next upload). Once per finding; needs a known lifetime."""
    if finding.profile_request_id or process_pk is None:
        return None
    process = GoplsProcess.objects.filter(pk=process_pk).values("pid", "start_time").first()
    if process is None:
        return None
    request_id = uuid.uuid4().hex
    with transaction.atomic():
        machine = Machine.objects.select_for_update().get(pk=finding.machine_id)
        pending = dict(machine.pending_instructions or {})
        requests = list(pending.get("capture_profiles", []))
        requests.append(
            {
                "request_id": request_id,
                "pid": process["pid"],
                "start_time": process["start_time"]
                .astimezone(timezone.utc)
                .isoformat()
                .replace("+00:00", "Z"),
                "kinds": ["heap", "goroutine"],
            }
        )
        pending["capture_profiles"] = requests[-8:]
        Machine.objects.filter(pk=machine.pk).update(pending_instructions=pending)
        finding.profile_request_id = request_id
        Finding.objects.filter(pk=finding.pk).update(profile_request_id=request_id)
    return request_id


def attach_profiles(findings: list[Finding], now: datetime) -> int:
    """Attach parsed top allocation sites to findings whose requested heap profile arrived."""
    waiting = {
        f.profile_request_id: f for f in findings if f.profile_request_id and not f.top_allocations
    }
    if not waiting:
        return 0
    attached = 0
    for request_id, machine_id, text, error in HeapProfile.objects.filter(
        request_id__in=list(waiting), kind="heap"
    ).values_list("request_id", "machine_id", "text", "error"):
        finding = waiting[request_id]
        if machine_id != finding.machine_id:
            continue
        sites = parse_heap_profile(text) if text else []
        with transaction.atomic():
            finding.top_allocations = sites or [{"error": error or "empty profile"}]
            Finding.objects.filter(pk=finding.pk).update(top_allocations=finding.top_allocations)
            FindingEvent.objects.create(
                finding=finding,
                kind=FindingEvent.Kind.PROFILE,
                at=now,
                severity=finding.severity,
                detail={"request_id": request_id, "sites": len(sites)},
            )
        attached += 1
    return attached
