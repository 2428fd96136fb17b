"""Sample sections that are mostly static per machine: RPC stats, disks, inotify, cgroup."""

from __future__ import annotations

from apps.simulator.fleet import MachineSpec


def rpc_stats(size: str, act: float, count: int) -> dict:
    # completion p95 stays well under 1 s on healthy machines (huge monorepos ~0.5 s)
    p50 = {"small": 20.0, "medium": 45.0, "large": 90.0, "huge": 150.0}[size] * (1 + 0.5 * act)
    return {
        "textDocument/completion": {
            "count": count,
            "errors": 0,
            "mean_ms": round(p50 * 1.3, 1),
            "p50_ms": round(p50, 1),
            "p95_ms": round(p50 * 2.5, 1),
            "p99_ms": round(p50 * 5, 1),
        }
    }


def disks(spec: MachineSpec) -> list[dict]:
    purposes = ["gocache", "gomodcache", "gopls_cache", "workspace", "home"]
    if spec.platform == "darwin":
        return [
            {
                "path": "/System/Volumes/Data",
                "purposes": purposes,
                "fstype": "apfs",
                "total_bytes": spec.disk_total,
            }
        ]
    if spec.platform == "windows":
        return [
            {"path": "C:\\", "purposes": purposes, "fstype": "NTFS", "total_bytes": spec.disk_total}
        ]
    disks = [{"path": "/", "purposes": purposes, "fstype": "ext4", "total_bytes": spec.disk_total}]
    if spec.problem("workspace_on_drvfs"):
        disks[0]["purposes"] = [*purposes[:3], "home"]
        disks.append(
            {
                "path": "/mnt/c",
                "purposes": ["workspace"],
                "fstype": "9p",
                "total_bytes": spec.disk_total,
            }
        )
    return disks


def inotify(spec: MachineSpec, used: int, procs: list[dict]) -> dict:
    editor = (
        "node"
        if spec.editor == "vscode-server"
        else {"vscode": "code", "cursor": "cursor", "neovim": "nvim"}.get(spec.editor, "code")
    )
    gopls_pid = procs[0]["pid"] if procs else 0
    gopls_w = 2 * len(procs)
    node_w = used // 9
    top = [
        {"pid": 2211, "name": editor, "watches": max(0, used - gopls_w - node_w), "instances": 2},
        {"pid": 2388, "name": "node", "watches": node_w, "instances": 1},
    ]
    if procs:
        top.insert(1, {"pid": gopls_pid, "name": "gopls", "watches": gopls_w, "instances": 1})
    if spec.problem("inotify_exhaustion"):
        top[0]["name"] = "code" if editor == "node" else editor
    return {
        "max_user_watches": spec.inotify_max,
        "max_user_instances": 128,
        "max_queued_events": 16384,
        "watches_used": used,
        "instances_used": 3 + len(procs),
        "top": top,
    }
