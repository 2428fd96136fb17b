"""Acceptance A: every capture in tests/fixtures/real-gopls parses to the documented figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfleet_agent.collectors.inotify import count_fdinfo
from devfleet_agent.probes import debugparse, gotool, procfs
from devfleet_agent.probes.procsource import ENV_KEEP

# capture: (VmRSS kB, threads, HeapInuse, HeapAlloc, NumGC, goroutines, debug port, cwd)
FIGURES = {
    "goldmark": (
        375420,
        10,
        229163008,
        205024120,
        60,
        13,
        "localhost:6062",
        "/home/dev/src/goldmark",
    ),
    "goroot-src": (
        3305988,
        12,
        3339493376,
        3327182888,
        24,
        15,
        "localhost:6063",
        "/usr/local/go/src",
    ),
    "goldmark-edit": (
        222968,
        8,
        125804544,
        93685168,
        944,
        18,
        "localhost:6064",
        "/home/dev/src/goldmark",
    ),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_it_parses_process_files_of_each_capture(captures, name):
    rss_kb, threads, *_, addr, cwd = FIGURES[name]
    proc = captures / name / "proc"
    status = procfs.parse_status((proc / "status").read_text())
    assert status["vm_rss_bytes"] == rss_kb * 1024
    assert status["threads"] == threads
    assert status["name"] == "gopls"
    stat = procfs.parse_stat((proc / "stat").read_text())
    assert stat["comm"] == "gopls"
    assert stat["ppid"] == status["ppid"]
    argv = procfs.parse_cmdline((proc / "cmdline").read_bytes())
    assert argv[0] == "/home/dev/go/bin/gopls"
    assert debugparse.parse_debug_addr(argv) == addr
    assert (proc / "cwd").read_text().strip() == cwd
    limits = procfs.parse_limits((proc / "limits").read_text())
    assert limits["Max open files"] == (20000, 20000)
    fds = procfs.parse_fd_links((proc / "fd.links").read_text())
    assert fds[2] == "/dev/null"
    assert fds[3] == "anon_inode:[eventpoll]"
    assert len((proc / "task.stat").read_text().splitlines()) >= threads - 2


def test_goldmark_capture_gives_the_documented_figures(captures):
    g = captures / "goldmark"
    status = procfs.parse_status((g / "proc" / "status").read_text())
    assert status["vm_rss_bytes"] == 375420 * 1024
    stats = debugparse.parse_memstats_trailer(
        (g / "debug" / "heap_debug1_memstats_trailer.txt").read_text()
    )
    assert stats == {
        "heap_alloc_bytes": 205024120,
        "sys_bytes": 402055256,
        "heap_inuse_bytes": 229163008,
        "next_gc_bytes": 326938528,
        "num_gc": 60,
        "gc_cpu_fraction": 0.13184760181127275,
        "max_rss_bytes": 407883776,
    }
    page = (g / "debug" / "page_debug_pprof_goroutine_debug_1.html").read_text()
    assert debugparse.parse_goroutine_total(page) == 13


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_it_parses_debug_pages_of_each_capture(captures, name):
    _, _, inuse, alloc, num_gc, goroutines, _, cwd = FIGURES[name]
    d = captures / name / "debug"
    stats = debugparse.parse_memstats_trailer((d / "heap_debug1_memstats_trailer.txt").read_text())
    assert stats["heap_inuse_bytes"] == inuse
    assert stats["heap_alloc_bytes"] == alloc
    assert stats["num_gc"] == num_gc
    assert 0 <= stats["gc_cpu_fraction"] <= 1
    page = (d / "page_debug_pprof_goroutine_debug_1.html").read_text()
    assert debugparse.parse_goroutine_total(page) == goroutines
    assert debugparse.parse_view_roots((d / "page_.html").read_text()) == [cwd]


def test_it_reads_rpc_counts_from_the_nonstandard_metrics_page(captures):
    text = (captures / "goldmark" / "debug" / "page_metrics_.html").read_text()
    rpc = debugparse.parse_metrics(text)
    assert rpc["textDocument/completion"]["count"] == 206
    assert rpc["textDocument/didOpen"]["count"] == 206
    assert "window/logMessage" not in rpc  # outbound


def test_it_reads_rpc_latency_from_the_rpc_page(captures):
    page = (captures / "goldmark" / "debug" / "page_rpc_.html").read_text()
    rpc = debugparse.parse_rpc_page(page)
    completion = rpc["textDocument/completion"]
    assert completion["count"] == 205
    assert completion["errors"] == 0
    assert completion["mean_ms"] == pytest.approx(110.49)
    assert 50 <= completion["p50_ms"] <= 500
    assert completion["p50_ms"] <= completion["p95_ms"] <= completion["p99_ms"] <= 5000
    assert "textDocument/publishDiagnostics" not in rpc  # outbound section


def test_inotify_capture_has_1372_watches(captures):
    full = captures / "inotify" / "fdinfo_full.txt"
    assert procfs.count_inotify_watches(full.read_text()) == 1372
    assert count_fdinfo(full) == (1372, False)
    argv = procfs.parse_cmdline((captures / "inotify" / "cmdline").read_bytes())
    assert argv[0].startswith("inotifywait")
    assert (
        procfs.parse_status((captures / "inotify" / "status").read_text())["name"] == "inotifywait"
    )


def test_a_devel_build_is_identified_from_its_tools_dependency(captures):
    info = gotool.parse_go_version_m((captures / "goldmark" / "go_version_m.txt").read_text())
    assert info["go_version"] == "go1.17.9"
    assert info["module_path"] == "golang.org/x/tools/gopls"
    assert info["version"] == "(devel)"
    assert info["version_source"] == "golang.org/x/tools v0.1.11-0.20220330174940-8e193c2ba95e"
    assert (
        gotool.parse_gopls_version((captures / "goldmark" / "gopls_version.txt").read_text())
        == "(devel)"
    )


def test_it_reads_go_env_and_go_version(captures, make_ctx):
    env = gotool.parse_go_env_json((captures / "goldmark" / "go_env.json").read_text())
    assert env["GOVERSION"] == "go1.27.3"
    assert env["GOMODCACHE"] == "/home/dev/go/pkg/mod"
    assert (
        gotool.parse_go_version((captures / "goldmark" / "go_version.txt").read_text())
        == "go1.27.3"
    )
    ctx = make_ctx(home=Path("/home/dev"), environ={})
    dirs = gotool.cache_dirs(ctx, env)
    assert dirs["gocache"] == Path("/home/dev/.cache/go-build")
    assert dirs["gomodcache"] == Path("/home/dev/go/pkg/mod")
    assert dirs["gopls_cache"] == Path("/home/dev/.cache/gopls")
    assert dirs["goimports_cache"] == Path("/home/dev/.cache/goimports")


def test_it_parses_the_machine_files_of_the_capture(captures):
    sys_dir = captures / "goldmark" / "sys"
    mem = procfs.parse_meminfo((sys_dir / "meminfo").read_text())
    assert mem["MemTotal"] == 24684084 * 1024
    assert procfs.parse_vmstat((sys_dir / "vmstat").read_text())["oom_kill"] == 0
    assert procfs.vmstat_value((sys_dir / "vmstat").read_text(), "oom_kill") == 0
    assert procfs.parse_loadavg((sys_dir / "loadavg").read_text()) == [0.92, 0.33, 0.2]
    assert procfs.parse_inotify_limits((sys_dir / "inotify_limits").read_text()) == {
        "max_user_watches": 192536,
        "max_user_instances": 128,
        "max_queued_events": 16384,
    }


def test_environment_is_filtered_to_the_whitelist(captures):
    text = (captures / "goldmark" / "proc" / "environ.filtered").read_text()
    raw = "\0".join(text.splitlines()).encode()
    assert procfs.parse_environ(raw, ENV_KEEP) == {"GOFLAGS": "-mod=mod"}
