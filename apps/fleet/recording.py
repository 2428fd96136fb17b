"""Recording what agents report about a machine: identity, gopls lifetimes, projects, inventory."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime

import orjson
from django.db import IntegrityError, connection, transaction

from apps.common.shapes import go_version_label, parse_wsl_version, version_label
from apps.fleet.models import (
    GoplsProcess,
    InventoryChange,
    InventoryItem,
    Machine,
    MachineProject,
    Project,
)

IDENTITY_FIELDS = {
    "hostname": 255,
    "os_version": 255,
    "arch": 64,
    "kernel": 255,
}
INVENTORY_SECTIONS = (
    "tools",
    "gopls_binaries",
    "go_env",
    "goroot_check",
    "editor_settings",
    "wsl",
    "limits",
    "vendor",
)


def apply_identity(machine: Machine, facts: dict) -> list[str]:
    """Copy identity facts onto the machine; returns the changed field names (not saved)."""
    changed = []
    for field, limit in IDENTITY_FIELDS.items():
        value = facts.get(field)
        if isinstance(value, str) and value[:limit] != getattr(machine, field):
            setattr(machine, field, value[:limit])
            changed.append(field)
    if facts.get("os") in Machine.OS.values and facts["os"] != machine.os:
        machine.os = facts["os"]
        changed.append("os")
    for field in ("cpu_count", "mem_total_bytes"):
        if isinstance(facts.get(field), int) and facts[field] != getattr(machine, field):
            setattr(machine, field, facts[field])
            changed.append(field)
    if "wsl" in facts:
        wsl = facts.get("wsl") or {}
        wsl = wsl if isinstance(wsl, dict) else {}
        version = wsl.get("version") if wsl.get("version") in (1, 2) else None
        distro = str(wsl.get("distro") or "")[:255]
        if (version, distro) != (machine.wsl_version, machine.wsl_distro):
            machine.wsl_version, machine.wsl_distro = version, distro
            changed += ["wsl_version", "wsl_distro"]
        host, package = wsl_host_facts(wsl)
        if (host, package) != (machine.wsl_host_mem_total_bytes, machine.wsl_package_version):
            machine.wsl_host_mem_total_bytes, machine.wsl_package_version = host, package
            changed += ["wsl_host_mem_total_bytes", "wsl_package_version"]
    return changed


HOST_MEM_RANGE = (256 * 2**20, 2**50)  # a Windows host with 256 MiB to 1 PiB


def wsl_host_facts(wsl: dict) -> tuple[int | None, str]:
    """(Windows host RAM in bytes, WSL package version) from machine.wsl, each kept only when
    plausible and in strict form: None / "" (unknown) otherwise."""
    host = wsl.get("host_mem_total_bytes")
    ok = isinstance(host, int) and not isinstance(host, bool)
    host = host if ok and HOST_MEM_RANGE[0] <= host <= HOST_MEM_RANGE[1] else None
    package = wsl.get("wsl_version")
    return host, package if parse_wsl_version(package) else ""


def _digest(value) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record_inventory(machine: Machine, inventory: dict, at: datetime) -> int:
    """Store each present section as current state; append a history row when it changed."""
    current = {item.section: item for item in InventoryItem.objects.filter(machine=machine)}
    changes = 0
    for section in INVENTORY_SECTIONS:
        if section not in inventory:
            continue
        value = inventory[section]
        digest = _digest(value)
        item = current.get(section)
        if item is not None and item.digest == digest:
            continue
        InventoryChange.objects.create(
            machine=machine,
            section=section,
            old_value=item.value if item else None,
            new_value=value,
            changed_at=at,
        )
        InventoryItem.objects.update_or_create(
            machine=machine,
            section=section,
            defaults={"value": value, "digest": digest, "updated_at": at},
        )
        changes += 1
    return changes


def _project_for(module_path: str, at: datetime) -> Project:
    module_path = module_path[:512]
    project = Project.objects.filter(module_path=module_path).first()
    if project is not None:
        return project
    base = Project.slug_for(module_path)
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    try:
        with transaction.atomic():
            return Project.objects.create(
                module_path=module_path, slug=slug, first_seen=at, last_seen=at
            )
    except IntegrityError:  # another upload created it first
        return Project.objects.get(module_path=module_path)


def _lifetime_fields(proc: dict) -> dict:
    editor = proc.get("editor") or {}
    debug = proc.get("debug") or {}
    return {
        "exe": str(proc.get("exe") or "")[:4096],
        "argv": proc.get("argv") or [],
        # Versions are kept only in the strict form gopls and Go print (else "": unknown), so
        # no page, API, chart or advice ever shows or substitutes other agent text as one.
        "version": version_label(proc.get("version")),
        "version_source": str(proc.get("version_source") or "")[:128],
        "go_version": go_version_label(proc.get("go_version")),
        "editor": str(editor.get("kind") or "")[:32],
        "editor_process": str(editor.get("process") or "")[:255],
        "debug_addr": str(debug.get("addr") or "")[:255],
        "env": proc.get("env") or {},
        "cwd": str(proc.get("cwd") or "")[:4096],
        "workspace_roots": proc.get("workspace_roots") or [],
    }


# Lifetimes this worker process has already resolved: (machine pk, pid, start) → (process pk,
# digest of its static facts). A hit saves a SELECT per upload; a change of facts misses.
_LIFETIME_CACHE: dict[tuple[int, int, datetime], tuple[int, str]] = {}
_LIFETIME_CACHE_MAX = 50_000


def _facts_digest(proc: dict | None) -> str:
    if proc is None:
        return ""
    facts = {
        k: proc.get(k)
        for k in (
            "exe",
            "argv",
            "version",
            "version_source",
            "go_version",
            "editor",
            "env",
            "cwd",
            "workspace_roots",
            "projects",
        )
    }
    facts["debug_addr"] = (proc.get("debug") or {}).get("addr")
    return _digest(facts)


def resolve_processes(
    machine: Machine, entries: list[tuple[dict, datetime, datetime]]
) -> dict[tuple[int, datetime], int]:
    """Find or create the lifetimes for (process entry, start time, sample time) triples.

    Returns {(pid, start): GoplsProcess pk}. Static facts come from the first entry that
    carries them (later samples may omit them); first_seen/last_seen widen to the samples seen;
    projects are linked to the machine when a lifetime starts or its project changes.
    """
    seen: dict[tuple[int, datetime], tuple[datetime, datetime]] = {}
    facts: dict[tuple[int, datetime], dict] = {}
    for proc, start, ts in entries:
        key = (proc["pid"], start)
        lo, hi = seen.get(key, (ts, ts))
        seen[key] = (min(lo, ts), max(hi, ts))
        if proc.get("exe") or proc.get("argv") or proc.get("version") or proc.get("projects"):
            facts.setdefault(key, proc)
    if connection.vendor == "postgresql":
        return _resolve_upsert(machine, seen, facts)
    resolved: dict[tuple[int, datetime], int] = {}
    slow: list[tuple[int, datetime]] = []
    for key in seen:
        cached = _LIFETIME_CACHE.get((machine.pk, *key))
        if cached and (key not in facts or cached[1] == _facts_digest(facts[key])):
            resolved[key] = cached[0]
        else:
            slow.append(key)
    if slow:
        resolved.update(_resolve_slow(machine, slow, seen, facts))
    fast = [key for key in seen if key not in slow]
    if fast:
        _widen_last_seen([(resolved[key], seen[key][1]) for key in fast])
    return resolved


# Lifetime facts as (column, PostgreSQL type, value kept when the agent sends nothing).
_UPSERT_FACTS = [
    ("exe", "text", ""),
    ("argv", "jsonb", "[]"),
    ("version", "text", ""),
    ("version_source", "text", ""),
    ("go_version", "text", ""),
    ("editor", "text", ""),
    ("editor_process", "text", ""),
    ("debug_addr", "text", ""),
    ("env", "jsonb", "{}"),
    ("cwd", "text", ""),
    ("workspace_roots", "jsonb", "[]"),
]


@functools.cache
def _upsert_sql() -> str:
    table = GoplsProcess._meta.db_table
    project_table = Project._meta.db_table
    facts = [c for c, _, _ in _UPSERT_FACTS]
    declared = ["pid numeric", "start_time timestamptz", "first_seen timestamptz"]
    declared += ["last_seen timestamptz"] + [f"{c} {pg_type}" for c, pg_type, _ in _UPSERT_FACTS]
    # A fact the agent sent (not empty) replaces the stored one; an empty one keeps it, as the
    # ORM path does. first_seen/last_seen only ever widen, so replays and races are harmless.
    sets = [
        "first_seen = LEAST(t.first_seen, EXCLUDED.first_seen)",
        "last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)",
    ]
    for column, pg_type, empty in _UPSERT_FACTS:
        sets.append(
            f"{column} = CASE WHEN EXCLUDED.{column} <> '{empty}'::{pg_type}"
            f" THEN EXCLUDED.{column} ELSE t.{column} END"
        )
    return (
        f"WITH up AS (INSERT INTO {table} AS t"
        f" (machine_id, pid, start_time, first_seen, last_seen, {', '.join(facts)})"
        f" SELECT %s, r.pid::integer, r.start_time, r.first_seen, r.last_seen,"
        f" {', '.join('r.' + c for c in facts)}"
        f" FROM json_to_recordset(%s::json) AS r({', '.join(declared)})"
        f" ON CONFLICT (machine_id, pid, start_time) DO UPDATE SET {', '.join(sets)}"
        " RETURNING t.id, t.pid, t.start_time, t.project_id, (t.xmax = 0) AS created)"
        " SELECT up.id, up.pid, up.start_time, up.project_id, up.created, p.module_path"
        f" FROM up LEFT JOIN {project_table} p ON p.id = up.project_id"
    )


def _resolve_upsert(machine, seen, facts) -> dict[tuple[int, datetime], int]:
    """PostgreSQL: create or widen every lifetime of an upload in one statement.

    Same outcome as the ORM path (and no per-process cache to warm up after a restart, which
    matters with many web workers and a large fleet); project links still go through
    link_projects when a lifetime starts or its project changes.
    """
    keys = sorted(seen)  # a stable order: concurrent uploads lock the rows in the same order
    rows = [
        {
            "pid": pid,
            "start_time": start,
            "first_seen": seen[(pid, start)][0],
            "last_seen": seen[(pid, start)][1],
            **_lifetime_fields(facts.get((pid, start)) or {}),
        }
        for pid, start in keys
    ]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), [machine.pk, orjson.dumps(rows).decode()])
        returned = cursor.fetchall()
    resolved = {}
    for pk, pid, start, project_id, created, module_path in returned:
        key = (pid, start)
        resolved[key] = pk
        proc = facts.get(key)
        projects = [
            p for p in (proc or {}).get("projects") or [] if isinstance(p, dict) and p.get("module")
        ]
        if projects and (created or projects[0]["module"][:512] != module_path):
            project = link_projects(machine, projects, seen[key][1])
            if project.pk != project_id:
                GoplsProcess.objects.filter(pk=pk).update(project=project)
    return resolved


def _widen_last_seen(pairs: list[tuple[int, datetime]]) -> None:
    # One statement; only ever moves last_seen forward, so replays and races are harmless.
    for pk, hi in pairs:
        GoplsProcess.objects.filter(pk=pk, last_seen__lt=hi).update(last_seen=hi)


def _resolve_slow(machine, keys, seen, facts) -> dict[tuple[int, datetime], int]:
    pids = {pid for pid, _ in keys}
    existing = {
        (p.pid, p.start_time): p
        for p in GoplsProcess.objects.filter(machine=machine, pid__in=pids).select_related(
            "project"
        )
    }
    resolved = {}
    for key in keys:
        lo, hi = seen[key]
        proc = facts.get(key)
        process = existing.get(key)
        is_new = process is None
        if is_new:
            fields = _lifetime_fields(proc or {})
            process, _ = GoplsProcess.objects.get_or_create(
                machine=machine,
                pid=key[0],
                start_time=key[1],
                defaults={**fields, "first_seen": lo, "last_seen": hi},
            )
        update = {}
        if hi > process.last_seen:
            update["last_seen"] = hi
        if lo < process.first_seen:
            update["first_seen"] = lo
        if proc is not None:
            for field, value in _lifetime_fields(proc).items():
                if value and value != getattr(process, field):
                    update[field] = value
            projects = [
                p for p in proc.get("projects") or [] if isinstance(p, dict) and p.get("module")
            ]
            known = process.project.module_path if process.project_id else None
            # Linking costs queries, so it runs when a lifetime starts or its project changes.
            if projects and (is_new or projects[0]["module"][:512] != known):
                project = link_projects(machine, projects, hi)
                if project.pk != process.project_id:
                    update["project"] = project
        if update:
            GoplsProcess.objects.filter(pk=process.pk).update(**update)
        resolved[key] = process.pk
        if proc is not None or is_new:
            # Only after commit: a rolled-back upload must not leave a pk that never existed.
            entry = ((machine.pk, *key), (process.pk, _facts_digest(proc)))
            transaction.on_commit(lambda entry=entry: _remember(*entry))
    return resolved


def _remember(key: tuple[int, int, datetime], value: tuple[int, str]) -> None:
    if len(_LIFETIME_CACHE) >= _LIFETIME_CACHE_MAX:
        _LIFETIME_CACHE.clear()
    _LIFETIME_CACHE[key] = value


def forget_lifetimes() -> None:
    """Drop the lifetime cache (tests, and after retention deletes lifetimes)."""
    _LIFETIME_CACHE.clear()


def link_projects(machine: Machine, projects: list[dict], at: datetime) -> Project:
    """Create projects and machine links as needed; returns the first (primary) project."""
    primary = None
    for entry in projects:
        project = _project_for(entry["module"], at)
        primary = primary or project
        link, created = MachineProject.objects.get_or_create(
            machine=machine,
            project=project,
            defaults={
                "root": str(entry.get("root") or "")[:4096],
                "first_seen": at,
                "last_seen": at,
            },
        )
        if not created and link.last_seen < at:
            MachineProject.objects.filter(pk=link.pk).update(last_seen=at)
        if project.last_seen < at:
            Project.objects.filter(pk=project.pk).update(last_seen=at)
    return primary
