"""From a validated action to a plan the developer reads (diff, directories, process), then
the change itself: checked again, backed up, written atomically, journaled.

Files the agent may edit are only those it finds itself: the VS Code family's user and
remote settings.json, a workspace's .vscode/settings.json, and the Windows .wslconfig under
/mnt/<drive>. Each must be a regular file owned by the user running the agent; running as
root against another user's file or process is refused.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.collectors.editor_settings import candidate_files
from devfleet_agent.collectors.wsl import _identity as wsl_identity
from devfleet_agent.collectors.wsl import find_wslconfig
from devfleet_agent.fixes import journal, jsonc_edit, wslconfig_edit
from devfleet_agent.fixes.actions import Action, ActionRefused
from devfleet_agent.fixes.system import clean_dirs, run_go_clean, stop_gopls, verify_gopls
from devfleet_agent.report import hash_token

MAX_FILE = 1 << 20
_DRVFS_WSLCONFIG = re.compile(r"^/mnt/[a-z]/.+/\.wslconfig$")


@dataclass
class Plan:
    action: Action
    path: Path | None = None  # the real file on this machine (symlinks resolved)
    before: bytes | None = None  # None: the file does not exist yet
    after: bytes | None = None
    diff: str = ""
    dirs: list[tuple[str, int, bool]] = field(default_factory=list)  # path, bytes, complete
    notes: list[str] = field(default_factory=list)

    def show(self) -> str:
        a = self.action
        lines = [f"• {a.describe()}"]
        if self.diff:
            lines.append(self.diff.rstrip("\n"))
        for path, size, complete in self.dirs:
            lines.append(f"  delete {path} ({_human(size)}{'' if complete else ' or more'})")
        if a.type == "stop_process":
            lines.append(f"  send SIGTERM to gopls pid {a.pid} (started {a.start_time})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _check_owner(st: os.stat_result, what: str) -> None:
    """The file or process must be the user's: root editing a user's file is refused."""
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid is None:
        return
    if euid == 0 and st.st_uid != 0:
        raise ActionRefused(f"running as root against a user's {what} is refused: run "
                            "devfleet-agent as that user")
    if st.st_uid != euid:
        raise ActionRefused(f"{what} belongs to another user (uid {st.st_uid})")


def _real_file(ctx: CollectorContext, path: Path, *, may_be_missing: bool = False
               ) -> tuple[Path, bytes | None]:
    host = ctx.host_path(path)
    try:
        real = Path(os.path.realpath(host))
        st = os.stat(real)
    except FileNotFoundError:
        if may_be_missing:
            parent = os.stat(host.parent) if host.parent.exists() else None
            if parent is None:
                raise ActionRefused(f"{path.parent} does not exist") from None
            _check_owner(parent, f"folder {path.parent}")
            return host, None
        raise ActionRefused(f"{path} does not exist") from None
    except OSError as exc:
        raise ActionRefused(f"cannot read {path}: {exc.strerror}") from None
    import stat as stat_mod

    if not stat_mod.S_ISREG(st.st_mode):
        raise ActionRefused(f"{path} is not a regular file")
    if st.st_size > MAX_FILE:
        raise ActionRefused(f"{path} is larger than {MAX_FILE} bytes")
    _check_owner(st, f"file {path}")
    with open(real, "rb") as fh:
        return real, fh.read(MAX_FILE + 1)


def settings_path(ctx: CollectorContext, named: str, salt: str = "") -> Path:
    """The settings.json the action names, if it is one the agent may edit."""
    user = [p for _, _, p in candidate_files(ctx, [])]
    if named.startswith("anon:"):  # anonymised reports carry hashed paths
        for p in user:
            if hash_token(str(p), salt) == named:
                return p
        raise ActionRefused("the anonymised path matches none of this machine's user settings")
    p = Path(named)
    if not p.is_absolute() or ".." in p.parts:
        raise ActionRefused(f"{named[:200]!r} is not an absolute path")
    if p in user or (p.name == "settings.json" and p.parent.name == ".vscode"):
        return p
    raise ActionRefused(f"{named[:200]!r} is outside the files the agent may change (VS Code "
                        "user, remote and workspace settings.json)")


def _diff(path: Path, before: str, after: str) -> str:
    lines = difflib.unified_diff(before.replace("\r\n", "\n").splitlines(keepends=True),
                                 after.replace("\r\n", "\n").splitlines(keepends=True),
                                 fromfile=str(path), tofile=f"{path} (after the fix)")
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n"
                   for x in lines)


def make_plan(ctx: CollectorContext, action: Action, salt: str = "") -> Plan:
    """Read what the action would change and compute the result; raises ActionRefused."""
    if action.type == "vscode_setting":
        return _plan_vscode(ctx, action, salt)
    if action.type == "wslconfig":
        return _plan_wslconfig(ctx, action)
    if action.type == "go_clean":
        plan = Plan(action, dirs=clean_dirs(ctx, action.target))
        if action.target == "gopls_cache":
            plan.notes.append("gopls rebuilds its cache; quit the editors first if you can")
        if action.target == "modcache":
            plan.notes.append("modules are downloaded again when next needed")
        return plan
    verify_gopls(action.pid, action.start_time)
    return Plan(action, notes=["the editor starts a new gopls when it needs one"])


def _plan_vscode(ctx: CollectorContext, action: Action, salt: str) -> Plan:
    shown = settings_path(ctx, action.path, salt)
    real, data = _real_file(ctx, shown)
    assert data is not None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ActionRefused(f"{shown} is not UTF-8 text") from None
    bom = text.startswith("\ufeff")
    body = text[1:] if bom else text
    try:
        if action.op == "remove":
            new = jsonc_edit.remove(body, list(action.key))
        else:
            new = jsonc_edit.set_value(body, list(action.key), action.value)
    except KeyError:
        raise ActionRefused(f"{'.'.join(action.key)} is not in {shown}: nothing to do") from None
    except jsonc_edit.JsoncEditError as exc:
        raise ActionRefused(f"{shown}: {exc}") from None
    if new == body:
        raise ActionRefused(f"{shown} already has that value: nothing to do")
    after = (("\ufeff" if bom else "") + new).encode("utf-8")
    plan = Plan(action, path=real, before=data, after=after, diff=_diff(shown, body, new))
    plan.notes.append("VS Code applies settings.json changes at once; restart the language "
                      "server (Go: Restart Language Server) for gopls flags")
    return plan


def wslconfig_path(ctx: CollectorContext, named: str) -> Path:
    if not wsl_identity(ctx):
        raise ActionRefused("not running under WSL: .wslconfig is reached from WSL only")
    mine = find_wslconfig(ctx)
    if mine is None or not _DRVFS_WSLCONFIG.match(str(mine)):
        raise ActionRefused("the Windows user profile is not reachable under /mnt/<drive>")
    if named and named != str(mine):
        raise ActionRefused(f"{named[:200]!r} is not this machine's .wslconfig ({mine})")
    return mine


def _plan_wslconfig(ctx: CollectorContext, action: Action) -> Plan:
    shown = wslconfig_path(ctx, action.path)
    real, data = _real_file(ctx, shown, may_be_missing=action.op == "set")
    enc = wslconfig_edit.decode(data) if data is not None else wslconfig_edit.Encoded("", "utf-8",
                                                                                     b"")
    try:
        if action.op == "remove":
            new = wslconfig_edit.remove_key(enc.text, action.section, action.key[0])
        else:
            new = wslconfig_edit.set_key(enc.text, action.section, action.key[0],
                                         str(action.value))
    except KeyError:
        raise ActionRefused(f"[{action.section}] {action.key[0]} is not in {shown}: nothing "
                            "to do") from None
    except wslconfig_edit.WslconfigEditError as exc:
        raise ActionRefused(f"{shown}: {exc}") from None
    if new == enc.text and data is not None:
        raise ActionRefused(f"{shown} already has that value: nothing to do")
    plan = Plan(action, path=real, before=data, after=wslconfig_edit.encode(enc, new),
                diff=_diff(shown, enc.text, new))
    plan.notes.append("run `wsl --shutdown` from Windows (PowerShell or cmd) and wait about 8 "
                      "seconds for the VM to stop: the change takes effect at the next start")
    return plan


def _atomic_write(path: Path, data: bytes, mode: int | None) -> None:
    tmp = path.with_name(f".{path.name}.devfleet-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            try:
                os.chmod(tmp, mode)
            except OSError:  # DrvFs without metadata
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def apply_plan(ctx: CollectorContext, plan: Plan, finding: int, rule_id: str, index: int
               ) -> dict[str, Any]:
    """Carry out a plan: a file must still be exactly as when the diff was computed."""
    a = plan.action
    state = ctx.state_dir
    assert state is not None
    base = {"finding": finding, "rule_id": rule_id, "action": a.public(), "index": index}
    if plan.path is None:  # go clean or stop a process: nothing to back up
        try:
            if a.type == "go_clean":
                detail = run_go_clean(ctx, a.target, plan.dirs)
            else:
                detail = stop_gopls(a.pid, a.start_time)
        except ActionRefused:
            raise
        except Exception as exc:  # the journal and the server hear about failures too
            return journal.record(state, **base, outcome="failed",
                                  detail=f"{type(exc).__name__}: {exc}"[:500])
        return journal.record(state, **base, outcome="applied", detail=detail[:500])
    try:
        st = os.stat(plan.path)
        current: bytes | None = plan.path.read_bytes()
        mode: int | None = st.st_mode & 0o7777
        _check_owner(st, f"file {plan.path}")
    except FileNotFoundError:
        current, mode = None, None
    if current != plan.before:
        raise ActionRefused(f"{plan.path} changed since the diff was computed: nothing written; "
                            "run the fix again to see a new diff")
    backup = journal.write_backup(state, finding, index, plan.path.name, current or b"")
    assert plan.after is not None
    try:
        _atomic_write(plan.path, plan.after, mode)
    except OSError as exc:
        return journal.record(state, **base, outcome="failed", path=str(plan.path),
                              detail=f"write failed: {exc.strerror}"[:500])
    return journal.record(state, **base, outcome="applied", path=str(plan.path),
                          backup=str(backup), created=current is None,
                          sha_before=journal.sha256(current),
                          sha_after=journal.sha256(plan.after), detail=a.describe()[:500])


def undo_entry(ctx: CollectorContext, entry: dict[str, Any]) -> dict[str, Any]:
    """Put the file back byte for byte, unless it was edited again after the fix."""
    path, backup = Path(entry["path"]), Path(entry["backup"])
    try:
        current: bytes | None = path.read_bytes()
        st = os.stat(path)
        _check_owner(st, f"file {path}")
        mode: int | None = st.st_mode & 0o7777
    except FileNotFoundError:
        current, mode = None, None
    if journal.sha256(current) != entry.get("sha_after"):
        raise ActionRefused(f"{path} was changed after the fix; undo would lose those edits. "
                            f"The original is in {backup}")
    try:
        original = backup.read_bytes()
    except OSError as exc:
        raise ActionRefused(f"the backup {backup} cannot be read: {exc.strerror}") from None
    if entry.get("created"):
        path.unlink()
    else:
        _atomic_write(path, original, mode)
    state = ctx.state_dir
    assert state is not None
    return journal.record(state, finding=entry["finding"], rule_id=entry.get("rule_id"),
                          action=entry.get("action"), outcome="undone", undoes=entry["id"],
                          path=str(path), detail=f"restored {path} from {backup.name}")


def remove_tree(path: Path) -> None:
    """Delete a directory tree, read-only entries included (as go clean does for modcache)."""
    def retry(func: Any, name: str, exc: Any) -> None:
        os.chmod(os.path.dirname(name), 0o700)  # a read-only folder blocks deleting its entries
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, 0o700)
        func(name)

    if sys.version_info >= (3, 12):  # onerror is deprecated there
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)
