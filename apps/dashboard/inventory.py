"""Pure helpers for showing inventory: flatten nested values and diff two versions of a section."""

from __future__ import annotations

from typing import Any

MAX_CHANGES = 40


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys; lists of dicts are indexed ("[0].key")."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix or "value"] = value
    return out


def diff_values(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """[(key, old, new)] for every key added, removed or changed, at most MAX_CHANGES."""
    before, after = flatten(old) if old is not None else {}, flatten(new) if new is not None else {}
    changes = [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return changes[:MAX_CHANGES]
