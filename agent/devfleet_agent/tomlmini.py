"""Minimal TOML reader for Python < 3.11 without tomli: tables, strings, numbers, bools, arrays."""

from __future__ import annotations

import ast
import re
from typing import Any

try:  # pragma: no cover - depends on the interpreter
    import tomllib as _toml  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    try:
        import tomli as _toml  # type: ignore[import-not-found,no-redef]
    except ImportError:
        _toml = None  # type: ignore[assignment]


class TOMLError(ValueError):
    """Raised when a config file is not valid TOML."""


_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(.+)$")
_TABLE = re.compile(r"^\[([A-Za-z0-9_.-]+)\]$")


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; uses tomllib/tomli when available, else the small subset below."""
    if _toml is not None:
        try:
            return _toml.loads(text)
        except Exception as exc:  # tomllib.TOMLDecodeError
            raise TOMLError(str(exc)) from exc
    return _loads_subset(text)


def _loads_subset(text: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    table = root
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        m = _TABLE.match(line)
        if m:
            table = root
            for part in m.group(1).split("."):
                table = table.setdefault(part, {})
                if not isinstance(table, dict):
                    raise TOMLError(f"line {lineno}: [{m.group(1)}] redefines a value")
            continue
        m = _KEY.match(line)
        if not m:
            raise TOMLError(f"line {lineno}: expected `key = value`, got {raw.strip()!r}")
        key, value = m.group(1), m.group(2).strip()
        if key in table:
            raise TOMLError(f"line {lineno}: duplicate key {key!r}")
        table[key] = _value(value, lineno)
    return root


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _value(value: str, lineno: int) -> Any:
    if value in ("true", "false"):
        return value == "true"
    parts = re.split(r"(\"(?:[^\"\\]|\\.)*\"|'[^']*')", value)
    py = "".join(p if i % 2 else re.sub(r"\b(true|false)\b", lambda m: m.group(1).title(), p)
                 for i, p in enumerate(parts))
    try:
        parsed = ast.literal_eval(py)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        # literal_eval raises TypeError for `{[]: 1}` and RecursionError for `[[[…`.
        raise TOMLError(f"line {lineno}: cannot parse value {value[:80]!r}") from exc
    if isinstance(parsed, (str, int, float, list, bool)):
        return parsed
    raise TOMLError(f"line {lineno}: unsupported value {value!r}")
