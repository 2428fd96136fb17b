"""Property tests of the heap-profile parser: the text comes from an agent, so any text must
give a ranked list of allocation sites (never an exception), and a generated profile must
give back exactly the sites and bytes it was built from.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import example, given
from hypothesis import strategies as st

from apps.anomalies.profiles import SKIP_PREFIXES, parse_heap_profile
from tests.anomalies.test_profiles import PROFILE

FUNCS = st.sampled_from(
    [
        "runtime.mallocgc",
        "reflect.New",
        "golang.org/x/tools/gopls/internal/cache.(*Snapshot).parse",
        "go/parser.(*parser).parseFile",
        "main.main",
    ]
)
FILES = st.sampled_from(["/src/a.go", "/usr/local/go/src/x/y.go", "C:/w/b.go"])
frames = st.lists(st.tuples(FUNCS, FILES, st.integers(1, 10**6)), min_size=1, max_size=5)
records = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2**50), frames), max_size=15)


def render(recs) -> str:
    lines = ["heap profile: 1: 1 [1: 1] @ heap/1048576"]
    for objects, inuse, stack in recs:
        lines.append(f"{objects}: {inuse} [{objects}: {inuse}] @ 0x1 0x2")
        for i, (func, path, line) in enumerate(stack):
            lines.append(f"#\t0x{4096 + i:x}\t{func}+0x{i:x}\t{path}:{line}")
        lines.append("")
    lines += ["# runtime.MemStats", "# HeapInuse = 1"]
    return "\n".join(lines)


def expected_sites(recs) -> dict[tuple[str, str], list[int]]:
    sites: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for objects, inuse, stack in recs:
        for func, path, line in stack:
            if not func.startswith(SKIP_PREFIXES):
                sites[(func, f"{path}:{line}")][0] += inuse
                sites[(func, f"{path}:{line}")][1] += objects
                break
    return {k: v for k, v in sites.items() if v[0] > 0}


@given(records, st.integers(1, 20))
def test_a_generated_profile_gives_back_its_top_sites(recs, top):
    sites = parse_heap_profile(render(recs), top=top)
    expected = expected_sites(recs)
    assert len(sites) == min(top, len(expected))
    for site in sites:
        assert expected[(site["function"], site["file"])] == [
            site["inuse_bytes"],
            site["inuse_objects"],
        ]
    ranked = sorted((v[0] for v in expected.values()), reverse=True)[: len(sites)]
    assert [s["inuse_bytes"] for s in sites] == ranked


@given(
    st.one_of(
        st.text(max_size=500),
        st.tuples(st.just(PROFILE), st.integers(0, len(PROFILE))).map(lambda t: t[0][: t[1]]),
        st.tuples(st.just(PROFILE), st.integers(0, len(PROFILE)), st.text(max_size=20)).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
        ),
    ),
    st.integers(1, 20),
)
@example(PROFILE, 10)
@example("1: 99999999999999999999999999 [1: 1] @\n#\t0x1\tf\t/a.go:1\n", 10)
@example("1: 1 [1: 1] @\n#\t0x1\tf\t/a.go:١٢\n", 10)
def test_any_text_gives_a_ranked_list_of_sites(text, top):
    sites = parse_heap_profile(text, top=top)
    assert len(sites) <= top
    assert all(s["inuse_bytes"] > 0 and s["inuse_objects"] >= 0 for s in sites)
    assert [s["inuse_bytes"] for s in sites] == sorted(
        (s["inuse_bytes"] for s in sites), reverse=True
    )
    assert not any(s["function"].startswith(SKIP_PREFIXES) for s in sites)
