"""Process rules: no debug server, too many gopls, orphans, crash loops."""

from __future__ import annotations

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.config_lint import flag_names


def _is_daemon(proc) -> bool:
    names = flag_names(proc.argv[1:])
    return "listen" in names


@rule("gopls_no_debug_server", category="observability")
def gopls_no_debug_server(snapshot, th) -> list[Detection]:
    out = []
    for proc in snapshot.alive():
        has_heap = proc.last("heap") is not None
        if proc.debug_addr or has_heap or "debug" in flag_names(proc.argv[1:]):
            continue
        out.append(
            Detection(
                "gopls_no_debug_server",
                fired=True,
                severity="info",
                subject=proc.subject,
                evidence={"pid": proc.pid, "argv": proc.argv[:20]},
                explanation=f"gopls pid {proc.pid} runs without -debug: "
                "the fleet sees its RSS only, "
                "not its heap, goroutines or latency",
                facts={"editor": proc.editor, "gopls_version": proc.version},
            )
        )
    return out


@rule("too_many_gopls", category="processes")
def too_many_gopls(snapshot, th) -> list[Detection]:
    p = th["too_many_gopls"]
    servers = [proc for proc in snapshot.alive() if not _is_daemon(proc)]
    if len(servers) <= p["max_total"]:
        return []
    rss = sum(proc.last("rss") or 0 for proc in servers)
    by_editor: dict[str, int] = {}
    for proc in servers:
        by_editor[proc.editor or "none"] = by_editor.get(proc.editor or "none", 0) + 1
    return [
        Detection(
            "too_many_gopls",
            fired=True,
            severity="warning",
            subject="gopls_processes",
            evidence={
                "count": len(servers),
                "by_editor": by_editor,
                "rss_bytes": rss,
                "pids": [proc.pid for proc in servers][:32],
            },
            explanation=f"{len(servers)} gopls servers run at once "
            f"({rss / 2**30:.1f} GiB RSS together)",
        )
    ]


@rule("gopls_orphan", category="processes")
def gopls_orphan(snapshot, th) -> list[Detection]:
    return [
        Detection(
            "gopls_orphan",
            fired=True,
            severity="info",
            subject=proc.subject,
            evidence={"pid": proc.pid, "rss_bytes": proc.last("rss"), "started": proc.start_ts},
            explanation=f"gopls pid {proc.pid} has no editor parent: left behind by an editor",
        )
        for proc in snapshot.alive()
        if proc.editor in ("", "none", "orphan") and not _is_daemon(proc)
    ]


@rule("gopls_crash_loop", category="processes")
def gopls_crash_loop(snapshot, th) -> list[Detection]:
    p = th["gopls_crash_loop"]
    since = snapshot.now - p["lookback_minutes"] * 60
    short = sorted(
        (
            proc
            for proc in snapshot.processes
            if proc.start_ts >= since
            and proc.last_ts - proc.start_ts < p["short_lifetime_s"]
            and snapshot.now - proc.last_ts > 30
        ),
        key=lambda proc: proc.start_ts,
    )
    if len(short) < p["count"]:
        return []
    return [
        Detection(
            "gopls_crash_loop",
            fired=True,
            severity="critical",
            subject="gopls_lifetimes",
            evidence={
                "short_lifetimes": len(short),
                "lifetimes": [
                    {"pid": x.pid, "start": x.start_ts, "seconds": round(x.last_ts - x.start_ts)}
                    for x in short[-10:]
                ],
                "window": [since, snapshot.now],
            },
            explanation=f"{len(short)} gopls lifetimes under {p['short_lifetime_s']} s in the last "
            f"{p['lookback_minutes']} min: gopls keeps exiting and restarting",
        )
    ]
