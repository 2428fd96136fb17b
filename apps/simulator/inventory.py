"""Static per-machine facts: gopls argv/env/paths, editor settings, WSL config, the inventory."""

from __future__ import annotations

from apps.simulator import catalog as C
from apps.simulator.fleet import MachineSpec, Slot


def gopls_exe(spec: MachineSpec) -> str:
    if spec.platform == "windows":
        return f"{spec.home}\\go\\bin\\gopls.exe"
    return f"{spec.home}/go/bin/gopls"


def repo_root(spec: MachineSpec, module: str) -> str:
    repo = module.rsplit("/", 1)[-1]
    if spec.problem("workspace_on_drvfs"):
        return f"/mnt/c/Users/{spec.owner}/src/{repo}"
    if spec.platform == "windows":
        return f"{spec.home}\\src\\{repo}"
    return f"{spec.home}/{'code' if spec.platform == 'darwin' else 'src'}/{repo}"


def flags(spec: MachineSpec, slot: Slot) -> list[str]:
    """Flags the editor passes to gopls (what go.languageServerFlags / the LSP config says)."""
    out = []
    if slot.debug:
        out.append(
            "-debug=localhost:0" if slot.editor in C.VSCODE_FAMILY else "-debug=localhost:6060"
        )
    if spec.problem("rpc_trace_on"):
        out += ["-rpc.trace", "-logfile=auto"]
    invented = spec.problem("invented_flags")
    if invented:
        out += invented["flags"]
    return out


def gopls_env(spec: MachineSpec, slot: Slot) -> dict[str, str]:
    env = {"GOTOOLCHAIN": "auto"} if spec.index % 3 else {}
    if spec.index % 4 == 1:
        env["GOFLAGS"] = "-mod=mod"
    bad = spec.problem("gomemlimit_bad_suffix")
    if bad:
        env["GOMEMLIMIT"] = bad["value"]
    return env


def debug_addr(spec: MachineSpec, slot: Slot, pid: int) -> str | None:
    if not slot.debug:
        return None
    if slot.editor in C.VSCODE_FAMILY:
        return f"localhost:{30000 + pid % 30000}"  # -debug=localhost:0 picks a free port
    return "localhost:6060"


def editor_info(spec: MachineSpec, slot: Slot) -> dict:
    if slot.role == "orphan":
        return {"kind": "none", "process": "systemd", "chain": ["systemd"]}
    _, process, chain, _ = C.EDITORS[slot.editor]
    commit = "f1a4fb101478ce6ec82fe9627c43efbf9e98c813"
    return {
        "kind": slot.editor,
        "process": process,
        "chain": [c.format(user=spec.owner, commit=commit) for c in chain],
    }


def editor_settings(spec: MachineSpec) -> list[dict]:
    """VS Code-family settings.json (whitelisted keys) with the bad-settings scenarios applied."""
    if spec.editor not in C.VSCODE_FAMILY:
        return []
    main = spec.slots[0]
    settings: dict = {"go.useLanguageServer": True, "gopls": {"ui.semanticTokens": True}}
    lsf = flags(spec, main)
    if lsf:
        settings["go.languageServerFlags"] = lsf
    env = {k: v for k, v in gopls_env(spec, main).items() if k in ("GOMEMLIMIT", "GOFLAGS")}
    if env:
        settings["go.toolsEnvVars"] = env
    build_env = spec.problem("gomemlimit_in_build_env")
    if build_env:
        settings["gopls"]["build.env"] = {"GOMEMLIMIT": build_env["value"]}
    if spec.problem("memorymode_setting"):
        settings["gopls"]["build.memoryMode"] = "DegradeClosed"
    if spec.problem("inotify_exhaustion") is None and spec.index % 2:
        settings["files.watcherExclude"] = {"**/vendor/**": True, "**/node_modules/**": True}
    scope, path = _settings_path(spec)
    user_settings = {
        "editor": spec.editor,
        "scope": scope,
        "path": path,
        "settings": settings,
        "has_go_goplsArgs": bool(spec.problem("goplsargs_setting")),
        "error": None,
    }
    root = repo_root(spec, main.project)
    sep = "\\" if spec.platform == "windows" else "/"
    workspace = {
        "editor": spec.editor,
        "scope": "workspace",
        "path": f"{root}{sep}.vscode{sep}settings.json",
        "settings": {},
        "has_go_goplsArgs": False,
        "error": None,
    }
    return [user_settings, workspace]


def _settings_path(spec: MachineSpec) -> tuple[str, str]:
    folder = {"vscode": "Code", "cursor": "Cursor"}.get(spec.editor, "Code")
    if spec.editor == "vscode-server":
        return "remote", f"{spec.home}/.vscode-server/data/Machine/settings.json"
    if spec.platform == "darwin":
        return "user", f"{spec.home}/Library/Application Support/{folder}/User/settings.json"
    if spec.platform == "windows":
        return "user", f"{spec.home}\\AppData\\Roaming\\{folder}\\User\\settings.json"
    return "user", f"{spec.home}/.config/{folder}/User/settings.json"


def wsl_inventory(spec: MachineSpec) -> dict | None:
    if not spec.wsl_version:
        return None
    gb = spec.host_mem // C.GiB
    wslconfig = {
        "path": f"/mnt/c/Users/{spec.owner}/.wslconfig",
        "found": spec.index % 2 == 0,
        "encoding": "utf-8",
        "sections": {},
        "error": None,
    }
    if wslconfig["found"] and not spec.problem("wsl_memory_pressure"):
        wslconfig["sections"] = {
            "wsl2": {"memory": f"{gb // 2}GB", "swap": "4GB"},
            "experimental": {"autoMemoryReclaim": "gradual"},
        }
    conf = {
        "found": True,
        "sections": {"boot": {"systemd": "true"}},
        "misplaced_keys": [],
        "error": None,
    }
    misplaced = spec.problem("wslconf_misplaced_keys")
    if misplaced:
        values = {"memory": f"{max(4, gb // 4)}GB", "swap": "8GB", "processors": "4"}
        conf["sections"]["wsl2"] = {
            k.split(".")[1]: values[k.split(".")[1]] for k in misplaced["keys"]
        }
        conf["misplaced_keys"] = list(misplaced["keys"])
    return {"wslconfig": wslconfig, "wsl_conf": conf}


def inventory(spec: MachineSpec, collected_at: str) -> dict:
    exe = gopls_exe(spec)
    tool_name, tool_version = C.EDITOR_TOOLS[spec.editor]
    goroot = {"darwin": "/usr/local/go", "windows": "C:\\Program Files\\Go"}.get(
        spec.platform, "/usr/local/go"
    )
    sep = "\\" if spec.platform == "windows" else "/"
    goos = {"darwin": "darwin", "windows": "windows"}.get(spec.platform, "linux")
    go_env = {
        "GOROOT": goroot,
        "GOPATH": f"{spec.home}{sep}go",
        "GOMODCACHE": f"{spec.home}{sep}go{sep}pkg{sep}mod",
        "GOTOOLCHAIN": "auto",
        "GOVERSION": spec.go_version,
        "GOOS": goos,
        "GOARCH": "arm64" if spec.arch == "arm64" else "amd64",
        "GOWORK": "",
        "GOFLAGS": "-mod=mod" if spec.index % 4 == 1 else "",
    }
    go_env["GOCACHE"] = {
        "darwin": f"{spec.home}/Library/Caches/go-build",
        "windows": f"{spec.home}\\AppData\\Local\\go-build",
    }.get(spec.platform, f"{spec.home}/.cache/go-build")
    go_bin = f"{goroot}{sep}bin{sep}go"
    out = {
        "collected_at": collected_at,
        "tools": {"go": spec.go_version, "gopls": spec.gopls_version, tool_name: tool_version},
        "gopls_binaries": [
            {"exe": exe, "version": spec.gopls_version, "go_version": spec.gopls_go}
        ],
        "go_env": go_env,
        "goroot_check": {
            "go_on_path": go_bin,
            "go_on_path_version": spec.go_version,
            "goroot": goroot,
            "goroot_version": spec.go_version,
            "consistent": True,
            "problems": [],
        },
        "editor_settings": editor_settings(spec),
    }
    if spec.wsl_version:  # a null section would be stored as-is (see the report to the lead)
        out["wsl"] = wsl_inventory(spec)
    if spec.inotify_max:
        out["limits"] = {"max_user_watches": spec.inotify_max, "max_user_instances": 128}
    return out
