"""Workspace → project: the module path from the nearest go.mod (or the repository name)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

_MODULE = re.compile(r'^\s*module\s+"?([^"\s/]+[^"\s]*)"?', re.M)


def parse_go_mod_module(text: str) -> str | None:
    """`module example.com/x` (quotes and // comments allowed) → `example.com/x`."""
    text = re.sub(r"//.*", "", text)
    m = _MODULE.search(text)
    return m.group(1) if m else None


def find_project(root: str, mapper: Callable[[str], Path] = Path,
                 max_up: int = 8) -> dict[str, Any] | None:
    """Walk up from root to the nearest go.mod; else a `.git` folder's name; else None."""
    if not root:
        return None
    current = Path(root)
    for _ in range(max_up + 1):
        gomod = mapper(str(current / "go.mod"))
        try:
            if gomod.is_file():
                with open(gomod, "rb") as fh:
                    module = parse_go_mod_module(fh.read(65536).decode("utf-8", "replace"))
                if module:
                    return {"module": module[:512], "root": str(current)}
            if mapper(str(current / ".git")).exists():
                return {"module": current.name or str(current), "root": str(current)}
        except OSError:
            return None
        if current.parent == current:
            break
        current = current.parent
    return None
