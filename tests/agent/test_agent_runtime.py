"""Agent runtime: inventory on change, small samples, profile capture on request, restarts."""

from __future__ import annotations

import json
import time

import pytest

from devfleet_agent import tomlmini
from devfleet_agent.agent import Agent
from devfleet_agent.collectors.caches import collect_go_caches
from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.collectors.gopls import collect_gopls
from devfleet_agent.profiles import capture
from tests.agent.conftest import REPO_ROOT, fake_procfs
from tests.agent.test_debug_server import FakeDebugServer


def _no_go(monkeypatch):
    monkeypatch.setattr("devfleet_agent.probes.gotool.find_go", lambda *a, **k: None)


def _gopls_tree(tmp_path, debug_port: int | None = None):
    argv = ["/usr/bin/gopls"] + ([f"-debug=localhost:{debug_port}"] if debug_port else [])
    return fake_procfs(
        tmp_path / "proc",
        {
            10: {"comm": "zed", "ppid": 1, "argv": ["zed"]},
            20: {
                "comm": "gopls",
                "ppid": 10,
                "argv": argv,
                "cwd": str(tmp_path),
                "start_ticks": 5000,
            },
        },
    )


def test_static_process_facts_are_sent_on_first_sight_and_on_change(
    tmp_path, make_ctx, monkeypatch
):
    _no_go(monkeypatch)
    ctx = make_ctx(_gopls_tree(tmp_path))
    first = collect_gopls(ctx)["gopls"][0]
    assert first["editor"]["kind"] == "zed"
    assert first["argv"] == ["/usr/bin/gopls"]
    second = collect_gopls(ctx)["gopls"][0]
    assert "argv" not in second
    assert "editor" not in second
    assert second["rss_bytes"] == first["rss_bytes"]
    ctx.cache("gopls")["procs"][20]["roots"] = ["/elsewhere"]
    third = collect_gopls(ctx)["gopls"][0]
    assert third["workspace_roots"] == ["/elsewhere"]


def test_inventory_is_sent_first_then_only_when_it_changes(make_config, monkeypatch):
    agent = Agent(make_config(disabled_collectors=["gopls", "go_caches", "inotify"]), dry_run=True)
    _, inv1 = agent.collect(force_all=True)
    _, inv2 = agent.collect(force_all=True)
    assert inv1 is not None
    assert "limits" in inv1
    assert inv2 is None
    agent.inventory["limits"] = {"max_user_watches": 1}
    agent.inventory_hash = "stale"
    _, inv3 = agent.collect(force_all=True)
    assert inv3 is not None


def test_a_requested_profile_is_captured_when_allowed(tmp_path, make_config, make_ctx, monkeypatch):
    _no_go(monkeypatch)
    heap = b"heap profile: 1: 2 [3: 4] @ heap/1048576\n# runtime.MemStats\n# HeapInuse = 5\n"
    srv = FakeDebugServer(
        {
            "/debug/pprof/heap?debug=1": heap,
            "/debug/pprof/goroutine?debug=1": b"goroutine profile: total 3\n",
        }
    )
    try:
        ctx = make_ctx(_gopls_tree(tmp_path, srv.port), config=make_config(allow_profiles=True))
        [g] = collect_gopls(ctx)["gopls"]
        assert g["debug"]["ok"]
        request = {
            "request_id": "r-1",
            "pid": 20,
            "start_time": g["start_time"],
            "kinds": ["heap", "goroutine"],
        }
        heap_p, gor_p = capture(ctx, request)
        assert heap_p["kind"] == "heap"
        assert "HeapInuse = 5" in heap_p["text"]
        assert heap_p["error"] is None
        assert gor_p["text"].startswith("goroutine profile: total 3")
        stale = capture(ctx, dict(request, start_time="2020-01-01T00:00:00Z"))
        assert "reused" in stale[0]["error"]
    finally:
        srv.close()


def test_profiles_are_refused_by_default(tmp_path, make_ctx):
    ctx = make_ctx()
    [p] = capture(ctx, {"request_id": "r-2", "pid": 1, "kinds": ["heap"]})
    assert p["text"] == ""
    assert "disabled" in p["error"]


def test_server_instructions_queue_profile_captures_once(make_config):
    agent = Agent(make_config(), dry_run=True)
    req = {"request_id": "r-9", "pid": 999999, "kinds": ["heap"]}
    agent.on_instructions({"collect_interval_s": 30, "capture_profiles": [req, req]})
    assert agent.collect_interval_s == 30
    agent.collect()
    assert [p["request_id"] for p in agent.pending_profiles] == ["r-9"]
    assert "disabled" in agent.pending_profiles[0]["error"]


def test_last_cache_sizes_are_replayed_after_a_restart(tmp_path, make_ctx):
    (tmp_path / "gomod" / "x").mkdir(parents=True)
    (tmp_path / "gomod" / "x" / "f").write_bytes(b"z" * 4096)
    ctx = make_ctx(tmp_path)
    ctx.facts.cache_dirs = {"gomodcache": tmp_path / "gomod"}
    done = collect_go_caches(ctx)["go"]["caches"]
    restarted = make_ctx(tmp_path)  # same state dir, fresh memory
    restarted.facts.cache_dirs = {"gomodcache": tmp_path / "gomod"}
    assert collect_go_caches(restarted)["go"]["caches"] == done
    assert collect_go_caches(restarted) == {}
    assert json.loads((tmp_path / "state" / "caches.json").read_text())["last"] == done


def test_a_clock_set_back_does_not_postpone_the_next_cache_walk(tmp_path, make_ctx):
    (tmp_path / "gomod").mkdir()
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    far_future = time.time() + 10 * 365 * 86400  # written before the clock was set back
    (state / "caches.json").write_text(json.dumps({"last": None, "next_at": far_future}))
    ctx = make_ctx(tmp_path)
    ctx.facts.cache_dirs = {"gomodcache": tmp_path / "gomod"}
    start = time.time()
    ctx.now = lambda: start
    assert collect_go_caches(ctx) == {}  # not due yet: at most one interval away
    ctx.now = lambda: start + ctx.config.cache_walk_interval_s + 1
    assert collect_go_caches(ctx)["go"]["caches"]["complete"] is True


def test_the_fallback_toml_reader_matches_tomllib_on_the_example():
    import tomllib  # the reference (the tests run on the server's Python, 3.11+)

    text = (REPO_ROOT / "agent" / "agent.example.toml").read_text()
    assert tomlmini._loads_subset(text) == tomllib.loads(text)
    assert tomlmini._loads_subset('s = "true # not a comment"\nb = true\n') == {
        "s": "true # not a comment",
        "b": True,
    }


def test_the_psutil_process_source_used_on_macos_and_windows_reads_a_live_gopls(
    tmp_path, make_ctx, monkeypatch
):
    import shutil
    import subprocess

    _no_go(monkeypatch)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build a fake gopls")
    (tmp_path / "g.c").write_text("#include <unistd.h>\nint main(){for(;;)pause();}\n")
    exe = tmp_path / "bin" / "gopls"
    exe.parent.mkdir()
    subprocess.run([cc, "-o", str(exe), str(tmp_path / "g.c")], check=True)
    proc = subprocess.Popen([str(exe), "-rpc.trace"], env={"GOGC": "50", "SECRET": "x"})
    try:
        ctx = make_ctx(platform="darwin")  # psutil path, as on macOS/Windows
        import time

        time.sleep(0.2)
        [g] = [p for p in collect_gopls(ctx)["gopls"] if p["pid"] == proc.pid]
        assert g["exe"] == str(exe)
        assert g["flags"] == ["-rpc.trace"]
        assert g["env"] == {"GOGC": "50"}
        assert g["rss_bytes"] > 0
        assert g["threads"] == 1
        assert g["editor"]["kind"] in ("unknown", "none")
    finally:
        proc.kill()
        proc.wait(5)


def test_the_system_collector_uses_psutil_off_linux(make_ctx):
    from devfleet_agent.collectors.system import collect_system

    out = collect_system(make_ctx(platform="darwin"))["system"]
    assert out["mem_total_bytes"] > 0
    assert out["swap_total_bytes"] is not None
    assert len(out["load"]) == 3


def test_editor_versions_come_from_package_json_next_to_the_editor(tmp_path, make_ctx):
    from devfleet_agent.collectors.toolchain import editor_versions

    commit = tmp_path / ".vscode-server" / "bin" / "abc123"
    commit.mkdir(parents=True)
    (commit / "package.json").write_text('{"name": "code-server", "version": "1.95.3"}')
    ctx = make_ctx()
    ctx.facts.gopls = {
        1: GoplsProcess(
            1, editor_kind="vscode-server", editor_exes=(str(commit / "node"), "/bin/sh")
        )
    }
    assert editor_versions(ctx) == {"vscode-server": "1.95.3"}
