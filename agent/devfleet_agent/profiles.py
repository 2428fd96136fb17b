"""Heap/goroutine profile capture on a server request (only when allow_profiles is set)."""

from __future__ import annotations

from typing import Any

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.probes import debugclient
from devfleet_agent.timefmt import iso, parse_iso

PATHS = {"heap": "/debug/pprof/heap?debug=1", "goroutine": "/debug/pprof/goroutine?debug=1"}


def capture(ctx: CollectorContext, request: dict[str, Any]) -> list[dict[str, Any]]:
    """One profile dict per requested kind; failures are reported in the profile's `error`."""
    rid = str(request.get("request_id", ""))[:64]
    asked = request.get("kinds") or ["heap", "goroutine"]
    if not isinstance(asked, list):
        asked = []
    kinds = [k for k in asked if isinstance(k, str) and k in PATHS]
    pid = request.get("pid")
    base = {"request_id": rid, "pid": pid if isinstance(pid, int) and pid >= 0 else None,
            "start_time": request.get("start_time"), "captured_at": iso(), "text": "",
            "truncated": False, "error": None}
    if base["start_time"] is not None:
        try:
            parse_iso(str(base["start_time"]))
        except ValueError:
            base["start_time"] = None
    out = []
    if not ctx.config.allow_profiles:
        for kind in kinds:
            out.append(dict(base, kind=kind,
                            error="profile capture is disabled on this machine (allow_profiles)"))
        return out
    target, problem = _target(ctx, request)
    for kind in kinds:
        entry = dict(base, kind=kind)
        if target is None:
            entry["error"] = problem
        else:
            try:
                text, truncated = debugclient.fetch(
                    target[0], target[1], PATHS[kind], max(ctx.config.debug_timeout_s, 10.0),
                    ctx.config.profile_max_bytes)
                entry.update(text=text, truncated=truncated)
            except debugclient.DebugServerError as exc:
                entry["error"] = str(exc)[:2000]
        out.append(entry)
    return out


def _target(ctx: CollectorContext, request: dict[str, Any]) -> tuple[Any, str]:
    pid = request.get("pid")
    proc = ctx.facts.gopls.get(pid) if isinstance(pid, int) else None
    if proc is None:
        return None, f"no gopls process with pid {request.get('pid')}"
    wanted = request.get("start_time")
    if wanted:
        try:
            if abs(parse_iso(str(wanted)) - proc.create_time) > 2.0:
                return None, "pid was reused: start time does not match"
        except ValueError:
            return None, f"bad start_time {wanted!r}"
    target = proc.debug_host_port
    if not target:
        return None, "this gopls has no reachable debug server (-debug=localhost:PORT)"
    return target, ""
