"""The JSONC and .wslconfig editors change one key and leave every other byte alone."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from devfleet_agent import jsonc
from devfleet_agent.fixes import jsonc_edit, wslconfig_edit

FIXTURES = Path(__file__).parent / "fixtures" / "vscode-settings"
FILES = sorted(FIXTURES.glob("*.json"))


def _body(path: Path) -> str:
    return path.read_bytes().decode("utf-8").lstrip("\ufeff")


def _changed_lines(before: str, after: str) -> list[str]:
    """Lines of `before` that are not in `after` (a removal touches only its own lines)."""
    kept = after.splitlines()
    return [line for line in before.splitlines() if line not in kept]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_removing_go_goplsargs_keeps_comments_order_and_other_keys(path):
    text = _body(path)
    new = jsonc_edit.remove(text, ["go.goplsArgs"])
    before, after = jsonc.loads(text), jsonc.loads(new)
    assert "go.goplsArgs" not in after
    del before["go.goplsArgs"]
    assert after == before
    assert list(after) == list(before)  # key order
    for line in text.splitlines():
        if "goplsArgs" in line or line.strip() in ('"-rpc.trace",', '"serve"', "], // does this "
                                                   "even work?"):
            continue
        if line.strip().startswith(("//", "/*", "*")):
            assert line in new.splitlines(), f"comment lost: {line!r}"
    assert ("\r\n" in new) == ("\r\n" in text)


def test_removal_of_a_multiline_member_deletes_exactly_its_lines():
    text = _body(FIXTURES / "spaces-comments-trailing.json")
    new = jsonc_edit.remove(text, ["go.goplsArgs"])
    assert _changed_lines(text, new) == ['    "go.goplsArgs": [', '        "-rpc.trace",',
                                         '        "serve"', "    ], // does this even work?"]
    assert len(new.splitlines()) == len(text.splitlines()) - 4


def test_removing_the_last_member_drops_the_comma_it_leaves_behind():
    text = _body(FIXTURES / "last-key-no-trailing.json")
    new = jsonc_edit.remove(text, ["go.goplsArgs"])
    assert new == ('{\n  "telemetry.telemetryLevel": "off",\n'
                   '  "go.toolsManagement.autoUpdate": true // keep tools fresh\n}\n')
    json.loads(jsonc.strip_jsonc(new))  # strict JSON after comments: no trailing comma


def test_nested_key_removal_keeps_the_trailing_comma_style():
    text = _body(FIXTURES / "spaces-comments-trailing.json")
    new = jsonc_edit.remove(text, ["gopls", "build.env", "GOMEMLIMIT"])
    assert '"build.env": {\n        },' in new
    assert "// Add parameter placeholders" in new


def test_members_sharing_a_line_are_removed_alone():
    text = _body(FIXTURES / "bom-one-line-members.json")
    new = jsonc_edit.remove(text, ["go.goplsArgs"])
    assert new.splitlines()[1] == '    "editor.tabSize": 4,'
    new = jsonc_edit.remove(text, ["gopls", "memoryMode"])
    assert '"gopls": {"ui.semanticTokens": true}' in new


def test_set_replaces_a_value_in_place_and_adds_a_missing_key_with_the_file_indentation():
    text = _body(FIXTURES / "tabs-crlf.json")
    new = jsonc_edit.set_value(text, ["go.toolsEnvVars", "GOMEMLIMIT"], "3GiB")
    assert new.endswith(
        '"bash",\r\n\t"go.toolsEnvVars": {\r\n\t\t"GOMEMLIMIT": "3GiB"\r\n\t}\r\n}\r\n')
    again = jsonc_edit.set_value(new, ["go.toolsEnvVars", "GOMEMLIMIT"], "2GiB")
    assert again == new.replace('"3GiB"', '"2GiB"')
    text = _body(FIXTURES / "spaces-comments-trailing.json")
    new = jsonc_edit.set_value(text, ["go.toolsEnvVars", "GOMEMLIMIT"], "3GiB")
    assert '"GOFLAGS": "-mod=mod", // vendored repos\n        "GOMEMLIMIT": "3GiB",\n' in new


def test_set_on_an_empty_file_writes_an_object():
    assert jsonc.loads(jsonc_edit.set_value("", ["a"], 1)) == {"a": 1}
    assert jsonc.loads(jsonc_edit.set_value("{}", ["a", "b"], [1])) == {"a": {"b": [1]}}
    assert jsonc.loads(jsonc_edit.set_value("{\n  // only a comment\n}", ["a"], 1)) == {"a": 1}


@pytest.mark.parametrize("bad", ["{", "[1]", '{"a": }', '{"a": 1} x', "/* open", '{"a": "x\n"}',
                                 "{" * 500 + "}" * 500])
def test_a_file_that_is_not_a_jsonc_object_is_refused(bad):
    with pytest.raises((jsonc_edit.JsoncEditError, KeyError)):
        jsonc_edit.remove(bad, ["a"])


def test_an_absent_key_is_a_key_error():
    with pytest.raises(KeyError):
        jsonc_edit.remove('{"a": 1}', ["b"])
    with pytest.raises(jsonc_edit.JsoncEditError):
        jsonc_edit.remove('{"a": 1}', ["a", "b"])  # through a number


def test_random_removals_and_sets_round_trip():
    """Generated objects with comments and both comma styles: every edit changes one key."""
    rng = random.Random(7)
    for _ in range(300):
        keys = [f"k{i}.x" for i in range(rng.randint(1, 6))]
        trailing = rng.random() < 0.5
        lines = ["{"]
        for i, k in enumerate(keys):
            if rng.random() < 0.3:
                lines.append("  // note " + k)
            value = rng.choice(["1", '"s"', "[1, 2]", '{"n": true}', "null"])
            comma = "," if i < len(keys) - 1 or trailing else ""
            tail = " // why" if rng.random() < 0.3 else ""
            lines.append(f'  "{k}": {value}{comma}{tail}')
        lines.append("}")
        text = "\n".join(lines) + "\n"
        data = jsonc.loads(text)
        victim = rng.choice(keys)
        new = jsonc_edit.remove(text, [victim])
        expected = {k: v for k, v in data.items() if k != victim}
        assert jsonc.loads(new) == expected
        assert [c for c in text.splitlines() if c.strip().startswith("//")] == \
            [c for c in new.splitlines() if c.strip().startswith("//")]
        new = jsonc_edit.set_value(text, [victim], {"v": [1]})
        assert jsonc.loads(new) == {**data, victim: {"v": [1]}}


WSL = ("# my settings\r\n[wsl2]\r\nmemory=8GB  # old\r\nautoMemoryReclaim=gradual\r\n"
       "swap=0\r\n\r\n[experimental]\r\nsparseVhd=true\r\n")


@pytest.mark.parametrize(("bom", "codec"), [(b"", "utf-8"), (b"\xef\xbb\xbf", "utf-8"),
                                       (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
                                       (b"", "utf-16-le")])
def test_wslconfig_keeps_encoding_bom_line_endings_and_other_keys(bom, codec):
    data = bom + WSL.encode(codec)
    enc = wslconfig_edit.decode(data)
    new = wslconfig_edit.set_key(enc.text, "wsl2", "memory", "24GB")
    out = wslconfig_edit.encode(enc, new)
    assert out.startswith(bom)
    assert out == bom + WSL.replace("memory=8GB  # old", "memory=24GB  # old").encode(codec)
    removed = wslconfig_edit.encode(enc, wslconfig_edit.remove_key(enc.text, "wsl2",
                                                                   "autoMemoryReclaim"))
    assert removed == bom + WSL.replace("autoMemoryReclaim=gradual\r\n", "").encode(codec)


def test_wslconfig_adds_missing_keys_and_sections():
    text = "[wsl2]\nswap=0\n\n[experimental]\nsparseVhd=true"
    assert wslconfig_edit.set_key(text, "wsl2", "memory", "4GB") == \
        "[wsl2]\nswap=0\nmemory=4GB\n\n[experimental]\nsparseVhd=true"
    assert wslconfig_edit.set_key(text, "experimental", "autoMemoryReclaim", "gradual") == \
        "[wsl2]\nswap=0\n\n[experimental]\nsparseVhd=true\nautoMemoryReclaim=gradual\n"
    assert wslconfig_edit.set_key("# only\r\n", "wsl2", "memory", "4GB") == \
        "# only\r\n\r\n[wsl2]\r\nmemory=4GB\r\n"
    assert wslconfig_edit.set_key("", "wsl2", "memory", "4GB") == "[wsl2]\nmemory=4GB\n"


def test_wslconfig_refuses_binary_bad_text_and_multiline_values():
    for data in (b"\x00\x01\x02abc", b"\xff\xfe\x00\xd8", b"[wsl2]\nmemory=\xff\n"):
        with pytest.raises(wslconfig_edit.WslconfigEditError):
            wslconfig_edit.decode(data)
    with pytest.raises(wslconfig_edit.WslconfigEditError):
        wslconfig_edit.set_key("[wsl2]\n", "wsl2", "memory", "4GB\nkernel=/evil")
    with pytest.raises(KeyError):
        wslconfig_edit.remove_key("[wsl2]\nswap=0\n", "wsl2", "memory")
