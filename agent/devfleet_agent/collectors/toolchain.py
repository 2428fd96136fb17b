"""Inventory collectors: go env, go/gopls versions, GOROOT consistency, gopls binaries, limits."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from devfleet_agent.collectors.base import INVENTORY, CollectorContext, collector
from devfleet_agent.probes import gotool

GO_ENV_MAX_AGE_S = 3600.0


@collector("go_toolchain", section=INVENTORY, interval_key="inventory_interval_s",
           budget_ms=3000.0)
def collect_go_toolchain(ctx: CollectorContext) -> dict[str, Any]:
    """`go env -json` (cached until go/GOENV change or an hour passes), versions, GOROOT check."""
    st = ctx.cache("go_toolchain")
    go = gotool.find_go(ctx, _gopls_path_env(ctx))
    out: dict[str, Any] = {"tools": {}, "gopls_binaries": gopls_binaries(ctx)}
    if go is None:
        # no go command: nothing to compare (not an inconsistency); tools.go stays absent
        out["goroot_check"] = {"go_on_path": None, "consistent": None, "problems": []}
        _set_cache_dirs(ctx, {})
        return out
    key = _env_key(ctx, go)
    now = ctx.monotonic()
    if st.get("key") != key or now - st.get("at", -1e9) > GO_ENV_MAX_AGE_S:
        res = ctx.run([go, "env", "-json"], timeout=15.0)
        if res.returncode != 0:
            raise RuntimeError(f"go env -json failed: {res.stderr.strip()[:500]}")
        st.update(key=key, at=now, env=gotool.parse_go_env_json(res.stdout))
    env: dict[str, str] = st["env"]
    ctx.facts.go_env = env
    out["go_env"] = env
    out["tools"]["go"] = env.get("GOVERSION")
    if out["gopls_binaries"]:
        out["tools"]["gopls"] = out["gopls_binaries"][0].get("version")
    out["tools"].update(editor_versions(ctx))
    out["goroot_check"] = goroot_check(ctx, go, env, out["gopls_binaries"])
    _set_cache_dirs(ctx, env)
    return out


ELECTRON_TOOLS = {"vscode": "code", "vscode-server": "vscode-server", "cursor": "cursor",
                  "windsurf": "windsurf", "vscodium": "codium"}
CLI_TOOLS = {"neovim": "nvim", "vim": "vim", "emacs": "emacs", "helix": "hx", "zed": "zed"}
# only these binaries are ever run with --version (never an arbitrary parent such as a shell)
CLI_BINARIES = {"nvim", "vim", "gvim", "emacs", "hx", "helix", "zed", "zed-editor"}


def editor_versions(ctx: CollectorContext) -> dict[str, str | None]:
    """Versions of the editors that run gopls: package.json next to VS Code-family binaries,
    `<editor> --version` (cached per binary) for terminal editors."""
    cache = ctx.cache("toolchain.editors")
    out: dict[str, str | None] = {}
    for proc in ctx.facts.gopls.values():
        kind = proc.editor_kind
        for exe in proc.editor_exes:
            key = f"{kind}|{exe}"
            if key not in cache:
                cache[key] = _editor_version(ctx, kind, exe)
            if cache[key]:
                out[ELECTRON_TOOLS.get(kind) or CLI_TOOLS.get(kind) or str(kind)] = cache[key]
                break
    return dict(list(out.items())[:16])


def _editor_version(ctx: CollectorContext, kind: str | None, exe: str) -> str | None:
    path = Path(exe)
    if kind in ELECTRON_TOOLS:
        for parent in list(path.parents)[:6]:
            for rel in ("package.json", "resources/app/package.json",
                        "Resources/app/package.json"):
                candidate = parent / rel
                try:
                    data = json.loads(candidate.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict) and isinstance(data.get("version"), str):
                    return data["version"][:512]
        return None
    if kind in CLI_TOOLS and os.path.basename(exe).split(".")[0] in CLI_BINARIES:
        try:
            res = ctx.run([exe, "--version"], timeout=5.0)
        except Exception:  # OSError, TimeoutExpired
            return None
        first = (res.stdout or "").strip().splitlines()
        return first[0][:512] if res.returncode == 0 and first else None
    return None


def _set_cache_dirs(ctx: CollectorContext, env: dict[str, str]) -> None:
    goplscache = None
    for proc in ctx.facts.gopls.values():
        goplscache = goplscache or proc.env.get("GOPLSCACHE")
    ctx.facts.cache_dirs = gotool.cache_dirs(ctx, env, goplscache)


def _gopls_path_env(ctx: CollectorContext) -> str | None:
    for proc in ctx.facts.gopls.values():
        path = proc.env.get("PATH")
        if path:
            return path
    return None


def _env_key(ctx: CollectorContext, go: str) -> tuple:
    def mtime(p: str | Path) -> float:
        try:
            return os.stat(p).st_mtime
        except OSError:
            return 0.0

    goenv = ctx.environ.get("GOENV") or str(_user_config_dir(ctx) / "go" / "env")
    go_vars = tuple(sorted((k, v) for k, v in ctx.environ.items() if k.startswith("GO")))
    return (go, mtime(go), goenv, mtime(goenv), go_vars)


def _user_config_dir(ctx: CollectorContext) -> Path:
    if ctx.platform == "darwin":
        return ctx.home / "Library" / "Application Support"
    if ctx.platform == "win32":
        return Path(ctx.environ.get("APPDATA") or ctx.home / "AppData" / "Roaming")
    return Path(ctx.environ.get("XDG_CONFIG_HOME") or ctx.home / ".config")


def goroot_check(ctx: CollectorContext, go: str, env: dict[str, str],
                 binaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare the go on PATH, GOROOT's VERSION file and the Go gopls was built with."""
    goroot = env.get("GOROOT")
    goroot_version = None
    if goroot:
        try:
            goroot_version = (Path(goroot) / "VERSION").read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            goroot_version = None
    path_version = env.get("GOVERSION")
    problems: list[str] = []
    if goroot_version and path_version and goroot_version != path_version:
        problems.append(f"go on PATH reports {path_version} but GOROOT {goroot} holds "
                        f"{goroot_version} (GOTOOLCHAIN switch or a stale GOROOT)")
    if ctx.environ.get("GOROOT") and goroot and ctx.environ["GOROOT"] != goroot:
        problems.append(f"GOROOT is set to {ctx.environ['GOROOT']} in the environment")
    tool = gotool.go_version_tuple(path_version)
    for b in binaries:
        built = gotool.go_version_tuple(b.get("go_version"))
        if tool and built and built[:2] < tool[:2]:
            problems.append(f"gopls {b.get('exe')} was built with {b.get('go_version')}, older "
                            f"than the go command ({path_version}); rebuild it with "
                            "`go install golang.org/x/tools/gopls@latest`")
    return {"go_on_path": go, "go_on_path_version": path_version, "goroot": goroot,
            "goroot_version": goroot_version, "consistent": not problems,
            "problems": problems[:16]}


def gopls_binaries(ctx: CollectorContext) -> list[dict[str, Any]]:
    """Every distinct gopls binary: running servers first, then gopls on PATH and in GOBIN."""
    exes: list[str] = []
    path_env = None
    for proc in ctx.facts.gopls.values():
        if proc.exe and proc.exe not in exes:
            exes.append(proc.exe)
            path_env = path_env or proc.env.get("PATH")
    name = "gopls.exe" if ctx.platform == "win32" else "gopls"
    for candidate in (shutil.which(name, path=ctx.environ.get("PATH")),
                      str(ctx.home / "go" / "bin" / name)):
        if candidate and os.path.isfile(candidate) and candidate not in exes:
            exes.append(candidate)
    out = []
    for exe in exes[:16]:
        info = gotool.binary_info(ctx, exe, path_env)
        out.append({"exe": exe, "version": info.get("version"),
                    "version_source": info.get("version_source"),
                    "go_version": info.get("go_version")})
    return out


@collector("limits", section=INVENTORY, interval_key="inventory_interval_s", budget_ms=20.0)
def collect_limits(ctx: CollectorContext) -> dict[str, Any]:
    """inotify limits, the system file-max, and this user's RLIMIT_NOFILE."""
    limits: dict[str, Any] = {}
    base = ctx.proc_root / "sys" / "fs"
    for name, path in (("max_user_watches", base / "inotify" / "max_user_watches"),
                       ("max_user_instances", base / "inotify" / "max_user_instances"),
                       ("max_queued_events", base / "inotify" / "max_queued_events"),
                       ("file_max", base / "file-max")):
        try:
            limits[name] = int(ctx.read_text(path, 64).strip())
        except (OSError, ValueError):
            continue
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limits["nofile_soft"] = None if soft == resource.RLIM_INFINITY else soft
        limits["nofile_hard"] = None if hard == resource.RLIM_INFINITY else hard
    except (ImportError, OSError, ValueError):
        pass
    return {"limits": limits}
