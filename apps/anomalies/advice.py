"""The knowledge base (one TOML file per rule in knowledge/) and advice rendered per machine."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from apps.anomalies import fix_actions
from apps.common import shapes

KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
PLATFORMS = ("linux", "darwin", "windows", "wsl2")
VSCODE_FAMILY = {"vscode", "vscode-server", "code-server", "cursor", "windsurf", "vscodium"}
_CONSTRAINT_RE = re.compile(r"^\s*(>=|<=|>|<|==)\s*v?(\d+(?:\.\d+){0,2})\s*$")
# The versions a fix can be gated on, and how a step names them when the machine's is unknown.
VERSION_KEYS = {
    "gopls": ("gopls {}", "gopls version"),
    "go": ("Go {}", "go version"),
    "gopls_go": ("a gopls built with Go {}", "go version -m $(command -v gopls)"),
    "wsl": ("WSL {}", "wsl --version"),
}


class KnowledgeError(ValueError):
    pass


def parse_constraint(spec: str) -> list[tuple[str, tuple[int, int, int]]]:
    """'>=0.15.0, <0.24' → [('>=', (0, 15, 0)), ('<', (0, 24, 0))]; raises KnowledgeError."""
    out = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        m = _CONSTRAINT_RE.match(part)
        if not m:
            raise KnowledgeError(f"bad version constraint {part!r}")
        parts = [int(n) for n in m.group(2).split(".")] + [0, 0]
        out.append((m.group(1), tuple(parts[:3])))
    return out


def satisfies(version: tuple | None, spec: str) -> bool:
    """Unknown versions satisfy every constraint: the advice then names the versions itself."""
    if version is None or not spec:
        return True
    ops = {
        ">=": version.__ge__,
        "<=": version.__le__,
        ">": version.__gt__,
        "<": version.__lt__,
        "==": version.__eq__,
    }
    return all(ops[op](bound) for op, bound in parse_constraint(spec))


_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


def placeholders(text: str | None) -> set[str]:
    return set(_PLACEHOLDER_RE.findall(text or ""))


def fill(text: str | None, facts: dict, defaults: dict | None = None) -> str | None:
    """Replace {name} placeholders in a snippet with the machine's values, each checked
    against its placeholder's shape; None when any fails (the snippet is not shown). Only
    generic documented defaults (shapes.GENERIC) may stand in. JSON braces are left alone."""
    if text is None:
        return None
    defaults = defaults or {}
    values = {
        name: (
            shapes.check(name, facts.get(name))
            or (shapes.check(name, defaults.get(name)) if name in shapes.GENERIC else None)
        )
        if shapes.snippet_value(name)
        else None
        for name in placeholders(text)
    }
    if any(v is None for v in values.values()):
        return None
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)


def fill_text(text: str, facts: dict, defaults: dict) -> str:
    """Prose: a placeholder without a valid fact takes its words default (checked at load)."""

    def value(m: re.Match) -> str:
        name = m.group(1)
        fallback = defaults.get(name, shapes.DEFAULT_TEXT.get(name))
        return (
            shapes.check(name, facts.get(name))
            or shapes.validate("prose", fallback)
            or shapes.check(name, fallback)
            or ""
        )

    return _PLACEHOLDER_RE.sub(value, text)


def describe_constraint(key: str, spec: str) -> str:
    """'gopls', '>=0.12.0, <0.13.0' → 'only for gopls v0.12.0 or later and before v0.13.0'."""
    name, how = VERSION_KEYS[key]
    words = {">=": "{} or later", ">": "after {}", "<": "before {}", "<=": "{} or earlier"}
    parts = []
    for op, bound in parse_constraint(spec):
        text = ".".join(map(str, bound))
        text = f"v{text}" if key == "gopls" else text
        parts.append(words.get(op, "{}").format(text))
    return f"only for {name.format(' and '.join(parts))}; check with {how}"


@dataclass(frozen=True)
class Entry:
    id: str
    data: dict

    @property
    def fixes(self) -> list[dict]:
        return self.data.get("fix", [])

    def summary(self) -> dict:
        d = self.data
        return {
            "rule_id": self.id,
            "kb_version": d["version"],
            "title": d["title"],
            "severity": d["severity"],
            "category": d.get("category", ""),
            "meaning": d["meaning"],
            "why": d["why"],
            "evidence": d.get("evidence", []),
            "fixes": [
                {
                    k: f.get(k)
                    for k in (
                        "text",
                        "command",
                        "setting",
                        "platforms",
                        "editors",
                        "gopls",
                        "go",
                        "gopls_go",
                        "wsl",
                        "note",
                        "no_value",
                    )
                }
                for f in self.fixes
            ],
            "sources": d.get("sources", []),
        }


def _check(entry: dict, path: Path) -> None:
    """Raise KnowledgeError unless the entry has every key and well-formed fixes."""
    for key in ("id", "version", "title", "severity", "meaning", "why", "sources", "fix"):
        if key not in entry:
            raise KnowledgeError(f"{path.name}: missing {key}")
    if entry["id"] != path.stem:
        raise KnowledgeError(f"{path.name}: id {entry['id']!r} does not match the file name")
    if not isinstance(entry["fix"], list):
        raise KnowledgeError(f"{path.name}: fix must be an array of tables ([[fix]])")
    for fix in entry["fix"]:
        if not isinstance(fix, dict) or not isinstance(fix.get("text"), str):
            raise KnowledgeError(f"{path.name}: a fix has no text")
        for key in VERSION_KEYS:
            if not isinstance(fix.get(key, ""), str):
                raise KnowledgeError(f"{path.name}: fix.{key} must be a version constraint string")
            parse_constraint(fix.get(key, ""))
        _check_placeholders(entry, fix, path)
        if not isinstance(fix.get("platforms", []), list):
            raise KnowledgeError(f"{path.name}: fix.platforms must be a list")
        unknown = set(map(str, fix.get("platforms", []))) - set(PLATFORMS)
        if unknown:
            raise KnowledgeError(f"{path.name}: unknown platforms {unknown}")
        if "action" in fix:
            try:
                fix_actions.check_template(fix["action"])
            except fix_actions.ActionTemplateError as exc:
                raise KnowledgeError(f"{path.name}: fix.action: {exc}") from exc


def _check_placeholders(entry: dict, fix: dict, path: Path) -> None:
    """Snippet placeholders have a registered value shape; text-only ones have a words
    default; defaults never hold a machine value; a fix whose value may be missing says what
    to do without it (no_value)."""
    defaults = entry.get("defaults", {})
    for name, value in defaults.items():
        shape = shapes.shape_of(name)
        if name in shapes.GENERIC and shapes.check(name, value):
            continue
        if shape in shapes.MACHINE_VALUES:
            raise KnowledgeError(f"{path.name}: default {name!r} holds a machine value")
        if not isinstance(value, str) or not (
            shapes.validate("prose", value) or shapes.validate(shape, value)
        ):
            raise KnowledgeError(f"{path.name}: default {name!r} must be plain words")
    snippets = [fix.get("command"), fix.get("setting")]
    for name in set().union(*(placeholders(t) for t in snippets)):
        if name not in shapes.PLACEHOLDERS or shapes.shape_of(name) in shapes.TEXT_ONLY:
            raise KnowledgeError(f"{path.name}: {{{name}}} has no value shape for a snippet")
    texts = [entry.get("meaning", ""), fix.get("text"), fix.get("note"), fix.get("no_value")]
    words = {
        n
        for t in texts
        for n in placeholders(t)
        if shapes.shape_of(n) in shapes.TEXT_ONLY
        and n not in defaults
        and n not in shapes.DEFAULT_TEXT
    }
    if words:
        raise KnowledgeError(f"{path.name}: {sorted(words)} have no words default")
    needs_value = {
        n
        for t in [fix.get("text"), *snippets]
        for n in placeholders(t)
        if shapes.shape_of(n) not in shapes.TEXT_ONLY and n not in defaults
    }
    if needs_value and not fix.get("no_value"):
        raise KnowledgeError(f"{path.name}: a fix uses {sorted(needs_value)} without no_value")
    bare = {
        n for n in placeholders(fix.get("no_value")) if shapes.shape_of(n) not in shapes.TEXT_ONLY
    }
    if bare - set(defaults):
        raise KnowledgeError(f"{path.name}: no_value uses {sorted(bare)}")
    meaning = {n for n in placeholders(entry.get("meaning")) if n not in defaults}
    if meaning - set(shapes.DEFAULT_TEXT):
        raise KnowledgeError(f"{path.name}: meaning uses {sorted(meaning)} without defaults")


@functools.cache
def knowledge_base() -> dict[str, Entry]:
    entries = {}
    for path in sorted(KNOWLEDGE_DIR.glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        _check(data, path)
        entries[data["id"]] = Entry(data["id"], data)
    return entries


def _editor_matches(fix: dict, editor: str) -> bool:
    editors = fix.get("editors")
    if not editors:
        return True
    family = "vscode" if editor in VSCODE_FAMILY else (editor or "other")
    return family in editors or ("other" in editors and family not in ("vscode",))


def _render_fix(fix: dict, facts: dict, defaults: dict) -> dict:
    """One step: snippets only with every value valid; otherwise the fix's no_value text."""
    command = fill(fix.get("command"), facts, defaults)
    setting = fill(fix.get("setting"), facts, defaults)
    text_values = [
        n
        for n in placeholders(fix["text"])
        if shapes.shape_of(n) not in shapes.TEXT_ONLY and shapes.check(n, facts.get(n)) is None
    ]
    missing = (
        (fix.get("command") is not None and command is None)
        or (fix.get("setting") is not None and setting is None)
        or (bool(text_values) and not all(n in defaults for n in text_values))
    )
    if missing:
        command = setting = None
    text = fill_text(fix["no_value"] if missing else fix["text"], facts, defaults)
    if fix.get("note"):
        text = f"{text} ({fill_text(fix['note'], facts, defaults)})"
    step = {"text": text, "command": command, "setting": setting}
    if "action" in fix:  # a template: fix_actions.attach fills it from checked facts
        step["action"] = fix["action"]
    return step


def render_advice(
    rule_id: str,
    *,
    platform: str,
    editor: str = "",
    gopls: tuple | None = None,
    go: tuple | None = None,
    gopls_go: tuple | None = None,
    wsl: tuple | None = None,
    facts: dict | None = None,
    evidence: dict | None = None,
    subject: str = "",
) -> dict:
    """{summary, steps: [{text, command, setting}], sources, actions?} for one machine's
    context; `actions` are the typed fixes the agent can apply (fix_actions.py), filled only
    from the machine's facts, never from a knowledge-base default.

    Versions are tuples from strict parsing (None = unknown). A fix gated on a version the
    machine does not have is left out; one gated on an unknown version is shown after the
    others and names the versions it is for, so "upgrade" never leads unless it applies."""
    entry = knowledge_base()[rule_id]
    platform = (
        platform if platform in PLATFORMS else ("wsl2" if platform.startswith("wsl") else "linux")
    )
    facts = dict(facts or {})
    defaults = entry.data.get("defaults", {})
    versions = {"gopls": gopls, "go": go, "gopls_go": gopls_go, "wsl": wsl}
    sure, maybe, sources = [], [], list(entry.data.get("sources", []))
    for fix in entry.fixes:
        if platform not in fix.get("platforms", PLATFORMS) or not _editor_matches(fix, editor):
            continue
        gates = {k: fix[k] for k in VERSION_KEYS if fix.get(k)}
        if not all(satisfies(versions[k], spec) for k, spec in gates.items()):
            continue
        step = _render_fix(fix, facts, defaults)
        unknown = [describe_constraint(k, spec) for k, spec in gates.items() if not versions[k]]
        if unknown:
            step["text"] = f"{step['text']} ({'; '.join(unknown)})"
        (maybe if unknown else sure).append(step)
        sources += [s for s in fix.get("sources", []) if s not in sources]
    summary = fill_text(entry.data["meaning"], facts, defaults)
    advice = {"summary": summary, "steps": sure + maybe, "sources": sources}
    return fix_actions.attach(advice, evidence=evidence or {}, subject=subject, facts=facts)
