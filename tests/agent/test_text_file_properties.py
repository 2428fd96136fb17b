"""Property tests of the agent's other text parsers: settings.json (JSONC), wsl.conf and
.wslconfig (INI in any encoding), the agent's TOML config, go/gopls command output, go.mod,
timestamps and gopls argv.

Each either returns its documented shape or raises its one documented error (ValueError, or
TOMLError for the config file) on any input: random text and bytes, NULs, deep nesting,
truncation. Round trips where the format allows one.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from devfleet_agent import jsonc, timefmt, tomlmini
from devfleet_agent.collectors import wsl
from devfleet_agent.collectors.editor_settings import filter_settings
from devfleet_agent.probes import classify, gotool
from devfleet_agent.probes.workspace import parse_go_mod_module
from tests.conftest import real_capture


def _capture(*parts: str) -> str:
    return real_capture(*parts).read_text()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
DEEP = ["[" * 100_000, "{" + '"a":[' * 50_000, "[" * 3000 + "]" * 3000]


# ---- settings.json (JSONC) ----------------------------------------------------------------


@given(st.text(max_size=300))
@example("/* unterminated")
@example('{"a": 1,}')
@example("\ufeff")
def test_jsonc_parses_or_raises_value_error_on_any_text(text):
    try:
        jsonc.loads(text)
    except ValueError:
        pass


@pytest.mark.parametrize("text", DEEP)
def test_jsonc_deep_nesting_is_a_value_error_not_a_recursion_error(text):
    with pytest.raises(ValueError):
        jsonc.loads(text)


@given(json_values, st.booleans())
def test_jsonc_round_trips_json_with_comments_and_trailing_commas(value, indent):
    text = json.dumps(value, indent=2 if indent else None)
    commented = "// settings\n/* block */" + text.replace("\n", "\n// c\n") + "\n"
    assert jsonc.loads(commented) == value
    if isinstance(value, dict) and value:
        assert jsonc.loads(text[:-1] + ",}") == value


@given(json_values)
def test_settings_filter_keeps_only_whitelisted_keys(value):
    try:
        kept, _ = filter_settings(value)
    except ValueError:
        assert not isinstance(value, dict)
        return
    assert all(
        k in ("go.languageServerFlags", "go.useLanguageServer", "go.alternateTools")
        or k in ("files.watcherExclude", "go.toolsEnvVars", "gopls")
        or k.startswith("gopls.")
        for k in kept
    )


# ---- /etc/wsl.conf and .wslconfig ---------------------------------------------------------

ini_text = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\[[a-z0-9]{1,8}\]", fullmatch=True),
        st.from_regex(r"[a-zA-Z.]{1,10} ?= ?[a-zA-Z0-9 ]{0,10}( # c)?", fullmatch=True),
    ),
    max_size=30,
).map("\n".join)


@given(st.binary(max_size=400))
@example(b"\xff\xfe[\x00w\x00")
@example(b"\xfe\xff\x00[")
@example(b"\xff\xfe\x00")
@example(b"a\x00b\x00c")
def test_config_bytes_decode_or_raise_value_error(data):
    try:
        text, encoding = wsl.decode_config(data)
    except ValueError:
        return
    assert isinstance(text, str)
    assert encoding


@given(ini_text, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"]))
def test_config_text_survives_every_windows_encoding(text, encoding):
    assume("\0" not in text)
    # Without a BOM, UTF-16 LE is recognised by its NUL high bytes: two ASCII characters.
    assume(encoding != "utf-16-le" or (len(text) >= 2 and text[:2].isascii()))
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    decoded, _ = wsl.decode_config(data)
    assert wsl.parse_ini(decoded) == wsl.parse_ini(text)


@given(ini_text)
@example(_capture("goldmark", "sys", "version"))
def test_ini_parses_any_text_within_its_caps(text):
    sections = wsl.parse_ini(text)
    assert len(sections) <= 16
    for keys in sections.values():
        assert len(keys) <= 64
        assert all(len(k) <= 256 and len(v) <= 1024 for k, v in keys.items())
    assert len(wsl.misplaced_wsl_conf_keys(sections)) <= 64


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
        st.dictionaries(
            st.from_regex(r"[a-zA-Z][a-zA-Z.]{0,9}", fullmatch=True),
            st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9 ]{0,8}[a-zA-Z0-9])?", fullmatch=True),
            max_size=5,
        ),
        max_size=5,
    )
)
def test_ini_round_trips_sections_and_keys(sections):
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        for name, keys in sections.items()
    )
    assert wsl.parse_ini(text) == sections


# ---- agent.toml ---------------------------------------------------------------------------


@given(st.text(max_size=200))
@example("a = {[]: 1}")
@example("a = [" * 2000)
@example('a = """')
@example("a = 1e999999")
def test_toml_parses_or_raises_toml_error(text):
    for parse in (tomlmini.loads, tomlmini._loads_subset):
        try:
            parse(text)
        except tomlmini.TOMLError:
            pass


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.one_of(
            st.booleans(),
            st.integers(-(2**40), 2**40),
            st.text(st.characters(codec="ascii", exclude_characters="\"\\'\n\r"), max_size=20),
        ),
        max_size=8,
    )
)
def test_toml_subset_reads_what_tomllib_reads(values):
    def literal(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)

    text = "[agent]\n" + "".join(f"{k} = {literal(v)}\n" for k, v in values.items())
    assert tomlmini._loads_subset(text) == tomlmini.loads(text) == {"agent": values}


# ---- go / gopls command output, go.mod ----------------------------------------------------

GO_VERSION_M = [_capture(c, "go_version_m.txt") for c in ("goldmark", "goroot-src")]


@given(st.one_of(st.text(max_size=300), st.sampled_from(GO_VERSION_M)))
@example("x: go1.22.1\n\tpath\n\tmod\tgolang.org/x/tools/gopls\n\tdep\n")
def test_go_version_m_parses_any_text(text):
    info = gotool.parse_go_version_m(text)
    assert set(info) == {
        "go_version",
        "module_path",
        "version",
        "version_source",
        "tools_version",
    }


@given(st.text(max_size=200))
@example(_capture("goldmark", "gopls_version.txt"))
@example(_capture("goldmark", "go_version.txt"))
def test_version_lines_give_a_token_or_none(text):
    for parse in (gotool.parse_gopls_version, gotool.parse_go_version):
        version = parse(text)
        assert version is None or (version and not any(c.isspace() for c in version))
    numbers = gotool.go_version_tuple(text)
    assert numbers is None or all(n >= 0 for n in numbers)


@pytest.mark.parametrize("version", ["v0.16.2", "(devel)", "v0.20.0-pre.1"])
def test_gopls_version_reads_both_output_formats(version):
    expected = version if version.startswith("v") else None
    assert gotool.parse_gopls_version(f"golang.org/x/tools/gopls {version}\n") == expected
    assert gotool.parse_gopls_version(f"    golang.org/x/tools/gopls@{version}\n") == version


@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps), st.sampled_from(DEEP)))
@example(_capture("goldmark", "go_env.json"))
def test_go_env_json_gives_strings_or_raises_value_error(text):
    try:
        env = gotool.parse_go_env_json(text)
    except ValueError:
        return
    assert len(env) <= 128
    assert all(isinstance(k, str) and isinstance(v, str) and len(v) <= 4096 for k, v in env.items())


@given(st.text(max_size=200))
@example("module\n")
@example('module "example.com/x" // c\n')
def test_go_mod_module_is_a_single_token_or_none(text):
    module = parse_go_mod_module(text)
    assert module is None or (module and not any(c.isspace() or c == '"' for c in module))


@given(st.from_regex(r"[a-z][a-z0-9.\-]{0,20}(/[a-zA-Z0-9_.\-]{1,10}){0,3}", fullmatch=True))
def test_go_mod_module_round_trips(module):
    assert parse_go_mod_module(f"// header\nmodule {module}\n\ngo 1.22\n") == module
    assert parse_go_mod_module(f'module "{module}"\n') == module


# ---- timestamps and argv ------------------------------------------------------------------


@given(st.floats(0, 32503680000 - 1))
def test_iso_round_trips_to_the_millisecond(ts):
    assert math.isclose(timefmt.parse_iso(timefmt.iso(ts)), ts, abs_tol=0.001)


@given(st.text(max_size=40))
@example("9999-12-31T23:59:59-23:59")
@example("0001-01-01T00:00:00+23:59")
def test_parse_iso_raises_only_value_error(text):
    try:
        assert math.isfinite(timefmt.parse_iso(text))
    except ValueError:
        pass


@given(
    st.lists(st.text(max_size=20), max_size=10), st.none() | st.dictionaries(st.text(), st.text())
)
@example(["gopls", "-remote"], None)
@example(["gopls", "-debug"], None)
def test_gopls_argv_classification_never_raises(argv, environ):
    kind = classify.classify_gopls(argv, environ)
    assert kind in (classify.SERVER, classify.TELEMETRY, classify.FORWARDER, classify.OTHER)
    assert all(flag.startswith("-") for flag in classify.flags_of(argv))
    assert isinstance(
        classify.is_gopls_name(argv[0] if argv else None, "/x/" + "".join(argv)), bool
    )
