"""Edit one key of a JSONC file (VS Code settings.json) and leave every other byte as it was.

The parser records where each member of each object starts and ends, so an edit replaces or
deletes only that span: comments, trailing commas, key order and indentation elsewhere stay.
Every edit is checked by parsing the result and comparing it with the intended data.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from devfleet_agent import jsonc

MAX_DEPTH = 200
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class JsoncEditError(ValueError):
    """The file cannot be edited safely (not JSONC, or the edit would not round-trip)."""


@dataclass
class Member:
    key: str
    start: int  # offset of the key's opening quote
    value: Node
    comma: int | None = None  # offset of the comma after the value, if any


@dataclass
class Node:
    kind: str  # object | array | scalar
    start: int
    end: int  # offset just past the value
    members: list[Member] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.i, self.n = text, 0, len(text)

    def fail(self, what: str) -> JsoncEditError:
        line = self.text.count("\n", 0, self.i) + 1
        return JsoncEditError(f"line {line}: {what}")

    def skip(self) -> None:
        """Whitespace and comments."""
        t = self.text
        while self.i < self.n:
            ch = t[self.i]
            if ch in " \t\r\n\ufeff":
                self.i += 1
            elif t.startswith("//", self.i):
                end = t.find("\n", self.i)
                self.i = self.n if end < 0 else end
            elif t.startswith("/*", self.i):
                end = t.find("*/", self.i + 2)
                if end < 0:
                    raise self.fail("unterminated /* comment")
                self.i = end + 2
            else:
                return

    def string(self) -> str:
        start = self.i
        self.i += 1
        while self.i < self.n:
            ch = self.text[self.i]
            if ch == "\\":
                self.i += 2
                continue
            if ch == '"':
                self.i += 1
                try:
                    return json.loads(self.text[start:self.i])
                except ValueError as exc:
                    raise self.fail(f"bad string: {exc}") from exc
            if ch == "\n":
                break
            self.i += 1
        raise self.fail("unterminated string")

    def value(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        self.skip()
        if self.i >= self.n:
            raise self.fail("unexpected end of file")
        ch, start = self.text[self.i], self.i
        if ch == "{":
            return self.obj(depth)
        if ch == "[":
            return self.array(depth)
        if ch == '"':
            self.string()
            return Node("scalar", start, self.i)
        for word in ("true", "false", "null"):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return Node("scalar", start, self.i)
        m = _NUMBER.match(self.text, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            return Node("scalar", start, self.i)
        raise self.fail(f"unexpected {ch!r}")

    def obj(self, depth: int) -> Node:
        node = Node("object", self.i, -1)
        self.i += 1
        while True:
            self.skip()
            if self.i >= self.n:
                raise self.fail("unterminated object")
            if self.text[self.i] == "}":
                self.i += 1
                node.end = self.i
                return node
            if self.text[self.i] != '"':
                raise self.fail("expected a key")
            key_start = self.i
            key = self.string()
            self.skip()
            if self.i >= self.n or self.text[self.i] != ":":
                raise self.fail("expected ':'")
            self.i += 1
            member = Member(key, key_start, self.value(depth + 1))
            node.members.append(member)
            self.skip()
            if self.i < self.n and self.text[self.i] == ",":
                member.comma = self.i
                self.i += 1
            elif self.i < self.n and self.text[self.i] != "}":
                raise self.fail("expected ',' or '}'")

    def array(self, depth: int) -> Node:
        node = Node("array", self.i, -1)
        self.i += 1
        while True:
            self.skip()
            if self.i >= self.n:
                raise self.fail("unterminated array")
            if self.text[self.i] == "]":
                self.i += 1
                node.end = self.i
                return node
            self.value(depth + 1)
            self.skip()
            if self.i < self.n and self.text[self.i] == ",":
                self.i += 1
            elif self.i < self.n and self.text[self.i] != "]":
                raise self.fail("expected ',' or ']'")


def parse(text: str) -> Node | None:
    """The root node with positions; None for an empty file (VS Code reads it as {})."""
    p = _Parser(text)
    p.skip()
    if p.i >= p.n:
        return None
    root = p.value(0)
    p.skip()
    if p.i < p.n:
        raise p.fail("text after the end of the document")
    if root.kind != "object":
        raise JsoncEditError("settings.json is not a JSON object")
    return root


def _find(root: Node, path: list[str]) -> tuple[Node, list[str]]:
    """The deepest existing object along `path` (last duplicate key wins, as in VS Code)."""
    node = root
    for depth, key in enumerate(path[:-1]):
        matches = [m for m in node.members if m.key == key]
        if not matches:
            return node, path[depth:]
        child = matches[-1].value
        if child.kind != "object":
            raise JsoncEditError(f"{'.'.join(path[:depth + 1])} is not an object")
        node = child
    return node, path[-1:]


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _only_space(text: str) -> bool:
    return not text.strip(" \t")


def _indent_of(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    prefix = text[start:pos]
    return prefix if _only_space(prefix) else re.match(r"[ \t]*", text[start:]).group(0)


def _unit(text: str, root: Node) -> str:
    """The file's indentation step: the first member's indentation, else 4 spaces."""
    for m in root.members:
        ind = _indent_of(text, m.start)
        if ind:
            return ind
    return "    "


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _dump(value: Any, indent: str, unit: str, eol: str) -> str:
    """JSON for a value placed at `indent`; nested lines follow the file's unit and line ends."""
    if not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    step = "\t" if unit.startswith("\t") else " " * len(unit)
    text = json.dumps(value, ensure_ascii=False, indent=step)
    return text.replace("\n", eol + indent)


def _remove_member(text: str, obj: Node, idx: int) -> str:
    """Delete one member: its whole lines when it has them to itself, else just its tokens.
    A comma left trailing by removing the last member is dropped unless the file wrote one
    after that member too (trailing-comma style is kept)."""
    m = obj.members[idx]
    prev = obj.members[idx - 1] if idx > 0 else None
    end = m.comma + 1 if m.comma is not None else m.value.end
    line_start = _line_start(text, m.start)
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    after = text[end:line_end].strip(" \t\r")
    own_lines = _only_space(text[line_start:m.start]) and (not after or after.startswith("//"))
    drop_prev_comma = (idx == len(obj.members) - 1 and m.comma is None and prev is not None
                       and prev.comma is not None)
    if own_lines:
        new = text[:line_start] + text[line_end + 1:]
        if drop_prev_comma:
            assert prev is not None
            assert prev.comma is not None
            new = new[:prev.comma] + new[prev.comma + 1:]
        return new
    if drop_prev_comma:
        assert prev is not None
        assert prev.comma is not None
        return text[:prev.comma] + text[end:]
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[:m.start] + text[end:]


def remove(text: str, path: list[str]) -> str:
    """The text without the member at `path` (every duplicate of it); KeyError if absent."""
    root = parse(text)
    if root is None:
        raise KeyError(".".join(path))
    obj, rest = _find(root, path)
    if len(rest) != 1:
        raise KeyError(".".join(path))
    idxs = [i for i, m in enumerate(obj.members) if m.key == path[-1]]
    if not idxs:
        raise KeyError(".".join(path))
    new = text
    for _ in idxs:  # re-parse after each removal: offsets move
        root = parse(new)
        assert root is not None
        obj, _ = _find(root, path)
        idx = max(i for i, m in enumerate(obj.members) if m.key == path[-1])
        new = _remove_member(new, obj, idx)
    expected = jsonc.loads(text)
    _pop(expected, path)
    _verify(new, expected)
    return new


def set_value(text: str, path: list[str], value: Any) -> str:
    """The text with `path` set to `value`: the old value's span replaced, or a new member
    appended to the deepest existing object (missing parents created as objects)."""
    root = parse(text)
    eol = _eol(text)
    if root is None:
        data: dict = {}
        _put(data, path, value)
        return text + json.dumps(data, indent=4, ensure_ascii=False).replace("\n", eol) + eol
    unit = _unit(text, root)
    obj, rest = _find(root, path)
    matches = [m for m in obj.members if m.key == rest[0]] if len(rest) == 1 else []
    if matches:
        m = matches[-1]
        indent = _indent_of(text, m.start)
        new = text[:m.value.start] + _dump(value, indent, unit, eol) + text[m.value.end:]
    else:
        nested: Any = value
        for key in reversed(rest[1:]):
            nested = {key: nested}
        new = _insert(text, obj, rest[0], nested, unit, eol)
    expected = jsonc.loads(text)
    _put(expected, path, value)
    _verify(new, expected)
    return new


def _insert(text: str, obj: Node, key: str, value: Any, unit: str, eol: str) -> str:
    close = obj.end - 1
    if not obj.members:
        indent = _indent_of(text, obj.start)
        inner = indent + unit
        member = f"{json.dumps(key, ensure_ascii=False)}: {_dump(value, inner, unit, eol)}"
        if text[obj.start + 1:close].strip():  # only comments inside: keep them before it
            return text[:close].rstrip(" \t") + eol + inner + member + eol + indent + text[close:]
        return text[:obj.start + 1] + eol + inner + member + eol + indent + text[close:]
    last = obj.members[-1]
    trailing = last.comma is not None
    indent = _indent_of(text, last.start)
    member = f"{json.dumps(key, ensure_ascii=False)}: {_dump(value, indent, unit, eol)}"
    v_end = last.value.end
    if "\n" not in text[obj.start:last.start]:  # a one-line object: {"a": 1}
        if trailing:
            return text[:last.comma + 1] + " " + member + "," + text[last.comma + 1:]
        return text[:v_end] + ", " + member + text[v_end:]
    cut = last.comma + 1 if trailing else v_end
    line_end = text.find("\n", cut)
    if 0 <= line_end < close and text[cut:line_end].strip(" \t\r").startswith(("//", "/*")):
        cut = line_end - 1 if text[line_end - 1] == "\r" else line_end  # keep the comment
    addition = eol + indent + member + ("," if trailing else "")
    if trailing:
        return text[:cut] + addition + text[cut:]
    return text[:v_end] + "," + text[v_end:cut] + addition + text[cut:]


def _pop(data: Any, path: list[str]) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def _put(data: Any, path: list[str], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = copy.deepcopy(value)


def _verify(new: str, expected: Any) -> None:
    try:
        got = jsonc.loads(new)
    except ValueError as exc:
        raise JsoncEditError(f"the edit would not parse: {exc}") from exc
    if got != expected:
        raise JsoncEditError("the edit would change more than the one key; not written")
