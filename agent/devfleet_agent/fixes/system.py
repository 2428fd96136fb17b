"""go_clean and stop_process: which directories and sizes, and which gopls, checked for real.

`go clean` is run as an argument list (never a shell) with the `go` the developer uses; the
gopls cache is deleted by the agent only when it is the directory gopls itself uses
($GOPLSCACHE, else os.UserCacheDir()/gopls) and belongs to the user.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.fixes.actions import ActionRefused
from devfleet_agent.probes import gotool

SIZE_BUDGET_S = 3.0
GOPLS_NAMES = ("gopls", "gopls.exe")
START_SLACK_S = 2.0


def dir_size(path: Path, budget_s: float = SIZE_BUDGET_S) -> tuple[int, bool]:
    """(bytes, complete): a walk that stops after budget_s on a huge cache."""
    total, deadline = 0, time.monotonic() + budget_s
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
        if time.monotonic() > deadline:
            return total, False
    return total, True


def _go(ctx: CollectorContext) -> str:
    go = gotool.find_go(ctx)
    if not go:
        raise ActionRefused("`go` is not on PATH: run the command from the advice instead")
    return go


def _go_env(ctx: CollectorContext, go: str) -> dict[str, str]:
    res = ctx.run([go, "env", "-json", "GOCACHE", "GOMODCACHE", "GOPATH"], timeout=20)
    if res.returncode != 0:
        raise ActionRefused(f"`go env` failed: {res.stderr.strip()[:200]}")
    try:
        return gotool.parse_go_env_json(res.stdout)
    except ValueError as exc:
        raise ActionRefused(f"`go env -json` printed something unexpected: {exc}") from None


def _owned_dir(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid is not None and st.st_uid != euid:
        who = "running as root against a user's" if euid == 0 else "another user's"
        raise ActionRefused(f"{path} is {who} directory (uid {st.st_uid}); refused")


def target_dir(ctx: CollectorContext, target: str) -> Path:
    """The directory a go_clean target removes, as Go and gopls compute it on this machine."""
    if target == "gopls_cache":
        env_dir = ctx.environ.get("GOPLSCACHE")
        path = Path(env_dir) if env_dir else gotool.user_cache_dir(ctx) / "gopls"
        if not path.is_absolute() or path in (Path("/"), ctx.home) or path.parent == path:
            raise ActionRefused(f"{path} is not a directory the agent will delete")
        return path
    env = _go_env(ctx, _go(ctx))
    dirs = gotool.cache_dirs(ctx, env)
    key = "gocache" if target == "cache" else "gomodcache"
    if key not in dirs:
        raise ActionRefused(f"go env names no {key.upper()} (GOCACHE=off?)")
    return dirs[key]


def clean_dirs(ctx: CollectorContext, target: str) -> list[tuple[str, int, bool]]:
    path = target_dir(ctx, target)
    if not path.exists():
        raise ActionRefused(f"{path} does not exist: nothing to clean")
    _owned_dir(path)
    size, complete = dir_size(path)
    return [(str(path), size, complete)]


def run_go_clean(ctx: CollectorContext, target: str, dirs: list[tuple[str, int, bool]]) -> str:
    path = target_dir(ctx, target)
    if [str(path)] != [d for d, _, _ in dirs]:
        raise ActionRefused(f"the directory changed since the plan ({path}); nothing deleted")
    _owned_dir(path)
    if target == "gopls_cache":
        from devfleet_agent.fixes.plan import remove_tree

        remove_tree(path)
        return f"deleted {path}"
    flag = "-cache" if target == "cache" else "-modcache"
    res = ctx.run([_go(ctx), "clean", flag], timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"go clean {flag} exited {res.returncode}: {res.stderr.strip()[:300]}")
    return f"go clean {flag} ({path})"


def verify_gopls(pid: int, start_time: int) -> psutil.Process:
    """The process must exist, be gopls, be the user's, and be the lifetime the finding names."""
    try:
        proc = psutil.Process(pid)
        name = proc.name()
        try:
            exe = os.path.basename(proc.exe())
        except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
            exe = ""
        created = proc.create_time()
        uids = proc.uids() if hasattr(proc, "uids") else None
    except psutil.NoSuchProcess:
        raise ActionRefused(f"pid {pid} is not running any more: nothing to stop") from None
    except psutil.AccessDenied:
        raise ActionRefused(f"pid {pid} belongs to another user") from None
    if name not in GOPLS_NAMES and exe not in GOPLS_NAMES:
        raise ActionRefused(f"pid {pid} is {name!r}, not gopls")
    if abs(created - start_time) > START_SLACK_S:
        raise ActionRefused(f"pid {pid} is a different process than the finding names (started "
                            f"{created:.0f}, the finding's gopls started {start_time})")
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if uids is not None and euid is not None and uids.real != euid:
        who = "running as root against a user's process" if euid == 0 else "another user's"
        raise ActionRefused(f"pid {pid} is {who} gopls (uid {uids.real}); refused")
    return proc


def stop_gopls(pid: int, start_time: int) -> str:
    proc = verify_gopls(pid, start_time)  # again, right before the signal
    proc.terminate()
    try:
        proc.wait(10)
    except psutil.TimeoutExpired:
        return f"sent SIGTERM to gopls pid {pid}; it is still running after 10 s"
    return f"stopped gopls pid {pid}"
