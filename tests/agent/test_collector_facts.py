"""Collectors share facts through ctx.facts (typed), never by reading another's cache."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.collectors.gopls import collect_gopls
from tests.agent.conftest import REPO_ROOT
from tests.agent.test_agent_runtime import _gopls_tree, _no_go

PACKAGE = REPO_ROOT / "agent" / "devfleet_agent"


def _cache_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "cache"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
    return names


def test_each_cache_is_read_by_one_module_only():
    users: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _cache_names(path):
            users.setdefault(name, set()).add(str(path.relative_to(PACKAGE)))
    assert "gopls" in users  # the scan sees the real calls
    shared = {name: files for name, files in users.items() if len(files) > 1}
    assert shared == {}


def test_the_gopls_collector_publishes_every_process_it_tracks(tmp_path, make_ctx, monkeypatch):
    _no_go(monkeypatch)
    ctx = make_ctx(_gopls_tree(tmp_path))
    assert ctx.facts.gopls == {}
    collect_gopls(ctx)
    proc = ctx.facts.gopls[20]
    assert proc.kind == "server"
    assert proc.exe == ctx.cache("gopls")["procs"][20]["exe"]
    assert proc.cwd == str(tmp_path)
    assert proc.workspace_roots == (str(tmp_path),)
    assert proc.editor_kind == "zed"
    assert proc.create_time is not None
    assert proc.debug_host_port is None


def test_a_process_that_exits_leaves_the_facts(tmp_path, make_ctx, monkeypatch):
    _no_go(monkeypatch)
    root = _gopls_tree(tmp_path)
    ctx = make_ctx(root)
    collect_gopls(ctx)
    assert 20 in ctx.facts.gopls
    shutil.rmtree(root / "20")  # the process exits
    collect_gopls(ctx)
    assert 20 not in ctx.facts.gopls


def test_a_process_record_becomes_typed_facts():
    entry = {
        "kind": "server",
        "create_time": 1.5,
        "exe": "/go/bin/gopls",
        "env": {"PATH": "/usr/bin", "GOFLAGS": "-mod=vendor"},
        "cwd": "/src/app",
        "roots": ["/src/app", "/src/lib"],
        "editor": {"kind": "vscode", "process": "code"},
        "editor_exes": ["/usr/share/code/code"],
        "debug_host_port": ("127.0.0.1", 6060),
        "static": {"projects": [{"root": "/src/app"}, {"module": "x"}, "junk", {"root": ""}]},
    }
    proc = GoplsProcess.from_entry(7, entry)
    assert proc == GoplsProcess(
        pid=7,
        kind="server",
        create_time=1.5,
        exe="/go/bin/gopls",
        env={"PATH": "/usr/bin", "GOFLAGS": "-mod=vendor"},
        cwd="/src/app",
        roots=("/src/app", "/src/lib"),
        editor_kind="vscode",
        editor_exes=("/usr/share/code/code",),
        debug_host_port=("127.0.0.1", 6060),
        project_roots=("/src/app",),
    )
    assert proc.workspace_roots == ("/src/app", "/src/lib")


def test_a_sidecar_record_has_no_workspace():
    proc = GoplsProcess.from_entry(3, {"kind": "telemetry", "create_time": 2.0, "argv": []})
    assert proc.workspace_roots == ()
    assert proc.env == {}
    assert proc.project_roots == ()
