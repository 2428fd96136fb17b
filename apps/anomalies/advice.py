"""The knowledge base (one TOML file per rule in knowledge/) and advice rendered per machine."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from apps.anomalies import fix_actions
from apps.anomalies.detectors.facts import parse_version

KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
PLATFORMS = ("linux", "darwin", "windows", "wsl2")
VSCODE_FAMILY = {"vscode", "vscode-server", "code-server", "cursor", "windsurf", "vscodium"}
_CONSTRAINT_RE = re.compile(r"^\s*(>=|<=|>|<|==)\s*v?(\d+(?:\.\d+){0,2})\s*$")


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
        out.append((m.group(1), parse_version(m.group(2))))
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


def fill(text: str | None, facts: dict) -> str | None:
    """Replace {name} placeholders from facts; JSON braces in snippets are left alone."""
    if text is None:
        return None
    return _PLACEHOLDER_RE.sub(
        lambda m: str(facts[m.group(1)]) if facts.get(m.group(1)) is not None else m.group(0),
        text,
    )


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
                        "wsl",
                        "note",
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
        for key in ("gopls", "go", "wsl"):
            if not isinstance(fix.get(key, ""), str):
                raise KnowledgeError(f"{path.name}: fix.{key} must be a version constraint string")
            parse_constraint(fix.get(key, ""))
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


def render_advice(
    rule_id: str,
    *,
    platform: str,
    editor: str = "",
    gopls: tuple | None = None,
    go: tuple | None = None,
    wsl: tuple | None = None,
    facts: dict | None = None,
    evidence: dict | None = None,
    subject: str = "",
) -> dict:
    """{summary, steps: [{text, command, setting, actions?}], sources} for one machine's
    context; `actions` are the typed fixes the agent can apply (fix_actions.py)."""
    entry = knowledge_base()[rule_id]
    platform = (
        platform if platform in PLATFORMS else ("wsl2" if platform.startswith("wsl") else "linux")
    )
    machine_facts = dict(facts or {})  # actions never take a knowledge-base example value
    facts = {**entry.data.get("defaults", {}), **machine_facts}
    steps, sources = [], list(entry.data.get("sources", []))
    for fix in entry.fixes:
        if platform not in fix.get("platforms", PLATFORMS) or not _editor_matches(fix, editor):
            continue
        if not (
            satisfies(gopls, fix.get("gopls", ""))
            and satisfies(go, fix.get("go", ""))
            and satisfies(wsl, fix.get("wsl", ""))
        ):
            continue
        text = fill(fix["text"], facts)
        if fix.get("note"):
            text = f"{text} ({fill(fix['note'], facts)})"
        steps.append(
            {
                "text": text,
                "command": fill(fix.get("command"), facts),
                "setting": fill(fix.get("setting"), facts),
                **({"action": fix["action"]} if "action" in fix else {}),
            }
        )
        sources += [s for s in fix.get("sources", []) if s not in sources]
    advice = {"summary": fill(entry.data["meaning"], facts), "steps": steps, "sources": sources}
    return fix_actions.attach(advice, evidence=evidence or {}, subject=subject, facts=machine_facts)
