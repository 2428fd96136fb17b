"""Vendor check: go.mod against vendor/modules.txt the way the go command compares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.collectors.vendor import (
    check_module,
    collect_vendor,
    mod_flag,
    parse_go_mod,
    parse_modules_txt,
)

GO_MOD = """module example.com/app // the app

go {go}

require (
\tgithub.com/yuin/goldmark v1.7.8
\tgolang.org/x/text v0.21.0 // indirect
)

require "github.com/google/uuid" v1.6.0

replace github.com/yuin/goldmark => ../goldmark
"""
MODULES_TXT = """# github.com/google/uuid v1.6.0
## explicit
github.com/google/uuid
# github.com/yuin/goldmark v1.7.8 => ../goldmark
## explicit; go 1.19
github.com/yuin/goldmark
# golang.org/x/text v0.21.0
## explicit; go 1.18
golang.org/x/text/unicode/norm
# github.com/yuin/goldmark => ../goldmark
"""


def module(tmp: Path, go="1.22", modules: str | None = MODULES_TXT, vendor=True) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "go.mod").write_text(GO_MOD.format(go=go))
    if vendor:
        (tmp / "vendor").mkdir(exist_ok=True)
        if modules is not None:
            (tmp / "vendor" / "modules.txt").write_text(modules)
    return tmp


def test_parsers_read_blocks_quotes_comments_and_markers():
    mod = parse_go_mod(GO_MOD.format(go="1.22"))
    assert mod["go"] == "1.22"
    assert mod["require"] == {
        "github.com/yuin/goldmark": "v1.7.8",
        "golang.org/x/text": "v0.21.0",
        "github.com/google/uuid": "v1.6.0",
    }
    assert mod["replace"] == {("github.com/yuin/goldmark", ""): "../goldmark"}
    txt = parse_modules_txt(MODULES_TXT)
    assert ("golang.org/x/text", "v0.21.0") in txt["explicit"]
    assert txt["replace"] == {
        ("github.com/yuin/goldmark", ""): "../goldmark",  # go.mod's replace, every version
        ("github.com/yuin/goldmark", "v1.7.8"): "../goldmark",  # applied to the vendored one
    }


def test_a_vendor_tree_made_by_go_mod_vendor_is_consistent(tmp_path):
    entry = check_module(str(module(tmp_path / "app")))
    assert entry["consistent"] is True
    assert entry["problems"] == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("uuid v1.6.0", "uuid v1.5.0"),
         "github.com/google/uuid@v1.6.0: is explicitly required in go.mod, but not marked as "
         "explicit in vendor/modules.txt"),
        (lambda t: t + "# example.com/extra v0.1.0\n## explicit\nexample.com/extra\n",
         "example.com/extra@v0.1.0: is marked as explicit in vendor/modules.txt, but not "
         "explicitly required in go.mod"),
        (lambda t: t.replace("=> ../goldmark", "=> ../fork").replace(
            "# github.com/yuin/goldmark v1.7.8 => ../fork", "# github.com/yuin/goldmark v1.7.8"),
         "github.com/yuin/goldmark: is replaced by ../goldmark in go.mod, but marked as "
         "replaced by ../fork in vendor/modules.txt"),
    ],
)  # fmt: skip
def test_go_mod_edits_without_go_mod_vendor_are_inconsistent(tmp_path, edit, message):
    entry = check_module(str(module(tmp_path / "app", modules=edit(MODULES_TXT))))
    assert entry["consistent"] is False
    assert message in entry["problems"]


def test_go_114_and_later_need_explicit_markers_but_older_go_mod_only_versions(tmp_path):
    unmarked = MODULES_TXT.replace("## explicit; go 1.19\n", "").replace("## explicit\n", "")
    new = check_module(str(module(tmp_path / "new", go="1.16", modules=unmarked)))
    old = check_module(str(module(tmp_path / "old", go="1.13", modules=unmarked)))
    assert new["consistent"] is False
    assert old["consistent"] is True
    older_version = unmarked.replace("uuid v1.6.0", "uuid v1.5.0")
    old_bad = check_module(str(module(tmp_path / "old2", go="1.13", modules=older_version)))
    assert "vendor/modules.txt indicates github.com/google/uuid@v1.5.0" in old_bad["problems"][0]


def test_no_modules_txt_with_requirements_is_inconsistent_and_a_workspace_is_not_checked(
    tmp_path,
):
    bare = check_module(str(module(tmp_path / "bare", modules=None, vendor=False)))
    assert bare["consistent"] is False
    assert bare["problem_count"] == 4  # three requirements and one replacement
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "go.work").write_text("go 1.22\nuse ./app\n")
    ws = check_module(str(module(tmp_path / "ws" / "app", modules="")))
    assert ws["workspace"] is True
    assert ws["consistent"] is None
    assert check_module(str(tmp_path / "nowhere")) is None


@pytest.mark.parametrize(
    ("flags", "mode"),
    [("-mod=vendor", "vendor"), ("-mod=vendor -mod=mod", "mod"), ("--mod=readonly -v", "readonly"),
     ("-modcacherw", None), ("", None)],
)  # fmt: skip
def test_mod_flag_takes_the_last_one(flags, mode):
    assert mod_flag(flags) == mode


def test_the_collector_reports_vendored_roots_and_all_roots_under_mod_vendor(tmp_path, make_ctx):
    vendored = module(tmp_path / "a", modules=MODULES_TXT.replace("uuid v1.6.0", "uuid v1.5.0"))
    plain = module(tmp_path / "b", vendor=False)
    procs = {
        1: GoplsProcess(1, project_roots=(str(vendored),)),
        2: GoplsProcess(2, project_roots=(str(plain),)),
    }
    ctx = make_ctx()
    ctx.facts.gopls = procs
    (entry,) = collect_vendor(ctx)["vendor"]
    assert entry["root"] == str(vendored)
    assert entry["consistent"] is False
    forced = make_ctx(environ={"GOFLAGS": "-mod=vendor"})
    forced.facts.gopls = procs
    roots = {e["root"]: e["consistent"] for e in collect_vendor(forced)["vendor"]}
    assert roots == {str(vendored): False, str(plain): False}  # -mod=vendor with no vendor/
