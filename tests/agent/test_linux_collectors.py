"""inotify, system, WSL and cache-walk collectors over fake trees, including bad input (E)."""

from __future__ import annotations

import pytest

from devfleet_agent.collectors import inotify, wsl
from devfleet_agent.collectors.base import CollectorUnsupported
from devfleet_agent.collectors.caches import CacheWalk, collect_go_caches
from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.collectors.system import collect_system
from tests.agent.conftest import fake_procfs

LIMITS = {
    "sys/fs/inotify/max_user_watches": "192536\n",
    "sys/fs/inotify/max_user_instances": "128\n",
    "sys/fs/inotify/max_queued_events": "16384\n",
}


def test_it_counts_the_1372_watches_of_the_real_inotify_capture(tmp_path, make_ctx, captures):
    fdinfo = (captures / "inotify" / "fdinfo_full.txt").read_text()
    proc = fake_procfs(
        tmp_path / "proc",
        {
            19531: {
                "comm": "inotifywait",
                "fds": {0: "/dev/null", 3: "anon_inode:inotify"},
                "fdinfo": {3: fdinfo},
            },
            17452: {"comm": "gopls", "fds": {3: "anon_inode:[eventpoll]"}},
            2211: {
                "comm": "code",
                "fds": {5: "anon_inode:inotify", 6: "anon_inode:inotify"},
                "fdinfo": {5: "pos:\t0\ninotify wd:1 ino:1\ninotify wd:2 ino:2\n", 6: "pos:\t0\n"},
            },
        },
        files=LIMITS,
    )
    out = inotify.collect_inotify(make_ctx(proc))["inotify"]
    assert out["max_user_watches"] == 192536
    assert out["max_user_instances"] == 128
    assert out["watches_used"] == 1374
    assert out["instances_used"] == 3
    assert out["top"][0] == {"pid": 19531, "name": "inotifywait", "watches": 1372, "instances": 1}
    assert out["top"][1]["name"] == "code"


def test_a_huge_fdinfo_is_counted_up_to_a_cap_and_reported(tmp_path):
    path = tmp_path / "fdinfo"
    path.write_text("pos:\t0\n" + "inotify wd:1 ino:1 sdev:0 mask:fff\n" * 5000)
    count, truncated = inotify.count_fdinfo(path, max_bytes=4096)
    assert truncated
    assert 0 < count < 5000
    assert inotify.count_fdinfo(path) == (5000, False)


def test_inotify_outside_linux_proc_is_unsupported(tmp_path, make_ctx):
    with pytest.raises(CollectorUnsupported):
        inotify.collect_inotify(make_ctx(tmp_path))


def test_system_collector_reads_meminfo_vmstat_and_loadavg(tmp_path, make_ctx, captures):
    sys_dir = captures / "goldmark" / "sys"
    proc = fake_procfs(
        tmp_path / "proc",
        {},
        files={
            "meminfo": (sys_dir / "meminfo").read_text(),
            "vmstat": (sys_dir / "vmstat").read_text().replace("oom_kill 0", "oom_kill 2"),
            "loadavg": (sys_dir / "loadavg").read_text(),
            "uptime": "1234.5 100.0\n",
        },
    )
    ctx = make_ctx(proc, fs_root=tmp_path / "root")
    out = collect_system(ctx)["system"]
    assert out["mem_total_bytes"] == 24684084 * 1024
    assert out["mem_available_bytes"] == 24316300 * 1024
    assert out["mem_cached_bytes"] == 449748 * 1024
    assert out["swap_used_bytes"] == 0
    assert out["load"] == [0.92, 0.33, 0.2]
    assert out["uptime_s"] == 1234.5
    assert out["oom_kill_count"] == 2
    assert isinstance(out["disks"], list)


def test_system_collector_survives_missing_files(tmp_path, make_ctx):
    proc = fake_procfs(tmp_path / "proc", {}, files={"meminfo": "MemTotal: 1000 kB\n"})
    out = collect_system(make_ctx(proc))["system"]
    assert out["mem_total_bytes"] == 1024000
    assert out["load"] is None
    assert out["oom_kill_count"] is None


@pytest.mark.parametrize(
    ("release", "env", "version"),
    [
        ("Linux version 5.15.167.4-microsoft-standard-WSL2 (root@x)", {}, 2),
        ("Linux version 4.19.128-microsoft-standard (oe-user@x)", {}, 2),
        ("Linux version 4.4.0-18985-Microsoft (Microsoft@Microsoft.com)", {}, 1),
        ("Linux version 6.6.0-custom", {"WSL_DISTRO_NAME": "Ubuntu", "WSL_INTEROP": "/run/x"}, 2),
    ],
)
def test_it_detects_wsl_versions(release, env, version):
    assert wsl.detect_wsl(release, env, False)["version"] == version


def test_plain_linux_is_not_wsl():
    assert wsl.detect_wsl("Linux version 6.18.44-fc (gcc)", {}, False) is None


def _wsl_tree(tmp_path, wslconfig: bytes | None, wsl_conf: str | None):
    proc = fake_procfs(
        tmp_path / "proc",
        {},
        files={"version": "Linux version 5.15.167.4-microsoft-standard-WSL2 (x)\n"},
    )
    root = tmp_path / "root"
    (root / "mnt/c/Users/dev").mkdir(parents=True)
    (root / "mnt/c/Users/Public").mkdir(parents=True)
    (root / "etc").mkdir()
    if wslconfig is not None:
        (root / "mnt/c/Users/dev/.wslconfig").write_bytes(wslconfig)
    if wsl_conf is not None:
        (root / "etc/wsl.conf").write_text(wsl_conf)
    return proc, root


def test_it_reads_a_utf16_wslconfig_and_flags_misplaced_wsl_conf_keys(tmp_path, make_ctx):
    text = "[wsl2]\r\nmemory=8GB\r\nswap=0\r\n[experimental]\r\nautoMemoryReclaim=gradual\r\n"
    proc, root = _wsl_tree(
        tmp_path,
        b"\xff\xfe" + text.encode("utf-16-le"),
        "[boot]\nsystemd=true\n[wsl2]\nmemory=4GB\n",
    )
    ctx = make_ctx(proc, fs_root=root, environ={"USER": "dev"})
    inv = wsl.collect_wsl_config(ctx)["wsl"]
    assert inv["wslconfig"]["found"]
    assert inv["wslconfig"]["encoding"] == "utf-16-le"
    assert inv["wslconfig"]["sections"]["wsl2"] == {"memory": "8GB", "swap": "0"}
    assert inv["wslconfig"]["sections"]["experimental"] == {"autoMemoryReclaim": "gradual"}
    assert inv["wslconfig"]["path"] == "/mnt/c/Users/dev/.wslconfig"
    assert inv["wsl_conf"]["misplaced_keys"] == ["wsl2.memory"]
    assert inv["wsl_conf"]["sections"]["boot"] == {"systemd": "true"}


def test_a_binary_wslconfig_is_an_error_not_a_crash(tmp_path, make_ctx):
    proc, root = _wsl_tree(tmp_path, b"\x00\x01\x02PK\x03\x04\xff\x00garbage", None)
    inv = wsl.collect_wsl_config(make_ctx(proc, fs_root=root))["wsl"]
    assert inv["wslconfig"]["found"]
    assert "binary" in inv["wslconfig"]["error"]
    assert inv["wsl_conf"] == {"found": False, "sections": {}, "misplaced_keys": [], "error": None}


def test_a_wslconfig_without_section_header_is_reported(tmp_path, make_ctx):
    proc, root = _wsl_tree(tmp_path, b"memory=8GB\n", None)
    inv = wsl.collect_wsl_config(make_ctx(proc, fs_root=root))["wsl"]
    assert "no section header" in inv["wslconfig"]["error"]


def test_wsl_sample_lists_workspaces_on_drvfs(tmp_path, make_ctx):
    proc, root = _wsl_tree(tmp_path, None, None)
    ctx = make_ctx(proc, fs_root=root)
    ctx.facts.meminfo = {"mem_total_bytes": 8 << 30, "mem_cached_bytes": 1 << 30}
    ctx.facts.gopls = {
        1: GoplsProcess(1, cwd="/mnt/c/src/app"), 2: GoplsProcess(2, cwd="/home/dev/x")
    }
    out = wsl.collect_wsl(ctx)["wsl"]
    assert out == {
        "version": 2,
        "mem_total_bytes": 8 << 30,
        "mem_cached_bytes": 1 << 30,
        "workspaces_on_drvfs": ["/mnt/c/src/app"],
    }


def test_the_cache_walk_is_resumable_under_a_tiny_budget(tmp_path):
    cache = tmp_path / "gocache"
    for i in range(30):
        d = cache / f"{i:02x}"
        d.mkdir(parents=True)
        (d / "entry").write_bytes(b"x" * 5000)
    walk = CacheWalk({"gocache": cache, "goimports_cache": tmp_path / "missing"})
    steps = 0
    while not walk.done:
        walk.step(0.0)  # zero budget: one directory per step at most
        steps += 1
        assert steps < 1000
    assert steps > 1
    assert walk.sizes["gocache"] >= 30 * 5000
    assert walk.sizes["goimports_cache"] is None


def test_cache_sizes_are_reported_when_a_walk_completes(tmp_path, make_ctx):
    (tmp_path / "mod" / "a").mkdir(parents=True)
    (tmp_path / "mod" / "a" / "f").write_bytes(b"y" * 10000)
    ctx = make_ctx(tmp_path)
    ctx.facts.cache_dirs = {"gomodcache": tmp_path / "mod"}
    out = collect_go_caches(ctx)
    assert out["go"]["caches"]["gomodcache_bytes"] >= 10000
    assert out["go"]["caches"]["complete"] is True
    assert collect_go_caches(ctx) == {}  # next walk only after cache_walk_interval_s
