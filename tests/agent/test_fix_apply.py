"""Fix actions on a real temporary HOME: strict schemas, refusals, backup, atomic write, undo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.fixes import journal
from devfleet_agent.fixes.actions import ActionRefused, parse_action
from devfleet_agent.fixes.plan import apply_plan, make_plan, remove_tree, undo_entry

FIXTURES = Path(__file__).parent / "fixtures" / "vscode-settings"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    user = h / ".config" / "Code" / "User"
    user.mkdir(parents=True)
    shutil.copy(FIXTURES / "spaces-comments-trailing.json", user / "settings.json")
    return h


@pytest.fixture
def ctx(home, make_config, tmp_path):
    cfg = make_config()
    return CollectorContext(config=cfg, home=home, environ={"PATH": os.environ.get("PATH", "")},
                            platform="linux", state_dir=tmp_path / "state",
                            proc_root=tmp_path / "proc", fs_root=Path("/"))


def _settings(home: Path) -> Path:
    return home / ".config" / "Code" / "User" / "settings.json"


def _remove_goplsargs(home: Path) -> dict:
    return {"type": "vscode_setting", "op": "remove", "path": str(_settings(home)),
            "key": ["go.goplsArgs"]}


@pytest.mark.parametrize(("data", "why"), [
    ({"type": "shell", "command": "rm -rf ~"}, "unknown action type"),
    ("rm -rf /", "must be an object"),
    ({"type": "vscode_setting", "op": "remove", "path": "/x/settings.json",
      "key": ["editor.fontSize"]}, "does not change the setting"),
    ({"type": "vscode_setting", "op": "set", "path": "/x/.vscode/settings.json",
      "key": ["go.toolsEnvVars", "GOMEMLIMIT"], "value": "4GB"}, "shape"),
    ({"type": "vscode_setting", "op": "set", "path": "/x/.vscode/settings.json",
      "key": ["go.toolsEnvVars", "GOMEMLIMIT"], "value": "1GiB; rm -rf ~"}, "shape"),
    ({"type": "vscode_setting", "op": "set", "path": "/x/.vscode/settings.json",
      "key": ["go.languageServerFlags"], "value": ["-rpc.trace", "$(curl evil)"]}, "shape"),
    ({"type": "vscode_setting", "op": "remove", "path": "/x/settings.json",
      "key": ["go.goplsArgs"], "value": 1}, "carries no value"),
    ({"type": "vscode_setting", "op": "remove", "key": ["go.goplsArgs"]}, "path"),
    ({"type": "vscode_setting", "op": "remove", "key": ["go.goplsArgs"],
      "path": "/w/\x1b]0;pwned\x07/.vscode/settings.json"}, "path"),
    ({"type": "vscode_setting", "op": "remove", "path": "/x", "key": ["go.goplsArgs"],
      "shell": "x"}, "unexpected fields"),
    ({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "kernel",
      "value": "/evil"}, "does not change"),
    ({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory",
      "value": "16GB\nkernel=/evil"}, "shape"),
    ({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory",
      "value": "16G"}, "shape"),
    ({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory",
      "value": "99999999GB"}, "shape"),
    ({"type": "go_clean", "target": "/"}, "target must be"),
    ({"type": "stop_process", "pid": "1; kill -9 -1", "start_time": 1}, "pid"),
    ({"type": "stop_process", "pid": True, "start_time": 1}, "pid"),
    ({"type": "stop_process", "pid": 1, "start_time": 1}, "pid"),
])
def test_a_tampered_action_is_refused_by_its_schema(data, why):
    with pytest.raises(ActionRefused, match=why):
        parse_action(data)


def test_valid_actions_parse():
    assert parse_action({"type": "go_clean", "target": "gopls_cache"}).target == "gopls_cache"
    a = parse_action({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory",
                      "value": "24GB"})
    assert a.describe() == "set memory=24GB in [wsl2] of .wslconfig"


@pytest.mark.parametrize("path", ["/etc/passwd", "relative/settings.json",
                                  "/home/u/.vscode/../.bashrc", "/home/u/.ssh/settings.json",
                                  "anon:0123456789ab"])
def test_a_path_outside_the_allowed_files_is_refused(ctx, path):
    action = parse_action({"type": "vscode_setting", "op": "remove", "path": path,
                           "key": ["go.goplsArgs"]})
    with pytest.raises(ActionRefused):
        make_plan(ctx, action)


def test_an_anonymised_path_matches_this_machines_own_user_settings(ctx, home):
    from devfleet_agent.report import hash_token

    hashed = hash_token(str(_settings(home)), "m-salt")
    action = parse_action({"type": "vscode_setting", "op": "remove", "path": hashed,
                           "key": ["go.goplsArgs"]})
    assert make_plan(ctx, action, salt="m-salt").path == _settings(home)
    with pytest.raises(ActionRefused, match="anonymised path"):
        make_plan(ctx, action, salt="another-machine")


def test_fix_writes_a_backup_applies_atomically_and_undo_restores_byte_for_byte(ctx, home):
    path = _settings(home)
    original = path.read_bytes()
    os.chmod(path, 0o640)
    plan = make_plan(ctx, parse_action(_remove_goplsargs(home)))
    assert '-    "go.goplsArgs": [' in plan.diff
    assert "+" not in plan.diff.split("@@")[-1].replace(
        "+++", "")
    entry = apply_plan(ctx, plan, finding=42, rule_id="go_goplsargs_setting", index=0)
    assert entry["outcome"] == "applied"
    assert "go.goplsArgs" not in path.read_text()
    assert "// Editor" in path.read_text()
    assert os.stat(path).st_mode & 0o777 == 0o640
    backup = Path(entry["backup"])
    assert backup.read_bytes() == original
    assert os.stat(backup).st_mode & 0o777 == 0o600
    assert backup.name.startswith("42-")
    [pending] = journal.pending_reports(ctx.state_dir)
    assert pending["finding_id"] == 42
    assert pending["outcome"] == "applied"
    assert pending["action"] == {"type": "vscode_setting", "op": "remove", "key": "go.goplsArgs"}
    [item] = journal.undoable(ctx.state_dir, 42)
    undo_entry(ctx, item)
    assert path.read_bytes() == original
    assert journal.undoable(ctx.state_dir, 42) == []
    assert [p["outcome"] for p in journal.pending_reports(ctx.state_dir)] == ["applied", "undone"]
    journal.mark_reported(ctx.state_dir, [p["id"] for p in journal.pending_reports(ctx.state_dir)])
    assert journal.pending_reports(ctx.state_dir) == []


def test_a_file_changed_after_the_diff_is_not_written(ctx, home):
    path = _settings(home)
    plan = make_plan(ctx, parse_action(_remove_goplsargs(home)))
    path.write_text(path.read_text().replace("14", "15"))
    edited = path.read_bytes()
    with pytest.raises(ActionRefused, match="changed since the diff"):
        apply_plan(ctx, plan, finding=1, rule_id="r", index=0)
    assert path.read_bytes() == edited
    assert journal.entries(ctx.state_dir) == []


def test_undo_refuses_when_the_file_was_edited_after_the_fix(ctx, home):
    path = _settings(home)
    apply_plan(ctx, make_plan(ctx, parse_action(_remove_goplsargs(home))), 5, "r", 0)
    path.write_text(path.read_text() + "\n")
    [item] = journal.undoable(ctx.state_dir, 5)
    with pytest.raises(ActionRefused, match="changed after the fix"):
        undo_entry(ctx, item)


def test_a_symlinked_settings_file_is_edited_at_its_target(ctx, home, tmp_path):
    path = _settings(home)
    real = tmp_path / "dotfiles" / "settings.json"
    real.parent.mkdir()
    shutil.move(path, real)
    path.symlink_to(real)
    apply_plan(ctx, make_plan(ctx, parse_action(_remove_goplsargs(home))), 1, "r", 0)
    assert path.is_symlink()
    assert "goplsArgs" not in real.read_text()


def test_nothing_to_do_is_a_refusal_not_a_write(ctx, home):
    plan = make_plan(ctx, parse_action(_remove_goplsargs(home)))
    apply_plan(ctx, plan, 1, "r", 0)
    with pytest.raises(ActionRefused, match="nothing to do"):
        make_plan(ctx, parse_action(_remove_goplsargs(home)))


@pytest.mark.skipif(not IS_ROOT, reason="needs root to own a file as another user")
def test_running_as_root_against_a_users_file_is_refused(ctx, home):
    path = _settings(home)
    os.chown(path, 1000, 1000)
    before = path.read_bytes()
    with pytest.raises(ActionRefused, match="running as root against a user's"):
        make_plan(ctx, parse_action(_remove_goplsargs(home)))
    assert path.read_bytes() == before


def _wsl_ctx(ctx: CollectorContext, tmp_path: Path) -> CollectorContext:
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "proc" / "version").write_text(
        "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@host) #1 SMP\n")
    ctx.caches.clear()  # WSL identity is cached per context
    ctx.fs_root = tmp_path / "fs"
    ctx.environ = {**ctx.environ, "USERPROFILE": "C:\\Users\\dev", "WSL_DISTRO_NAME": "Ubuntu"}
    return ctx


def test_wslconfig_set_keeps_utf16_and_says_wsl_shutdown_is_needed(ctx, tmp_path):
    ctx = _wsl_ctx(ctx, tmp_path)
    path = tmp_path / "fs" / "mnt" / "c" / "Users" / "dev" / ".wslconfig"
    path.parent.mkdir(parents=True)
    original = b"\xff\xfe" + "[wsl2]\r\nmemory=8GB\r\nswap=0\r\n".encode("utf-16-le")
    path.write_bytes(original)
    action = parse_action({"type": "wslconfig", "op": "set", "section": "wsl2",
                           "key": "memory", "value": "24GB",
                           "path": "/mnt/c/Users/dev/.wslconfig"})
    plan = make_plan(ctx, action)
    assert "-memory=8GB\n+memory=24GB" in plan.diff
    assert any("wsl --shutdown" in n for n in plan.notes)
    entry = apply_plan(ctx, plan, 9, "wsl_memory_pressure", 0)
    assert path.read_bytes() == b"\xff\xfe" + "[wsl2]\r\nmemory=24GB\r\nswap=0\r\n".encode(
        "utf-16-le")
    undo_entry(ctx, journal.undoable(ctx.state_dir, 9)[0])
    assert path.read_bytes() == original
    assert entry["outcome"] == "applied"


def test_wslconfig_is_created_when_missing_and_undo_deletes_it(ctx, tmp_path):
    ctx = _wsl_ctx(ctx, tmp_path)
    folder = tmp_path / "fs" / "mnt" / "c" / "Users" / "dev"
    folder.mkdir(parents=True)
    action = parse_action({"type": "wslconfig", "op": "set", "section": "wsl2",
                           "key": "memory", "value": "12GB"})
    apply_plan(ctx, make_plan(ctx, action), 3, "r", 0)
    assert (folder / ".wslconfig").read_bytes() == b"[wsl2]\nmemory=12GB\n"
    undo_entry(ctx, journal.undoable(ctx.state_dir, 3)[0])
    assert not (folder / ".wslconfig").exists()


def test_wslconfig_elsewhere_or_outside_wsl_is_refused(ctx, tmp_path):
    action = parse_action({"type": "wslconfig", "op": "set", "section": "wsl2",
                           "key": "memory", "value": "12GB"})
    with pytest.raises(ActionRefused, match="not running under WSL"):
        make_plan(ctx, action)
    ctx = _wsl_ctx(ctx, tmp_path)
    other = parse_action({"type": "wslconfig", "op": "set", "section": "wsl2", "key": "memory",
                          "value": "12GB", "path": "/mnt/c/Users/other/.wslconfig"})
    with pytest.raises(ActionRefused, match=r"not this machine's \.wslconfig"):
        make_plan(ctx, other)


def test_go_clean_gopls_cache_deletes_only_the_users_gopls_cache(ctx, home):
    cache = home / ".cache" / "gopls"
    (cache / "ab").mkdir(parents=True)
    (cache / "ab" / "entry").write_bytes(b"x" * 5000)
    os.chmod(cache / "ab", 0o500)  # read-only folders, as Go leaves some
    plan = make_plan(ctx, parse_action({"type": "go_clean", "target": "gopls_cache"}))
    assert plan.dirs == [(str(cache), 5000, True)]
    assert "4.9 KiB" in plan.show()
    entry = apply_plan(ctx, plan, 7, "gopls_cache_oversized", 0)
    assert entry["outcome"] == "applied"
    assert not cache.exists()
    assert journal.undoable(ctx.state_dir, 7) == []  # a cache delete cannot be undone


def _spawn(tmp_path: Path, name: str, **kw) -> subprocess.Popen:
    exe = tmp_path / name
    shutil.copy(shutil.which("sleep"), exe)
    return subprocess.Popen([str(exe), "60"], **kw)


def test_stop_process_stops_the_users_gopls_the_finding_names(ctx, tmp_path):
    proc = _spawn(tmp_path, "gopls")
    try:
        start = int(psutil.Process(proc.pid).create_time())
        plan = make_plan(ctx, parse_action({"type": "stop_process", "pid": proc.pid,
                                            "start_time": start}))
        entry = apply_plan(ctx, plan, 11, "gopls_orphan", 0)
        assert entry["outcome"] == "applied"
        assert not psutil.pid_exists(proc.pid)  # stopped and reaped by the agent's wait
    finally:
        proc.kill()
        proc.wait()


def test_stop_process_refuses_what_is_not_the_named_gopls(ctx, tmp_path):
    other = _spawn(tmp_path, "sleepy")
    gopls = _spawn(tmp_path, "gopls")
    try:
        start = int(psutil.Process(other.pid).create_time())
        with pytest.raises(ActionRefused, match="not gopls"):
            make_plan(ctx, parse_action({"type": "stop_process", "pid": other.pid,
                                         "start_time": start}))
        with pytest.raises(ActionRefused, match="different process"):
            make_plan(ctx, parse_action({"type": "stop_process", "pid": gopls.pid,
                                         "start_time": int(time.time()) - 3600}))
        with pytest.raises(ActionRefused, match="not running"):
            make_plan(ctx, parse_action({"type": "stop_process", "pid": 2**31 - 2,
                                         "start_time": start}))
        assert other.poll() is None
        assert gopls.poll() is None
    finally:
        other.kill()
        gopls.kill()


@pytest.mark.skipif(not IS_ROOT or sys.platform != "linux", reason="needs root to setuid")
def test_stop_process_refuses_another_users_gopls(ctx):
    folder = Path(tempfile.mkdtemp())
    os.chmod(folder, 0o755)
    proc = _spawn(folder, "gopls", user=65534)
    try:
        start = int(psutil.Process(proc.pid).create_time())
        with pytest.raises(ActionRefused, match="running as root against a user's process"):
            make_plan(ctx, parse_action({"type": "stop_process", "pid": proc.pid,
                                         "start_time": start}))
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT or sys.platform != "linux", reason="needs root to setuid")
def test_a_read_only_cache_tree_is_deleted_by_its_owner():
    """As Go leaves the module cache: folders 0555. Run as a normal user (root ignores modes)."""
    folder = Path(tempfile.mkdtemp())
    try:
        tree = folder / "gopls"
        (tree / "a" / "b").mkdir(parents=True)
        (tree / "a" / "b" / "f").write_text("x")
        for p in (tree / "a" / "b" / "f", tree / "a" / "b", tree / "a", tree, folder):
            os.chown(p, 65534, 65534)
        for p in (tree / "a" / "b", tree / "a"):
            os.chmod(p, 0o555)
        os.chmod(folder, 0o755)
        pid = os.fork()
        if pid == 0:  # the child becomes the cache's owner, then deletes it
            try:
                os.setgid(65534)
                os.setuid(65534)
                remove_tree(tree)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not tree.exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
