"""Machine-applicable fix actions: templates in the knowledge base → concrete, checked data.

A knowledge entry's [[fix]] may carry an `action` table of one of four types. When advice is
rendered for a finding, the template is filled from the finding's evidence, subject and the
values the detectors computed for that machine; a value that does not have the shape it must
have drops the action (the step stays as text). The agent validates every action again; the
server never sends a command line.
"""

from __future__ import annotations

import re

from apps.common import shapes

TYPES = ("vscode_setting", "wslconfig", "go_clean", "stop_process")
GO_CLEAN_TARGETS = ("cache", "modcache", "gopls_cache")
MAX_ACTIONS = 8
_SETTINGS_FILE = re.compile(r"^(?:/|[A-Za-z]:[\\/])[^\x00-\x1f]{0,4000}[\\/]settings\.json$")
_ANON = re.compile(r"^anon:[0-9a-f]{12}$")
_SUBJECT = re.compile(r"^gopls:([0-9]{1,10})@([0-9]{1,12})$")
_WSLCONFIG_KEY = re.compile(r"^\.wslconfig wsl2\.(autoMemoryReclaim|sparseVhd)$")
_KEY_PART = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")
_VALUE_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")
# Settings a `set` action may write, with the placeholder of the machine's computed value.
SET_SHAPES = {("go.toolsEnvVars", "GOMEMLIMIT"): "gomemlimit"}
TEMPLATE_KEYS = {"type", "op", "key", "section", "value", "target", "each"}


class ActionTemplateError(ValueError):
    pass


def check_template(action: dict) -> None:
    """Raise ActionTemplateError unless a knowledge entry's action table is well formed."""
    if not isinstance(action, dict) or action.get("type") not in TYPES:
        raise ActionTemplateError(f"action type must be one of {', '.join(TYPES)}")
    extra = set(action) - TEMPLATE_KEYS
    if extra:
        raise ActionTemplateError(f"unknown action keys {sorted(extra)}")
    kind = action["type"]
    if kind in ("vscode_setting", "wslconfig") and action.get("op") not in ("set", "remove"):
        raise ActionTemplateError("op must be set or remove")
    if kind == "vscode_setting":
        key = action.get("key")
        if not isinstance(key, list) or not all(_KEY_PART.match(str(k)) for k in key):
            raise ActionTemplateError("vscode_setting key must be a list of setting names")
        if not isinstance(action.get("each"), str):
            raise ActionTemplateError("vscode_setting needs `each`: the evidence listing files")
    if kind == "wslconfig" and action.get("section") not in ("wsl2", "experimental"):
        raise ActionTemplateError("wslconfig section must be wsl2 or experimental")
    if kind == "go_clean" and action.get("target") not in GO_CLEAN_TARGETS:
        raise ActionTemplateError(f"go_clean target must be one of {GO_CLEAN_TARGETS}")
    m = _VALUE_PLACEHOLDER.match(str(action["value"])) if "value" in action else None
    if "value" in action and not m:
        raise ActionTemplateError("a value must be one {placeholder} of a computed fact")
    if m and shapes.PLACEHOLDERS.get(m.group(1)) not in shapes.MACHINE_VALUES:
        raise ActionTemplateError(f"{{{m.group(1)}}} is not a value computed for a machine")
    if action.get("op") == "set" and "value" not in action:
        raise ActionTemplateError("a set action needs a {placeholder} value")
    settable = kind != "vscode_setting" or tuple(action["key"]) in SET_SHAPES
    if action.get("op") == "set" and not settable:
        raise ActionTemplateError(f"no value shape known for {action['key']}")


def settings_file(value) -> str | None:
    """A settings.json path as the agent reported it, if it has that shape."""
    if isinstance(value, str) and (_SETTINGS_FILE.match(value) or _ANON.match(value)):
        return value
    return None


def _evidence_items(evidence: dict, each: str) -> list:
    """`files` → evidence["files"]; `values[].where` → [v["where"] for v in evidence["values"]]."""
    name, _, field = each.partition("[].")
    items = evidence.get(name)
    if not isinstance(items, list):
        return []
    if field:
        return [i.get(field) for i in items if isinstance(i, dict)]
    return list(items)


def build(template: dict, *, evidence: dict, subject: str, facts: dict) -> list[dict]:
    """The concrete actions of one fix step on one machine ([] when none applies safely)."""
    kind = template["type"]
    if kind == "go_clean":
        return [{"type": "go_clean", "target": template["target"]}]
    if kind == "stop_process":
        m = _SUBJECT.match(subject or "")
        return (
            [{"type": "stop_process", "pid": int(m.group(1)), "start_time": int(m.group(2))}]
            if m and int(m.group(1)) > 1
            else []
        )
    if kind == "vscode_setting":
        extra = {}
        if template["op"] == "set":
            value = _computed(template, facts)
            if value is None:
                return []  # no safe value computed for this machine: the step stays text
            extra = {"value": value}
        out = []
        for path in _evidence_items(evidence, template["each"]):
            if settings_file(path) and all(a["path"] != path for a in out):
                action = {
                    "type": kind,
                    "op": template["op"],
                    "path": path,
                    "key": list(template["key"]),
                    **extra,
                }
                out.append(action)
        return out[:MAX_ACTIONS]
    # wslconfig
    if template["op"] == "remove":
        keys = [
            m.group(1)
            for m in (
                _WSLCONFIG_KEY.match(str(k))
                for k in _evidence_items(evidence, template.get("each", "keys"))
            )
            if m
        ]
        return [
            {"type": kind, "op": "remove", "section": "wsl2", "key": k} for k in dict.fromkeys(keys)
        ]
    value = _computed(template, facts) if template.get("key") == "memory" else None
    if value is None:
        return []
    return [
        {"type": kind, "op": "set", "section": template["section"], "key": "memory", "value": value}
    ]


def _computed(template: dict, facts: dict) -> str | None:
    """The machine's computed value for the template's placeholder, if it has the shape that
    placeholder declares (apps.common.shapes: GOMEMLIMIT from suggest.gomemlimit, WSL memory
    from suggest.wsl_memory, which leaves Windows its share of the host's RAM)."""
    name = _VALUE_PLACEHOLDER.match(str(template.get("value", ""))).group(1)
    return shapes.check(name, facts.get(name))


def attach(advice: dict, *, evidence: dict, subject: str, facts: dict) -> dict:
    """Turn each step's action template into concrete actions, kept beside the steps (so a
    step stays {text, command, setting}): advice["actions"] = [{"step": i, "action": {…}}]
    and advice["action_steps"] = [i, …]; a template that yields nothing is dropped."""
    found = []
    for index, step in enumerate(advice.get("steps") or []):
        template = step.pop("action", None)
        if template:
            for action in build(template, evidence=evidence or {}, subject=subject, facts=facts):
                if all(item["action"] != action for item in found):  # two gated variants
                    found.append({"step": index, "action": action})
    if found:
        advice["actions"] = found[:MAX_ACTIONS]
        advice["action_steps"] = sorted({item["step"] for item in advice["actions"]})
    return advice


def finding_actions(advice: dict) -> list[dict]:
    """Every action of a rendered advice, in step order."""
    items = (advice or {}).get("actions")
    if not isinstance(items, list):
        return []
    return [i["action"] for i in items if isinstance(i, dict) and isinstance(i.get("action"), dict)]
