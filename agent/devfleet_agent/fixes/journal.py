"""The local fix journal, timestamped backups, and which journal entries the server has seen.

Everything lives under <state dir>/fixes/: journal.jsonl (one JSON object per line, appended),
backups/ (mode 0700, one file per changed file, mode 0600) and reported.json (entry ids the
server acknowledged in an upload).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from devfleet_agent.timefmt import iso

REPORT_LIMIT = 64


def fixes_dir(state_dir: Path) -> Path:
    return state_dir / "fixes"


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def write_backup(state_dir: Path, finding: int, index: int, name: str, data: bytes) -> Path:
    """A copy of the file as it was, named by finding, time and action: never overwritten."""
    folder = fixes_dir(state_dir) / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(folder, 0o700)
    except OSError:
        pass
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]
    path = folder / f"{finding}-{stamp}-{index}-{uuid.uuid4().hex[:6]}-{safe}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def record(state_dir: Path, **entry: Any) -> dict[str, Any]:
    """Append one entry (id and time added) and return it."""
    entry = {"id": uuid.uuid4().hex, "at": iso(), **entry}
    folder = fixes_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True) + "\n"
    with open(folder / "journal.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line)  # one write of one line: concurrent appends do not interleave
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def entries(state_dir: Path) -> list[dict[str, Any]]:
    """Every readable entry, oldest first (a torn last line is skipped)."""
    try:
        text = (fixes_dir(state_dir) / "journal.jsonl").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out.append(item)
    return out


def undoable(state_dir: Path, finding: int) -> list[dict[str, Any]]:
    """Applied file changes of a finding not undone yet, newest first."""
    items = entries(state_dir)
    undone = {e.get("undoes") for e in items if e.get("outcome") == "undone"}
    return [e for e in reversed(items) if e.get("finding") == finding
            and e.get("outcome") == "applied" and e.get("backup") is not None
            and e["id"] not in undone]


def _reported_file(state_dir: Path) -> Path:
    return fixes_dir(state_dir) / "reported.json"


def reported_ids(state_dir: Path) -> set[str]:
    try:
        data = json.loads(_reported_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    ids = data.get("ids") if isinstance(data, dict) else None
    return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()


def pending_reports(state_dir: Path) -> list[dict[str, Any]]:
    """Journal entries the server has not acknowledged, as the report's `fixes` items."""
    seen = reported_ids(state_dir)
    out = []
    for e in entries(state_dir):
        if e["id"] in seen or e.get("outcome") not in ("applied", "failed", "undone"):
            continue
        if not isinstance(e.get("finding"), int) or not isinstance(e.get("action"), dict):
            continue
        out.append({"id": e["id"], "finding_id": e["finding"],
                    "rule_id": str(e.get("rule_id") or "")[:64], "action": e["action"],
                    "applied_at": e["at"], "outcome": e["outcome"],
                    "detail": str(e.get("detail") or "")[:500]})
        if len(out) >= REPORT_LIMIT:
            break
    return out


def mark_reported(state_dir: Path, ids: list[str]) -> None:
    if not ids:
        return
    known = reported_ids(state_dir) | set(ids)
    live = {e["id"] for e in entries(state_dir)}
    folder = fixes_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"reported.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"ids": sorted(known & live)}), encoding="utf-8")
    os.replace(tmp, _reported_file(state_dir))
