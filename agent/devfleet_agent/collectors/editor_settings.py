"""Editor settings collector: VS Code-family settings.json (user/remote/workspace), whitelisted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devfleet_agent import jsonc
from devfleet_agent.collectors.base import INVENTORY, CollectorContext, collector

FLAVOURS = [("vscode", "Code"), ("vscode-insiders", "Code - Insiders"), ("cursor", "Cursor"),
            ("windsurf", "Windsurf"), ("vscodium", "VSCodium")]
REMOTES = [("vscode-server", ".vscode-server"), ("vscode-server", ".vscode-server-insiders"),
           ("cursor", ".cursor-server"), ("windsurf", ".windsurf-server"),
           ("vscodium", ".vscodium-server")]
PLAIN_KEYS = ("go.languageServerFlags", "go.useLanguageServer", "go.alternateTools",
              "files.watcherExclude")
MAX_BYTES = 1 << 20


def filter_settings(data: Any) -> tuple[dict[str, Any], bool]:
    """Keep only the whitelisted keys; also say whether `go.goplsArgs` (not a real key) is set."""
    if not isinstance(data, dict):
        raise ValueError("settings.json is not a JSON object")
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in PLAIN_KEYS or key == "gopls" or key.startswith("gopls."):
            kept[key] = value
        elif key == "go.toolsEnvVars" and isinstance(value, dict):
            kept[key] = {k: v for k, v in value.items() if str(k).startswith("GO")}
    return dict(list(kept.items())[:256]), "go.goplsArgs" in data


def candidate_files(ctx: CollectorContext, roots: list[str]) -> list[tuple[str, str, Path]]:
    """(editor, scope, path) of every settings file that may apply on this machine."""
    home = ctx.home
    if ctx.platform == "darwin":
        user_base = home / "Library" / "Application Support"
    elif ctx.platform == "win32":
        user_base = Path(ctx.environ.get("APPDATA") or home / "AppData" / "Roaming")
    else:
        user_base = Path(ctx.environ.get("XDG_CONFIG_HOME") or home / ".config")
    out = [(editor, "user", user_base / folder / "User" / "settings.json")
           for editor, folder in FLAVOURS]
    out += [(editor, "remote", home / folder / "data" / "Machine" / "settings.json")
            for editor, folder in REMOTES]
    for root in roots:
        out.append(("vscode", "workspace", Path(root) / ".vscode" / "settings.json"))
    return out


@collector("editor_settings", section=INVENTORY, interval_key="inventory_interval_s",
           budget_ms=100.0)
def collect_editor_settings(ctx: CollectorContext) -> dict[str, Any]:
    """Whitelisted keys of every existing settings.json, parsed as JSONC (re-read on change)."""
    roots: list[str] = []
    for proc in ctx.facts.gopls.values():
        for root in proc.workspace_roots:
            if root not in roots:
                roots.append(root)
    cache = ctx.cache("editor_settings")
    out = []
    for editor, scope, path in candidate_files(ctx, roots[:32]):
        host = ctx.host_path(path)
        try:
            st = os.stat(host)
        except OSError:
            continue
        key = (str(host), st.st_mtime_ns, st.st_size)
        if cache.get(str(host), (None,))[0] != key:
            cache[str(host)] = (key, read_settings(ctx, editor, scope, path))
        out.append(cache[str(host)][1])
    return {"editor_settings": out[:64]}


def read_settings(ctx: CollectorContext, editor: str, scope: str, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"editor": editor, "scope": scope, "path": str(path), "settings": {},
                             "has_go_goplsArgs": False, "error": None}
    try:
        raw = ctx.read_bytes(ctx.host_path(path), MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ValueError(f"file larger than {MAX_BYTES} bytes; not parsed")
        entry["settings"], entry["has_go_goplsArgs"] = filter_settings(
            jsonc.loads(raw.decode("utf-8")))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    return entry
