"""The compact summary of a machine's newest sample, kept on the machine for fleet-wide views."""

from __future__ import annotations

from datetime import datetime

from apps.common.shapes import go_version_label, version_label


def latest_summary(sample: dict, columns: dict) -> dict:
    """Pure: report-v1 sample + its storage columns → small JSON for lists and health badges."""
    ts: datetime = columns["ts"]
    processes = []
    for proc in sample.get("gopls") or []:
        debug = proc.get("debug") or {}
        editor = proc.get("editor") or {}
        projects = proc.get("projects") or []
        processes.append(
            {
                "pid": proc.get("pid"),
                "rss_bytes": proc.get("rss_bytes"),
                "cpu_percent": proc.get("cpu_percent"),
                "heap_inuse_bytes": debug.get("heap_inuse_bytes"),
                "goroutines": debug.get("goroutines"),
                "version": version_label(proc.get("version")) or None,
                "go_version": go_version_label(proc.get("go_version")) or None,
                "completion_p95_ms": (
                    ((debug.get("rpc") or {}).get("textDocument/completion") or {}).get("p95_ms")
                ),
                "editor": editor.get("kind"),
                "project": projects[0].get("module")
                if projects and isinstance(projects[0], dict)
                else None,
            }
        )
    keys = [
        "mem_total_bytes",
        "mem_available_bytes",
        "swap_used_bytes",
        "cpu_percent",
        "oom_kill_count",
        "inotify_watches_used",
        "inotify_watches_max",
        "inotify_instances_used",
        "inotify_instances_max",
        "wsl_mem_total_bytes",
        "disk_free_min_bytes",
        "gocache_bytes",
        "gomodcache_bytes",
        "gopls_cache_bytes",
        "gopls_count",
        "gopls_rss_bytes",
        "agent_rss_bytes",
        "spool_depth",
        "dropped_samples",
    ]
    summary = {key: columns.get(key) for key in keys}
    summary["ts"] = ts.isoformat().replace("+00:00", "Z")
    summary["gopls"] = processes[:16]
    # What detection reads from the newest sample's detail, so a fleet pass reads no detail.
    top = (sample.get("inotify") or {}).get("top")
    summary["inotify_top"] = (
        [e for e in top if isinstance(e, dict)][:20] if isinstance(top, list) else []
    )
    drvfs = (sample.get("wsl") or {}).get("workspaces_on_drvfs")
    summary["drvfs_workspaces"] = [str(w) for w in drvfs][:20] if isinstance(drvfs, list) else []
    summary["disks"] = disk_mounts(sample)
    return summary


def disk_mounts(sample: dict) -> list[dict]:
    """The newest sample's volumes: mount path, filesystem type and what lives there (the
    cache-placement rules match go env paths against them)."""
    disks = (sample.get("system") or {}).get("disks")
    out = []
    for d in disks if isinstance(disks, list) else []:
        if isinstance(d, dict) and isinstance(d.get("path"), str):
            purposes = d.get("purposes") if isinstance(d.get("purposes"), list) else []
            out.append(
                {
                    "path": d["path"][:1024],
                    "fstype": str(d.get("fstype") or "")[:64],
                    "purposes": [str(x)[:32] for x in purposes][:8],
                }
            )
    return out[:16]
