"""Go toolchain facts: `go version -m` / `go env -json` parsers and their on-disk cache."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the collectors import this module; it needs only the type
    from devfleet_agent.collectors.base import CollectorContext

GOPLS_MODULE = "golang.org/x/tools/gopls"
TOOLS_MODULE = "golang.org/x/tools"
_LOCK = threading.Lock()


def parse_go_version_m(text: str) -> dict[str, Any]:
    """`go version -m BINARY` → {go_version, module_path, version, version_source, deps}."""
    out: dict[str, Any] = {"go_version": None, "module_path": None, "version": None,
                           "version_source": None}
    deps: dict[str, str] = {}
    lines = text.splitlines()
    if lines:
        m = re.search(r":\s*(go[\w.\-+]+|devel\s.*)$", lines[0].strip())
        if m:
            out["go_version"] = m.group(1).split()[0] if m.group(1).startswith("go") else m.group(1)
    for line in lines[1:]:
        parts = line.strip().split("\t") if "\t" in line else line.split()
        parts = [p for p in parts if p != ""]
        if len(parts) < 2:
            continue
        if parts[0] == "path":
            out["module_path"] = parts[1]
        elif parts[0] == "mod" and len(parts) >= 3:
            out["version"] = parts[2]
        elif parts[0] == "dep" and len(parts) >= 3:
            deps[parts[1]] = parts[2]
    if out["version"] in (None, "(devel)") and TOOLS_MODULE in deps:
        out["version_source"] = f"{TOOLS_MODULE} {deps[TOOLS_MODULE]}"
    out["tools_version"] = deps.get(TOOLS_MODULE)
    return out


def parse_gopls_version(text: str) -> str | None:
    """`gopls version` output → `v0.16.2` or `(devel)`."""
    m = re.search(r"golang\.org/x/tools/gopls@(\S+)", text)
    if m:
        return m.group(1)
    m = re.search(r"golang\.org/x/tools/gopls (v\S+)", text)
    return m.group(1) if m else None


def parse_go_version(text: str) -> str | None:
    """`go version` → `go1.27.3`."""
    m = re.search(r"go version (\S+)", text)
    return m.group(1) if m else None


def parse_go_env_json(text: str) -> dict[str, str]:
    """`go env -json` → {name: value}; ValueError when it is not a JSON object."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ValueError("go env -json printed JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise ValueError("go env -json did not print an object")
    return {str(k): str(v)[:4096] for k, v in list(data.items())[:128]}


def find_go(ctx: CollectorContext, extra_path: str | None = None) -> str | None:
    """The `go` the developer uses: agent PATH, then gopls's PATH, then usual locations."""
    exe = "go.exe" if ctx.platform == "win32" else "go"
    found = shutil.which(exe, path=ctx.environ.get("PATH"))
    if found:
        return found
    if extra_path:
        found = shutil.which(exe, path=extra_path)
        if found:
            return found
    candidates = [Path("/usr/local/go/bin") / exe, ctx.home / "go" / "bin" / exe,
                  Path("/opt/homebrew/bin") / exe, Path("C:/Program Files/Go/bin") / exe]
    if ctx.environ.get("GOROOT"):
        candidates.insert(0, Path(ctx.environ["GOROOT"]) / "bin" / exe)
    for c in candidates:
        if c.is_file():
            return str(c)
    return None


def _cache_file(ctx: CollectorContext) -> Path | None:
    return ctx.state_dir / "versions.json" if ctx.state_dir else None


def binary_info(ctx: CollectorContext, exe: str, path_env: str | None = None) -> dict[str, Any]:
    """Version and build Go version of a gopls binary, cached per (path, mtime, size)."""
    try:
        st = os.stat(exe)
    except OSError as exc:
        return {"error": f"cannot stat {exe}: {exc.strerror}"}
    key = f"{exe}|{int(st.st_mtime)}|{st.st_size}"
    cache = ctx.cache("gotool.versions")
    if not cache:
        cache.update(_load_disk_cache(ctx))
    if key in cache:
        return cache[key]
    misses = ctx.cache("gotool.misses")
    if ctx.monotonic() < misses.get(key, 0):
        return {"error": "version unknown (lookup failed recently)"}
    go = find_go(ctx, path_env)
    if go is None:
        misses[key] = ctx.monotonic() + 3600
        return {"error": "no `go` command to run `go version -m` with"}
    try:  # never execute the gopls binary itself: `go version -m` only reads it
        res = ctx.run([go, "version", "-m", exe], timeout=10.0)
        info = parse_go_version_m(res.stdout) if res.returncode == 0 else {
            "error": f"go version -m failed: {res.stderr.strip()[:300]}"}
    except Exception as exc:  # OSError, subprocess.TimeoutExpired
        info = {"error": f"go version -m failed: {type(exc).__name__}: {exc}"[:500]}
    info = {k: v for k, v in info.items() if k in
            ("go_version", "version", "version_source", "tools_version", "error")}
    if "error" in info:
        misses[key] = ctx.monotonic() + 3600
    else:
        cache[key] = info
        _save_disk_cache(ctx, cache)
    return info


def _load_disk_cache(ctx: CollectorContext) -> dict[str, Any]:
    path = _cache_file(ctx)
    try:
        data = json.loads(path.read_text()) if path and path.exists() else {}
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_disk_cache(ctx: CollectorContext, cache: dict[str, Any]) -> None:
    path = _cache_file(ctx)
    if not path:
        return
    with _LOCK:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(list(cache.items())[-64:])))
            os.replace(tmp, path)
        except OSError:
            pass


def user_cache_dir(ctx: CollectorContext) -> Path:
    """Go's os.UserCacheDir()."""
    if ctx.platform == "darwin":
        return ctx.home / "Library" / "Caches"
    if ctx.platform == "win32":
        return Path(ctx.environ.get("LOCALAPPDATA") or ctx.home / "AppData" / "Local")
    return Path(ctx.environ.get("XDG_CACHE_HOME") or ctx.home / ".cache")


def cache_dirs(ctx: CollectorContext, go_env: dict[str, str],
               goplscache: str | None = None) -> dict[str, Path]:
    """Where GOCACHE, GOMODCACHE, the gopls cache and the goimports cache live."""
    ucd = user_cache_dir(ctx)
    out: dict[str, Path] = {}
    if go_env.get("GOCACHE") and go_env["GOCACHE"] != "off":
        out["gocache"] = Path(go_env["GOCACHE"])
    if go_env.get("GOMODCACHE"):
        out["gomodcache"] = Path(go_env["GOMODCACHE"])
    elif go_env.get("GOPATH"):
        out["gomodcache"] = Path(go_env["GOPATH"].split(os.pathsep)[0]) / "pkg" / "mod"
    out["gopls_cache"] = Path(goplscache or ctx.environ.get("GOPLSCACHE") or ucd / "gopls")
    out["goimports_cache"] = ucd / "goimports"
    return out


def go_version_tuple(version: str | None) -> tuple[int, ...] | None:
    m = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(x or 0) for x in m.groups()) if m else None


def is_windows() -> bool:
    return sys.platform == "win32"
