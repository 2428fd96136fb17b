"""The four typed fix actions the server may send, and their strict validation on the agent.

The server sends data, never a command. Every action is checked here again, whatever the
server computed: its type, its fields (no unknown ones), and the value against the shape the
setting must have. Anything that fails is refused and nothing is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

TYPES = ("vscode_setting", "wslconfig", "go_clean", "stop_process")
GO_CLEAN_TARGETS = ("cache", "modcache", "gopls_cache")
_KEY_PART = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")
_GOMEMLIMIT = re.compile(r"^[1-9][0-9]{0,14}(B|KiB|MiB|GiB|TiB)?$")
_FLAG = re.compile(r"^-{1,2}[a-z][a-z0-9.\-]{0,63}(=[A-Za-z0-9_.:/@\-]{0,200})?$")
_WSL_SIZE = re.compile(r"^[1-9][0-9]{0,6}(MB|GB)$")
_SETTINGS_PATH_MAX = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a path shown on the terminal stays text
OBSOLETE_GOPLS_SETTINGS = ("memoryMode", "experimentalWorkspaceModule",
                           "experimentalWatchedFileDelay", "experimentalPackageCacheKey",
                           "allowImplicitNetworkAccess", "allowModfileModifications",
                           "tempModFile", "newDiff")


class ActionRefused(ValueError):
    """The action is not one the agent will carry out; the message says why."""


def _gomemlimit(value: Any) -> bool:
    return isinstance(value, str) and bool(_GOMEMLIMIT.match(value))


def _flags(value: Any) -> bool:
    return (isinstance(value, list) and len(value) <= 16
            and all(isinstance(v, str) and _FLAG.match(v) for v in value))


def _wsl_size(value: Any) -> bool:
    if not isinstance(value, str) or not _WSL_SIZE.match(value):
        return False
    mb = int(value[:-2]) * (1024 if value.endswith("GB") else 1)
    return 256 <= mb <= 4 * 1024 * 1024  # 256 MB .. 4 TB


def _processors(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit() and 1 <= int(value) <= 1024


# VS Code settings the agent may change: key path → (ops, value check for `set`).
SETTINGS: dict[tuple[str, ...], tuple[frozenset[str], Callable[[Any], bool] | None]] = {
    ("go.goplsArgs",): (frozenset({"remove"}), None),
    ("go.languageServerFlags",): (frozenset({"set"}), _flags),
    ("go.toolsEnvVars", "GOMEMLIMIT"): (frozenset({"set", "remove"}), _gomemlimit),
    ("gopls", "build.env", "GOMEMLIMIT"): (frozenset({"remove"}), None),
    **{("gopls", name): (frozenset({"remove"}), None) for name in OBSOLETE_GOPLS_SETTINGS},
}
# .wslconfig keys: (section, key) → value check for `set` (None: remove only).
WSLCONFIG: dict[tuple[str, str], Callable[[Any], bool] | None] = {
    ("wsl2", "memory"): _wsl_size,
    ("wsl2", "swap"): lambda v: v == "0" or _wsl_size(v),
    ("wsl2", "processors"): _processors,
    ("wsl2", "autoMemoryReclaim"): None,  # misplaced: it belongs under [experimental]
    ("wsl2", "sparseVhd"): None,
    ("experimental", "autoMemoryReclaim"): lambda v: v in ("disabled", "gradual", "dropCache"),
    ("experimental", "sparseVhd"): lambda v: v in ("true", "false"),
}


@dataclass(frozen=True)
class Action:
    type: str
    op: str = ""
    path: str = ""
    key: tuple[str, ...] = ()
    section: str = ""
    value: Any = None
    target: str = ""
    pid: int = 0
    start_time: int = 0

    def describe(self) -> str:
        if self.type == "vscode_setting":
            what = ".".join(self.key)
            return (f"remove {what} from {self.path}" if self.op == "remove"
                    else f"set {what} in {self.path}")
        if self.type == "wslconfig":
            return (f"remove {self.key[0]} from [{self.section}] of .wslconfig"
                    if self.op == "remove" else f"set {self.key[0]}={self.value} in "
                    f"[{self.section}] of .wslconfig")
        if self.type == "go_clean":
            return {"cache": "go clean -cache", "modcache": "go clean -modcache",
                    "gopls_cache": "delete the gopls file cache"}[self.target]
        return f"stop gopls pid {self.pid}"

    def public(self) -> dict[str, Any]:
        """What the report says about the action (no values, no paths beyond the file's)."""
        out: dict[str, Any] = {"type": self.type}
        if self.op:
            out["op"] = self.op
        if self.key:
            out["key"] = ".".join(self.key)[:256]
        if self.section:
            out["section"] = self.section
        if self.target:
            out["target"] = self.target
        if self.pid:
            out["pid"] = self.pid
        return out


_FIELDS = {
    "vscode_setting": {"type", "op", "path", "key", "value"},
    "wslconfig": {"type", "op", "path", "section", "key", "value"},
    "go_clean": {"type", "target"},
    "stop_process": {"type", "pid", "start_time"},
}


def parse_action(data: Any) -> Action:
    """A server-sent action → Action, or ActionRefused naming the first problem."""
    if not isinstance(data, dict):
        raise ActionRefused("an action must be an object")
    kind = data.get("type")
    if kind not in TYPES:
        raise ActionRefused(f"unknown action type {str(kind)[:40]!r}")
    extra = set(data) - _FIELDS[kind]
    if extra:
        raise ActionRefused(f"unexpected fields in a {kind} action: {sorted(extra)[:5]}")
    return {"vscode_setting": _vscode, "wslconfig": _wslconfig, "go_clean": _go_clean,
            "stop_process": _stop}[kind](data)


def _op(data: dict) -> str:
    op = data.get("op")
    if op not in ("set", "remove"):
        raise ActionRefused("op must be set or remove")
    if op == "remove" and "value" in data:
        raise ActionRefused("a remove action carries no value")
    if op == "set" and "value" not in data:
        raise ActionRefused("a set action needs a value")
    return op


def _vscode(data: dict) -> Action:
    op = _op(data)
    path = data.get("path")
    if not isinstance(path, str) or not path or len(path) > _SETTINGS_PATH_MAX or \
            _CONTROL.search(path):
        raise ActionRefused("path must name a settings.json file")
    key = data.get("key")
    if not isinstance(key, list) or not 1 <= len(key) <= 3 or \
            not all(isinstance(k, str) and _KEY_PART.match(k) for k in key):
        raise ActionRefused("key must be a list of 1 to 3 setting names")
    rule = SETTINGS.get(tuple(key))
    if rule is None:
        raise ActionRefused(f"the agent does not change the setting {'.'.join(key)!r}")
    ops, check = rule
    if op not in ops:
        raise ActionRefused(f"the agent does not {op} {'.'.join(key)!r}")
    if op == "set" and not (check and check(data["value"])):
        raise ActionRefused(f"the value for {'.'.join(key)} does not have the shape it must have")
    return Action("vscode_setting", op=op, path=path, key=tuple(key), value=data.get("value"))


def _wslconfig(data: dict) -> Action:
    op = _op(data)
    section, key = data.get("section"), data.get("key")
    if not isinstance(section, str) or not isinstance(key, str) or \
            (section, key) not in WSLCONFIG:
        raise ActionRefused(f"the agent does not change [{str(section)[:20]}] "
                            f"{str(key)[:40]} in .wslconfig")
    path = data.get("path")
    if path is not None and (not isinstance(path, str) or len(path) > _SETTINGS_PATH_MAX or
                             _CONTROL.search(path)):
        raise ActionRefused("path must be a .wslconfig path")
    check = WSLCONFIG[(section, key)]
    if op == "set" and not (check and check(data["value"])):
        raise ActionRefused(f"the value for [{section}] {key} does not have the shape it must "
                            "have")
    return Action("wslconfig", op=op, path=path or "", section=section, key=(key,),
                  value=data.get("value"))


def _go_clean(data: dict) -> Action:
    target = data.get("target")
    if target not in GO_CLEAN_TARGETS:
        raise ActionRefused(f"go_clean target must be one of {', '.join(GO_CLEAN_TARGETS)}")
    return Action("go_clean", target=target)


def _stop(data: dict) -> Action:
    pid, start = data.get("pid"), data.get("start_time")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 1 < pid < 2**31:
        raise ActionRefused("pid must be a process id")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 < start < 2**40:
        raise ActionRefused("start_time must be the process start time in epoch seconds")
    return Action("stop_process", pid=pid, start_time=start)
