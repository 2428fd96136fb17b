"""Which settings a gopls version accepts and the JSON kind each wants (data/gopls_settings.json).

The table is derived from golang/tools at every gopls release tag by
tools/gen_gopls_settings.py: the names of gopls's settings switch (anything else is
answered with "unexpected setting") and the types of gopls/internal/doc/api.json.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from apps.anomalies.detectors.facts import format_version, parse_version

DATA = Path(__file__).resolve().parent.parent / "data" / "gopls_settings.json"
# Segments of VS Code's dotted names (build.directoryFilters); a nested {"ui": {...}} object
# under one of these is the client's grouping, not a setting name, and is not judged here.
HIERARCHY = {"build", "formatting", "ui", "completion", "diagnostic", "documentation",
             "navigation", "inlayhint"}  # fmt: skip
KIND_TEXT = {
    "bool": "true or false",
    "string": "a string",
    "enum": "one of its string values",
    "array": "a JSON array of strings",
    "object": "a JSON object",
    "duration": 'a Go duration string such as "500ms" or "2s"',
    "integer": "a whole number without quotes or unit suffix",
}
_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


@functools.cache
def table() -> dict:
    with open(DATA, encoding="utf-8") as fh:
        data = json.load(fh)
    data["versions"] = [parse_version(r) for r in data["releases"]]
    return data


def locate(version: tuple | None) -> tuple[int | None, str]:
    """(index of the release the version runs, where): where is "known", "older" (before the
    table), "newer" (a minor version after the table's unreleased one) or "unknown"."""
    if version is None:
        return None, "unknown"
    versions = table()["versions"]
    if version < versions[0]:
        return None, "older"
    if version[:2] > versions[-1][:2]:
        return len(versions) - 1, "newer"
    index = max(i for i, v in enumerate(versions) if v <= version)
    return index, "known"


@dataclass(frozen=True)
class SettingProblem:
    name: str
    kind: str  # unknown, not_yet, removed, type
    text: str

    def as_dict(self, where: str, value) -> dict:
        shown = json.dumps(value, ensure_ascii=False, default=str)
        return {
            "where": where,
            "setting": self.name,
            "value": shown if len(shown) <= 80 else shown[:77] + "...",
            "problem": self.kind,
            "text": self.text,
        }


def _release(index: int) -> str:
    data = table()
    name = data["releases"][index]
    return (
        f"{name} (unreleased when the table was made)"
        if index == len(data["releases"]) - 1
        else name
    )


def type_error(kind: str | None, values, value) -> str | None:
    """Why gopls would reject this JSON value for a setting of this kind (None: it accepts)."""
    if kind is None:
        return None
    ok = {
        "bool": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "enum": lambda v: (
            isinstance(v, str) and (not values or v.lower() in {x.lower() for x in values})
        ),
        "array": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "object": lambda v: isinstance(v, dict),
        "duration": lambda v: isinstance(v, str) and bool(_DURATION.fullmatch(v)),
        "integer": lambda v: (
            not isinstance(v, bool)
            and (
                isinstance(v, int)
                or (isinstance(v, float) and math.isfinite(v) and v == math.trunc(v))
            )
        ),
    }[kind](value)
    if ok:
        return None
    want = KIND_TEXT[kind]
    if kind == "enum" and values:
        want = "one of " + ", ".join(f'"{x}"' for x in values)
    return f"wants {want}"


def check(name: str, value, version: tuple | None, estimated: bool = False):
    """A SettingProblem for one gopls setting on a gopls version, or None when it is fine.

    An estimated or unknown version (a devel build) is only checked for names no release
    ever accepted and for types; a version newer than the table is checked for types only."""
    short = str(name).rsplit(".", 1)[-1]
    if short in HIERARCHY and isinstance(value, dict):
        return None
    index, where = locate(version)
    if estimated and where == "known":
        where = "unknown"
    ranges = table()["settings"].get(short)
    shown = format_version(version) if version else "this gopls"
    if ranges is None:
        if where == "newer":
            return None
        return SettingProblem(
            name,
            "unknown",
            f"no gopls release (up to {table()['releases'][-1]}, unreleased when the table "
            f"was made) accepts {short!r}: gopls answers 'unexpected setting' and ignores it",
        )
    entry = ranges[-1]
    if where == "older" and ranges[0][0] > 0:  # added after the table's first release
        where, index = "known", 0
    if where == "known":
        entry = next((r for r in ranges if r[0] <= index <= r[1]), None)
        if entry is None:
            first, last = ranges[0][0], ranges[-1][1]
            if index < first:
                later = type_error(*ranges[0][2:4], value)
                return SettingProblem(
                    name,
                    "not_yet",
                    f"{short!r} exists only from gopls {_release(first)}; {shown} answers "
                    "'unexpected setting' and ignores it"
                    + (f" (and from then on it {later})" if later else ""),
                )
            if index > last:
                return SettingProblem(
                    name,
                    "removed",
                    f"{short!r} was removed after gopls {_release(last)}; {shown} answers "
                    "'unexpected setting' and ignores it",
                )
            return SettingProblem(name, "not_yet", f"{shown} does not accept {short!r}")
    kind, values, status = entry[2], entry[3], entry[4]
    if status == "deprecated":
        return None  # gopls_obsolete_setting's subject
    why = type_error(kind, values, value)
    if why is None:
        return None
    return SettingProblem(
        name,
        "type",
        f"{short!r} {why}; gopls rejects {json.dumps(value, default=str)[:60]} and keeps "
        "the default",
    )


def deprecated(name: str, version: tuple | None, estimated: bool = False) -> bool:
    """gopls answers this setting with a deprecation warning: on the machine's release when
    the table places it, else on the newest release of the table."""
    ranges = table()["settings"].get(str(name).rsplit(".", 1)[-1])
    if not ranges:
        return False
    index, where = locate(version)
    if where == "known" and not estimated:
        entry = next((r for r in ranges if r[0] <= index <= r[1]), None)
        return entry is not None and entry[4] == "deprecated"
    return ranges[-1][4] == "deprecated"
