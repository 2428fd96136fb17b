"""Pure mapping from report-v1 samples to storage columns; what is not a column goes to detail."""

from __future__ import annotations

from typing import Any

from apps.metrics.catalog import GOPLS, SYSTEM

# The wire paths come from the catalogue; columns without one (load1, disk_free_min_bytes,
# gopls_count, gopls_rss_bytes, error_count, completion_p95_ms) are computed below.
# (column, section, key) — the section of a sample and the key inside it.
SYSTEM_COLUMNS: list[tuple[str, str, str]] = [
    (e.column, *e.wire) for e in SYSTEM if e.wire and len(e.wire) == 2
]
# The largest value a 64-bit column holds; a sum over processes is capped there.
MAX_BIGINT = 2**63 - 1
CACHE_COLUMNS = [e.column for e in SYSTEM if e.wire and e.wire[:2] == ("go", "caches")]

GOPLS_COLUMNS: list[tuple[str, tuple[str, ...]]] = [(e.column, e.wire) for e in GOPLS if e.wire]
# Static facts of a gopls lifetime: stored once on GoplsProcess, not repeated per sample.
GOPLS_LIFETIME_KEYS = {
    "pid",
    "start_time",
    "exe",
    "argv",
    "flags",
    "version",
    "version_source",
    "go_version",
    "editor",
    "cwd",
    "workspace_roots",
    "projects",
    "env",
}


def _section(sample: dict, name: str) -> dict:
    value = sample.get(name)
    return value if isinstance(value, dict) else {}


def _dig(data: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def system_row(sample: dict) -> tuple[dict, dict]:
    """Return (columns, detail) for one sample; detail keeps every value not in a column."""
    columns: dict[str, Any] = {}
    for column, section, key in SYSTEM_COLUMNS:
        columns[column] = _section(sample, section).get(key)
    system = _section(sample, "system")
    load = system.get("load")
    columns["load1"] = load[0] if isinstance(load, list) and load else None
    caches = _section(_section(sample, "go"), "caches")
    for column in CACHE_COLUMNS:
        columns[column] = caches.get(column)
    disks = [d for d in system.get("disks") or [] if isinstance(d, dict)]
    free = [d.get("free_bytes") for d in disks if isinstance(d.get("free_bytes"), int)]
    columns["disk_free_min_bytes"] = min(free) if free else None
    processes = [p for p in sample.get("gopls") or [] if isinstance(p, dict)]
    columns["gopls_count"] = len(processes)
    rss = [p.get("rss_bytes") for p in processes if isinstance(p.get("rss_bytes"), int)]
    columns["gopls_rss_bytes"] = min(sum(rss), MAX_BIGINT) if rss else None
    columns["error_count"] = len(sample.get("errors") or [])

    detail = {
        key: value
        for key, value in sample.items()
        if key not in {"id", "collected_at", "system", "inotify", "wsl", "gopls", "go", "agent"}
    }
    _keep_rest(detail, "system", system, {c[2] for c in SYSTEM_COLUMNS if c[1] == "system"})
    for section in ("inotify", "wsl", "agent"):
        keys = {c[2] for c in SYSTEM_COLUMNS if c[1] == section}
        _keep_rest(detail, section, _section(sample, section), keys)
    go = {k: v for k, v in _section(sample, "go").items() if k != "caches"}
    rest_caches = {k: v for k, v in caches.items() if k not in CACHE_COLUMNS}
    if rest_caches:
        go["caches"] = rest_caches
    if go:
        detail["go"] = go
    return columns, detail


def _keep_rest(detail: dict, name: str, section: dict, stored: set[str]) -> None:
    rest = {k: v for k, v in section.items() if k not in stored}
    if rest:
        detail[name] = rest


def gopls_row(process: dict) -> tuple[dict, dict]:
    """Return (columns, detail) for one gopls process entry of a sample."""
    columns = {column: _dig(process, path) for column, path in GOPLS_COLUMNS}
    rpc = _dig(process, ("debug", "rpc")) or {}
    completion = rpc.get("textDocument/completion") if isinstance(rpc, dict) else None
    columns["completion_p95_ms"] = (
        completion.get("p95_ms") if isinstance(completion, dict) else None
    )
    stored_top = {path[0] for _, path in GOPLS_COLUMNS if len(path) == 1}
    detail = {
        k: v
        for k, v in process.items()
        if k not in stored_top
        and k not in GOPLS_LIFETIME_KEYS
        and k not in {"debug", "children", "cgroup"}
    }
    for name in ("debug", "children", "cgroup"):
        stored = {path[1] for _, path in GOPLS_COLUMNS if len(path) == 2 and path[0] == name}
        rest = {k: v for k, v in (process.get(name) or {}).items() if k not in stored}
        if rest:
            detail[name] = rest
    return columns, detail
