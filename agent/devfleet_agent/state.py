"""Files in the state dir: the credential (mode 0600), the status shown by `status`, machine id."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def _write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.chmod(tmp, mode)
    except OSError:
        pass
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class State:
    """credential.json, status.json and machine_id under one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def credential_file(self) -> Path:
        return self.dir / "credential.json"

    @property
    def status_file(self) -> Path:
        return self.dir / "status.json"

    @property
    def spool_file(self) -> Path:
        return self.dir / "spool.sqlite"

    def credential(self) -> dict[str, Any] | None:
        return _read_json(self.credential_file)

    def save_credential(self, data: dict[str, Any]) -> None:
        _write_json(self.credential_file, data, mode=0o600)

    def status(self) -> dict[str, Any]:
        return _read_json(self.status_file) or {}

    def update_status(self, **changes: Any) -> dict[str, Any]:
        with _LOCK:
            current = self.status()
            current.update(changes)
            _write_json(self.status_file, current)
            return current
