"""Edit one key of the Windows .wslconfig and keep its encoding, BOM, line endings and the rest.

The file is decoded with the encoding it was saved in (UTF-8 with or without BOM, UTF-16 LE/BE
with BOM, or UTF-16 LE without one) and encoded back the same way; only the lines of the one
key change. The result is parsed again and compared with the intended sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devfleet_agent.collectors.wsl import parse_ini

_HEADER = re.compile(r"^\s*\[([^\]]+)\]")


class WslconfigEditError(ValueError):
    """The file cannot be edited safely."""


@dataclass(frozen=True)
class Encoded:
    text: str
    codec: str  # Python codec for the body
    bom: bytes  # bytes written before the body


def decode(data: bytes) -> Encoded:
    if data.startswith(b"\xef\xbb\xbf"):
        return Encoded(_decode(data[3:], "utf-8"), "utf-8", data[:3])
    if data.startswith(b"\xff\xfe"):
        return Encoded(_decode(data[2:], "utf-16-le"), "utf-16-le", data[:2])
    if data.startswith(b"\xfe\xff"):
        return Encoded(_decode(data[2:], "utf-16-be"), "utf-16-be", data[:2])
    if len(data) >= 4 and data[1:2] == b"\0" and data[3:4] == b"\0":
        return Encoded(_decode(data, "utf-16-le"), "utf-16-le", b"")
    if b"\0" in data:
        raise WslconfigEditError("binary content (NUL bytes), not a text config file")
    return Encoded(_decode(data, "utf-8"), "utf-8", b"")


def _decode(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise WslconfigEditError(f"not valid {codec} text: {exc}") from exc


def encode(enc: Encoded, text: str) -> bytes:
    return enc.bom + text.encode(enc.codec)


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _key_of(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped[0] in "#;[":
        return None
    key, sep, _ = stripped.partition("=")
    return key.strip() if sep else None


def _sections(lines: list[str]) -> list[tuple[str, int, int]]:
    """(section name, first line index after the header, end index) in file order."""
    out: list[tuple[str, int, int]] = []
    current, start = "", 0
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            out.append((current, start, i))
            current, start = m.group(1).strip(), i + 1
    out.append((current, start, len(lines)))
    return out


def _matching(lines: list[str], section: str, key: str) -> list[int]:
    idx = []
    for name, start, end in _sections(lines):
        if name.lower() != section.lower():
            continue
        idx += [i for i in range(start, end) if (_key_of(lines[i]) or "").lower() == key.lower()]
    return idx


def _value_line(line: str, value: str) -> str:
    """The same line with its value replaced: key spelling, spacing and a comment are kept."""
    body = line.rstrip("\r\n")
    ending = line[len(body):]
    key_part, _, rest = body.partition("=")
    spacing = re.match(r"\s*", rest).group(0)
    m = re.search(r"\s+[#;].*$", rest)
    comment = m.group(0) if m else ""
    return f"{key_part}={spacing}{value}{comment}{ending}"


def remove_key(text: str, section: str, key: str) -> str:
    lines = text.splitlines(keepends=True)
    idx = _matching(lines, section, key)
    if not idx:
        raise KeyError(f"[{section}] {key}")
    new = "".join(line for i, line in enumerate(lines) if i not in idx)
    expected = parse_ini(text)
    _drop(expected, section, key)
    _verify(new, expected)
    return new


def set_key(text: str, section: str, key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise WslconfigEditError("a value must be one line")
    lines = text.splitlines(keepends=True)
    eol = _eol(text)
    idx = _matching(lines, section, key)
    if idx:
        for i in idx:
            lines[i] = _value_line(lines[i], value)
        new = "".join(lines)
    else:
        spans = [s for s in _sections(lines) if s[0].lower() == section.lower() and s[1] > 0]
        if spans:
            _, start, end = spans[-1]
            at = end
            while at > start and not lines[at - 1].strip():
                at -= 1  # after the section's last non-blank line
            if at > 0 and not lines[at - 1].endswith(("\n", "\r")):
                lines[at - 1] += eol
            lines.insert(at, f"{key}={value}{eol}")
            new = "".join(lines)
        else:
            prefix = text
            if prefix and not prefix.endswith(("\n", "\r")):
                prefix += eol
            if prefix.strip():
                prefix += eol
            new = f"{prefix}[{section}]{eol}{key}={value}{eol}"
    expected = parse_ini(text)
    _drop(expected, section, key)
    name = next((s for s in expected if s.lower() == section.lower()), section)
    expected.setdefault(name, {})[key] = value
    _verify(new, expected)
    return new


def _drop(sections: dict, section: str, key: str) -> None:
    for name, keys in sections.items():
        if name.lower() == section.lower():
            for k in [k for k in keys if k.lower() == key.lower()]:
                del keys[k]


def _verify(new: str, expected: dict) -> None:
    got = parse_ini(new)
    norm = {k.lower(): {kk.lower(): vv for kk, vv in v.items()} for k, v in got.items()}
    want = {k.lower(): {kk.lower(): vv for kk, vv in v.items()} for k, v in expected.items()}
    if norm != want:
        raise WslconfigEditError("the edit would change more than the one key; not written")
