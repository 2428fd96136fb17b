"""Property tests of the /proc and /sys parsers: hostile text never crashes them.

Each parser either returns its documented shape or raises its documented error (ValueError
for the few that say they raise); real captures from tests/fixtures/real-gopls are
explicit examples, then mutated (truncated, NULs, huge numbers).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devfleet_agent.collectors.inotify import count_fdinfo
from devfleet_agent.probes import procfs
from tests.conftest import real_capture


def _capture(*parts: str) -> str:
    return real_capture(*parts).read_text()


REAL_MEMINFO = _capture("goldmark", "sys", "meminfo")
REAL_STATUS = _capture("goldmark", "proc", "status")
REAL_STAT = _capture("goldmark", "proc", "stat")
REAL_LIMITS = _capture("goldmark", "proc", "limits")
REAL_VMSTAT = _capture("goldmark", "sys", "vmstat")
REAL_LOADAVG = _capture("goldmark", "sys", "loadavg")
REAL_FD_LINKS = _capture("goldmark", "proc", "fd.links")
REAL_FDINFO = _capture("inotify", "fdinfo_full.txt")

# Text with the characters /proc files are made of, plus the hostile ones.
PROC_ALPHABET = st.sampled_from(
    [*"0123456789 :\t\n-()kBx", "\0", "\r", "\x85", "\u2028", "é", "١", "_", "+", "."]
)
proc_text = st.one_of(
    st.text(),
    st.text(PROC_ALPHABET, max_size=400),
    st.lists(
        st.tuples(
            st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_()", max_size=12),
            st.integers(min_value=-(2**80), max_value=2**80),
            st.sampled_from(["", " kB", " kB extra", " MB"]),
        ),
        max_size=30,
    ).map(lambda rows: "".join(f"{k}:\t{v}{unit}\n" for k, v, unit in rows)),
)


def mutated(real: str) -> st.SearchStrategy[str]:
    """The real file, truncated at any point, with a NUL, a huge number or junk spliced in."""
    if not real:
        return proc_text
    cut = st.integers(0, len(real))
    splice = st.sampled_from(["\0", "99999999999999999999999999", "-1", "nan", "\n\n", "(", ")"])
    return st.one_of(
        cut.map(lambda i: real[:i]),
        st.tuples(cut, splice).map(lambda t: real[: t[0]] + t[1] + real[t[0] :]),
    )


def any_of(real: str) -> st.SearchStrategy[str]:
    return st.one_of(proc_text, mutated(real))


@given(any_of(REAL_MEMINFO))
@example(REAL_MEMINFO)
def test_meminfo_parses_any_text_to_non_negative_byte_counts(text):
    parsed = procfs.parse_meminfo(text)
    assert all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in parsed.items())


@given(st.dictionaries(st.from_regex(r"[A-Za-z_()]{1,20}", fullmatch=True), st.integers(0, 2**50)))
def test_meminfo_round_trips_kb_lines(values):
    text = "".join(f"{key}:   {kb} kB\n" for key, kb in values.items())
    assert procfs.parse_meminfo(text) == {key: kb * 1024 for key, kb in values.items()}


@given(any_of(REAL_STATUS))
@example(REAL_STATUS)
def test_status_parses_any_text_without_raising(text):
    parsed = procfs.parse_status(text)
    assert set(parsed) == {
        "name",
        "pid",
        "ppid",
        "uid",
        "threads",
        "vm_rss_bytes",
        "vm_hwm_bytes",
        "vm_swap_bytes",
    }
    for key in ("vm_rss_bytes", "vm_hwm_bytes", "vm_swap_bytes", "threads", "pid"):
        assert parsed[key] is None or (isinstance(parsed[key], int) and parsed[key] >= 0)


@given(any_of(REAL_STAT))
@example(REAL_STAT)
@example("1 (a) S")
@example("")
def test_stat_either_parses_or_raises_value_error(text):
    try:
        parsed = procfs.parse_stat(text)
    except ValueError:
        return
    assert isinstance(parsed["comm"], str)
    assert all(isinstance(parsed[k], int) for k in ("pid", "ppid", "threads", "rss_pages"))


@given(
    st.integers(1, 2**22),
    st.text(st.characters(exclude_characters="\0"), max_size=16),
    st.lists(st.integers(0, 2**63 - 1), min_size=50, max_size=50),
)
def test_stat_reads_back_what_the_kernel_writes_even_with_parentheses_in_comm(pid, comm, nums):
    text = f"{pid} ({comm}) S " + " ".join(map(str, nums)) + "\n"
    parsed = procfs.parse_stat(text)
    assert (parsed["pid"], parsed["comm"], parsed["ppid"]) == (pid, comm, nums[0])
    assert parsed["threads"] == nums[16]
    assert parsed["rss_pages"] == nums[20]


@given(st.lists(st.binary().filter(lambda b: b"\0" not in b), min_size=1, max_size=20))
def test_cmdline_round_trips_nul_separated_arguments(argv):
    data = b"\0".join(argv) + b"\0"
    parsed = procfs.parse_cmdline(data)
    if all(argv):  # trailing empty arguments are indistinguishable from the final NUL
        assert parsed == [a.decode("utf-8", "replace") for a in argv]


@given(st.binary(max_size=2000))
def test_cmdline_and_environ_accept_any_bytes(data):
    assert all(isinstance(a, str) for a in procfs.parse_cmdline(data))
    env = procfs.parse_environ(data, {"GOPATH", "HOME", "PATH"})
    assert set(env) <= {"GOPATH", "HOME", "PATH"}
    assert all(len(v) <= 1024 for v in env.values())


@given(any_of(REAL_LIMITS))
@example(REAL_LIMITS)
@example("Limit Soft Hard Units\nMax open files            junk                 1048576  files\n")
def test_limits_parses_any_text_without_raising(text):
    for soft, hard in procfs.parse_limits(text).values():
        assert soft is None or (isinstance(soft, int) and soft >= 0)
        assert hard is None or (isinstance(hard, int) and hard >= 0)


@given(st.one_of(st.integers(0, 2**63 - 1), st.just("unlimited")), st.integers(0, 2**63 - 1))
def test_limits_round_trips_the_kernel_format(soft, hard):
    text = (
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        f"Max open files            {soft:<20} {hard:<20} files     \n"
    )
    expected_soft = None if soft == "unlimited" else soft
    assert procfs.parse_limits(text)["Max open files"] == (expected_soft, hard)


@given(any_of(REAL_FD_LINKS))
@example(REAL_FD_LINKS)
def test_fd_links_maps_non_negative_fds_to_targets(text):
    links = procfs.parse_fd_links(text)
    assert all(isinstance(fd, int) and fd >= 0 for fd in links)


@given(any_of(REAL_LOADAVG))
@example(REAL_LOADAVG)
@example("nan inf -1")
def test_loadavg_gives_finite_non_negative_loads_or_value_error(text):
    try:
        loads = procfs.parse_loadavg(text)
    except ValueError:
        return
    assert len(loads) <= 3
    assert all(math.isfinite(x) and x >= 0 for x in loads)


@given(any_of(REAL_VMSTAT), st.sampled_from(["oom_kill", "pgfault", "nr_free_pages", "x"]))
@example(REAL_VMSTAT, "oom_kill")
def test_vmstat_value_agrees_with_the_full_parse(text, name):
    value = procfs.vmstat_value(text, name)
    full = procfs.parse_vmstat(text)
    if value is not None and "\r" not in text and name in full:
        first = next(line for line in text.split("\n") if line.startswith(name + " "))
        if len(first.split()) == 2:
            assert value == full[name]
    assert all(isinstance(v, int) for v in full.values())


@given(proc_text)
def test_cgroup_path_is_the_v2_line(text):
    path = procfs.parse_cgroup(text)
    assert path is None or (path.startswith("/") or path)


@given(st.one_of(st.text(max_size=64), st.integers(-(2**70), 2**70).map(str), st.just("max\n")))
@example("-5\n")
def test_cgroup_value_is_non_negative_bytes_none_or_value_error(text):
    try:
        value = procfs.parse_cgroup_value(text)
    except ValueError:
        return
    assert value is None or value >= 0


@given(any_of(""), st.integers(1, 64))
@example(
    "[12.5] Out of memory: Killed process 4242 (gopls) total-vm:1kB, anon-rss:123kB\n",
    32,
)
def test_oom_victims_are_well_formed_and_capped(text, limit):
    victims = procfs.parse_oom_victims(text, limit)
    assert len(victims) <= limit
    for victim in victims:
        assert victim["pid"] >= 0
        assert len(victim["name"]) <= 512
        assert victim["rss_bytes"] is None or victim["rss_bytes"] >= 0


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fdinfo")


fdinfo_lines = st.lists(
    st.one_of(
        st.just("inotify wd:1 ino:2 sdev:3 mask:fce ignored_mask:0 fhandle-bytes:8"),
        st.sampled_from(["pos:\t0", "flags:\t02000000", "mnt_id:\t15", "ino:\t1057", ""]),
        st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30),
    ),
    max_size=40,
)


@given(fdinfo_lines, st.integers(1, 400), st.booleans())  # up to ~2 MB: many 64 KiB chunks
@example(REAL_FDINFO.split("\n"), 1, False)
def test_streamed_fdinfo_count_matches_a_line_count_across_chunk_boundaries(
    scratch, lines, repeat, trailing_newline
):
    data = ("\n".join(lines * repeat) + ("\n" if trailing_newline else "")).encode()
    reference = sum(1 for line in data.split(b"\n") if line.startswith(b"inotify wd:"))
    path = scratch / "fdinfo"
    path.write_bytes(data)
    count, truncated = count_fdinfo(path)
    assert (count, truncated) == (reference, False)
    if reference:
        assert procfs.count_inotify_watches(data.decode()) >= 0


@given(st.binary(max_size=5000), st.integers(1, 4096))
def test_fdinfo_count_stops_at_the_byte_cap(scratch, data, cap):
    path = scratch / "fdinfo-cap"
    path.write_bytes(data)
    count, truncated = count_fdinfo(path, max_bytes=cap)
    assert count >= 0
    assert truncated == (len(data) >= cap and len(data) > 0)
