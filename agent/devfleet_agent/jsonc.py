"""JSON with comments and trailing commas (VS Code settings.json) → Python objects."""

from __future__ import annotations

import json
from typing import Any


def strip_jsonc(text: str) -> str:
    """Remove // and /* */ comments outside strings, and trailing commas before } or ]."""
    out: list[str] = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_str = False
            i += 1
            continue
        if ch == '"':
            in_str = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return _drop_trailing_commas("".join(out))


def _drop_trailing_commas(text: str) -> str:
    out: list[str] = []
    in_str = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch == ",":
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] in "}]":
                i += 1
                continue
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def loads(text: str) -> Any:
    """Parse JSONC; an empty file is an empty object (VS Code treats it so).

    Raises ValueError for anything that is not JSONC, arrays nested thousands deep included.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    cleaned = strip_jsonc(text)
    if not cleaned.strip():
        return {}
    try:
        return json.loads(cleaned)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
