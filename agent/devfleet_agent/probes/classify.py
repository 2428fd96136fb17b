"""Pure rules: which processes are gopls servers, and which editor started a gopls."""

from __future__ import annotations

import re

SERVER = "server"
TELEMETRY = "telemetry"
FORWARDER = "forwarder"
OTHER = "other"  # gopls subcommands such as `gopls version`: not counted

# gopls flags that take a value as the next argument when written without `=`.
VALUE_FLAGS = {
    "debug", "logfile", "listen", "listen.timeout", "mode", "port", "ocagent", "otel", "remote",
    "remote.debug", "remote.logfile", "remote.listen.timeout", "profile.cpu", "profile.mem",
    "profile.trace", "profile.alloc", "profile.block", "mcp-listen", "mcp.listen",
}
_GOPLS_NAME = re.compile(r"^gopls(\.exe)?$", re.I)


def is_gopls_name(name: str | None, argv0: str | None = None) -> bool:
    """True when a process name or argv[0] basename is gopls (gopls.exe on Windows)."""
    if name and _GOPLS_NAME.match(name):
        return True
    if argv0:
        base = re.split(r"[\\/]", argv0)[-1]
        return bool(_GOPLS_NAME.match(base))
    return False


def classify_gopls(argv: list[str], environ: dict[str, str] | None = None) -> str:
    """server | telemetry | forwarder | other, following docs/facts.md §4.6."""
    args = argv[1:]
    if "** telemetry **" in args or (environ or {}).get("GO_TELEMETRY_CHILD") == "1":
        return TELEMETRY
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            name, sep, _ = arg.lstrip("-").partition("=")
            if name == "remote":
                return FORWARDER
            if not sep and name in VALUE_FLAGS:
                i += 1
                if name == "remote":
                    return FORWARDER
        elif arg == "serve":
            i += 1
            continue
        else:
            return OTHER
        i += 1
    return SERVER


def flags_of(argv: list[str]) -> list[str]:
    """The flag arguments of a gopls argv (values joined with `=`), without argv[0]."""
    out: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            name, sep, _ = arg.lstrip("-").partition("=")
            if not sep and name in VALUE_FLAGS and i + 1 < len(args):
                out.append(f"{arg}={args[i + 1]}")
                i += 1
            else:
                out.append(arg)
        i += 1
    return out


# ---- editors -------------------------------------------------------------------------------

_REMOTE_SERVERS = [
    (".vscode-server-insiders", "vscode-server"),
    (".vscode-server", "vscode-server"),
    (".vscode-remote", "vscode-server"),
    (".cursor-server", "cursor"),
    (".windsurf-server", "windsurf"),
    (".vscodium-server", "vscodium"),
]
_HELPERS = [
    ("code helper", "vscode"),
    ("code - insiders helper", "vscode"),
    ("cursor helper", "cursor"),
    ("windsurf helper", "windsurf"),
    ("vscodium helper", "vscodium"),
]
_NAMES = {
    "code": "vscode", "code-insiders": "vscode", "code-oss": "vscode", "code.exe": "vscode",
    "code - insiders.exe": "vscode", "electron": None,
    "cursor": "cursor", "cursor.exe": "cursor", "windsurf": "windsurf", "windsurf.exe": "windsurf",
    "codium": "vscodium", "vscodium": "vscodium", "codium.exe": "vscodium",
    "nvim": "neovim", "nvim.exe": "neovim", "nvim-qt": "neovim",
    "vim": "vim", "gvim": "vim", "mvim": "vim", "vim.exe": "vim",
    "emacs": "emacs", "emacs.exe": "emacs", "emacsclient": "emacs",
    "hx": "helix", "helix": "helix", "hx.exe": "helix",
    "zed": "zed", "zed-editor": "zed", "zed.exe": "zed",
    "sublime_text": "sublime", "sublime_text.exe": "sublime", "plugin_host": "sublime",
    "plugin_host-3.3": "sublime", "plugin_host-3.8": "sublime", "sublime text": "sublime",
}
_JETBRAINS = re.compile(r"jetbrains|goland|idea|pycharm|webstorm|clion|rustrover|phpstorm", re.I)
_ROOTS = {"systemd", "init", "launchd", "wininit.exe", "services.exe", "explorer.exe", "sshd",
          "kernel_task", "(sd-pam)", "tini", "dumb-init"}


def editor_from_chain(chain: list[tuple[str, str, str]]) -> tuple[str, str | None]:
    """chain = [(name, exe, cmdline)] from the parent upwards → (editor kind, process name).

    No ancestor at all, or a parent that is init/systemd (a reparented orphan) → "none".
    """
    if not chain:
        return "none", None
    first_name = chain[0][0].lower()
    if first_name in _ROOTS or first_name.startswith("systemd"):
        return "none", chain[0][0]
    for name, exe, cmdline in chain:
        low_name = (name or "").lower()
        hay = f"{exe} {cmdline}".replace("\\", "/").lower()
        for marker, kind in _REMOTE_SERVERS:
            if marker in hay:
                return kind, name
        for marker, kind in _HELPERS:
            if low_name.startswith(marker) or f"/{marker}" in hay:
                return kind, name
        base = re.split(r"[\\/]", exe or "")[-1].lower()
        for candidate in (low_name, base):
            kind = _NAMES.get(candidate)
            if kind:
                return kind, name
        if _JETBRAINS.search(hay) and "/node" not in hay:
            return "jetbrains", name
        if low_name in _ROOTS or low_name.startswith("systemd"):
            break
    return "unknown", None
