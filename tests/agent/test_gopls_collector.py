"""gopls process collector over fake /proc trees: classification, editors, env, vanishing pids."""

from __future__ import annotations

import shutil

import pytest

from devfleet_agent.collectors.gopls import collect_gopls
from devfleet_agent.probes import classify
from tests.agent.conftest import fake_procfs


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["gopls"], classify.SERVER),
        (["gopls", "serve"], classify.SERVER),
        (["/home/dev/go/bin/gopls", "-debug", "localhost:6062"], classify.SERVER),
        (
            ["gopls", "-rpc.trace", "-logfile=auto", "serve", "-listen.timeout", "1m"],
            classify.SERVER,
        ),
        (
            [
                "gopls",
                "serve",
                "-listen",
                "unix;/tmp/gopls-abc-daemon.dev",
                "-listen.timeout",
                "1m0s",
            ],
            classify.SERVER,
        ),
        (["gopls", "** telemetry **"], classify.TELEMETRY),
        (["gopls", "-remote=auto"], classify.FORWARDER),
        (["gopls", "-remote", "auto", "-logfile", "auto"], classify.FORWARDER),
        (["gopls", "version"], classify.OTHER),
        (["gopls", "stats", "-anon"], classify.OTHER),
    ],
)
def test_it_classifies_gopls_processes(argv, kind):
    assert classify.classify_gopls(argv) == kind


def test_telemetry_child_env_marks_a_sidecar():
    assert classify.classify_gopls(["gopls"], {"GO_TELEMETRY_CHILD": "1"}) == classify.TELEMETRY


def test_flags_are_reported_with_their_values():
    assert classify.flags_of(["gopls", "-debug", "localhost:0", "-rpc.trace", "serve"]) == [
        "-debug=localhost:0",
        "-rpc.trace",
    ]


@pytest.mark.parametrize(
    ("chain", "kind"),
    [
        ([("code", "/usr/share/code/code", "/usr/share/code/code --type=utility")], "vscode"),
        (
            [
                (
                    "Code Helper (Plugin)",
                    "/Applications/Visual Studio Code.app/Contents/Frameworks/"
                    "Code Helper (Plugin).app/Contents/MacOS/Code Helper (Plugin)",
                    "",
                )
            ],
            "vscode",
        ),
        (
            [
                ("node", "/home/dev/.vscode-server/bin/abc123/node", "node ... extensionHost"),
                ("sh", "/bin/sh", "sh"),
                ("init", "/init", "/init"),
            ],
            "vscode-server",
        ),
        ([("node", "/home/dev/.vscode-server-insiders/bin/abc/node", "")], "vscode-server"),
        ([("cursor", "/usr/share/cursor/cursor", "")], "cursor"),
        ([("node", "/home/dev/.cursor-server/bin/x/node", "")], "cursor"),
        ([("windsurf", "/opt/windsurf/windsurf", "")], "windsurf"),
        ([("codium", "/usr/bin/codium", "")], "vscodium"),
        ([("nvim", "/usr/bin/nvim", "nvim main.go"), ("bash", "/bin/bash", "")], "neovim"),
        (
            [
                ("node", "/usr/bin/node", "node coc.nvim/build/index.js"),
                ("vim", "/usr/bin/vim", ""),
            ],
            "vim",
        ),
        ([("emacs", "/usr/bin/emacs", "")], "emacs"),
        ([("hx", "/usr/bin/hx", "")], "helix"),
        ([("zed-editor", "/usr/libexec/zed-editor", "")], "zed"),
        ([("plugin_host-3.8", "/opt/sublime_text/plugin_host-3.8", "")], "sublime"),
        ([("java", "/opt/GoLand-2024.3/jbr/bin/java", "com.intellij.idea.Main")], "jetbrains"),
        ([("systemd", "/usr/lib/systemd/systemd", "/lib/systemd/systemd --user")], "none"),
        ([], "none"),
        ([("bash", "/bin/bash", "bash"), ("sshd", "/usr/sbin/sshd", "")], "unknown"),
    ],
)
def test_it_finds_the_editor_from_the_parent_chain(chain, kind):
    assert classify.editor_from_chain(chain)[0] == kind


def _tree(tmp_path, captures=None):
    procs = {
        1: {"comm": "systemd", "ppid": 0, "argv": ["/sbin/init"]},
        100: {"comm": "nvim", "ppid": 1, "argv": ["nvim", "main.go"]},
        200: {
            "comm": "gopls",
            "ppid": 100,
            "argv": ["/usr/bin/gopls", "-rpc.trace"],
            "environ": {
                "GOMEMLIMIT": "3GiB",
                "GOFLAGS": "-mod=mod",
                "SECRET_TOKEN": "x",
                "HOME": "/home/dev",
            },
            "rss_kb": 375420,
            "threads": 10,
            "cwd": str(tmp_path / "ws"),
            "exe": "/usr/bin/gopls",
            "cpu_ticks": 100,
            "limits": "Limit  Soft Limit  Hard Limit  Units\n"
            "Max open files            1024                 4096       files\n",
            "fds": {0: "/dev/null", 1: "pipe:[1]", 2: "pipe:[2]"},
        },
        201: {"comm": "gopls", "ppid": 200, "argv": ["/usr/bin/gopls", "** telemetry **"]},
        300: {"comm": "gopls", "ppid": 1, "argv": ["gopls", "-remote=auto"]},
        301: {"comm": "gopls", "ppid": 100, "argv": ["gopls", "version"]},
        400: {"comm": "go", "ppid": 200, "argv": ["go", "list", "-json", "./..."], "cpu_ticks": 50},
    }
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "go.mod").write_text('module "example.com/widgets" // the module\n\ngo 1.22\n')
    return fake_procfs(tmp_path / "proc", procs)


def test_it_reports_servers_and_counts_sidecars_and_forwarders(tmp_path, make_ctx, monkeypatch):
    monkeypatch.setattr("devfleet_agent.probes.gotool.find_go", lambda *a, **k: None)
    proc = _tree(tmp_path)
    ctx = make_ctx(proc)
    ctx.run = lambda argv, **kw: type("R", (), {"returncode": 1, "stdout": "", "stderr": ""})()
    out = collect_gopls(ctx)
    assert out["gopls_excluded"] == {"telemetry_sidecars": 1, "forwarders": 1}
    [g] = out["gopls"]
    assert g["pid"] == 200
    assert g["rss_bytes"] == 375420 * 1024
    assert g["threads"] == 10
    assert g["open_fds"] == 3
    assert g["fd_limit"] == 1024
    assert g["env"] == {"GOMEMLIMIT": "3GiB", "GOFLAGS": "-mod=mod"}
    assert g["editor"]["kind"] == "neovim"
    assert g["cwd"] == str(tmp_path / "ws")
    assert g["projects"] == [{"module": "example.com/widgets", "root": str(tmp_path / "ws")}]
    assert g["children"]["count"] == 2  # `go list` and the telemetry sidecar
    assert {c["name"] for c in g["children"]["top"]} == {"go", "gopls"}
    assert g["flags"] == ["-rpc.trace"]
    assert g["start_time"].endswith("Z")


def test_a_process_vanishing_mid_read_is_skipped_silently(tmp_path, make_ctx, monkeypatch):
    monkeypatch.setattr("devfleet_agent.probes.gotool.find_go", lambda *a, **k: None)
    proc = _tree(tmp_path)
    ctx = make_ctx(proc)
    ctx.run = lambda argv, **kw: type("R", (), {"returncode": 1, "stdout": "", "stderr": ""})()
    assert len(collect_gopls(ctx)["gopls"]) == 1
    (proc / "200" / "stat").unlink()  # the process exits between listing and reading
    out = collect_gopls(ctx)
    assert out["gopls"] == []
    assert "_errors" not in out
    shutil.rmtree(proc / "200")
    assert collect_gopls(ctx)["gopls"] == []


def test_unreadable_proc_entries_do_not_break_the_collector(tmp_path, make_ctx, monkeypatch):
    monkeypatch.setattr("devfleet_agent.probes.gotool.find_go", lambda *a, **k: None)
    proc = _tree(tmp_path)
    (proc / "200" / "environ").unlink()
    (proc / "200" / "limits").unlink()
    (proc / "999").mkdir()  # a pid directory with nothing readable in it
    (proc / "998").mkdir()
    (proc / "998" / "stat").write_text("garbage without parentheses")
    (proc / "997").mkdir()
    (proc / "997" / "stat").write_bytes(b"\xff\xfe\x00binary")
    ctx = make_ctx(proc)
    ctx.run = lambda argv, **kw: type("R", (), {"returncode": 1, "stdout": "", "stderr": ""})()
    [g] = collect_gopls(ctx)["gopls"]
    assert g["env"] == {}
    assert g["fd_limit"] is None


def test_cpu_percent_comes_from_the_delta_between_cycles(tmp_path, make_ctx, monkeypatch):
    monkeypatch.setattr("devfleet_agent.probes.gotool.find_go", lambda *a, **k: None)
    proc = _tree(tmp_path)
    clock = iter([100.0, 110.0, 120.0, 130.0])
    ctx = make_ctx(proc, monotonic=lambda: next(clock))
    ctx.run = lambda argv, **kw: type("R", (), {"returncode": 1, "stdout": "", "stderr": ""})()
    assert collect_gopls(ctx)["gopls"][0]["cpu_percent"] is None
    stat = (proc / "200" / "stat").read_text().replace(" 100 0 0 0 20", " 600 0 0 0 20")
    (proc / "200" / "stat").write_text(stat)
    assert collect_gopls(ctx)["gopls"][0]["cpu_percent"] == pytest.approx(50.0)
