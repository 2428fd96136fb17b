"""Property tests of the agent's configuration: any agent.toml text and any DEVFLEET_AGENT_*
environment either load or raise ConfigError with a message (the CLI prints it and exits 2)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devfleet_agent.config import _FIELDS, ENV_PREFIX, ConfigError, load_config

names = st.sampled_from(sorted(_FIELDS))
env_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["nan", "inf", "-1", "1e999", "http://[", "https://x/?q", "\0", "true"]),
)
toml_lines = st.lists(
    st.one_of(
        st.tuples(names, env_values).map(lambda kv: f"{kv[0]} = {kv[1]!r}".replace("'", '"')),
        st.tuples(names, st.integers(-(2**70), 2**70)).map(lambda kv: f"{kv[0]} = {kv[1]}"),
        st.text(max_size=30),
        st.sampled_from(["[agent]", "[collectors]", "[transport]", "[x.y]"]),
    ),
    max_size=8,
).map("\n".join)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("agent-config")


@given(toml_lines, st.dictionaries(names, env_values, max_size=4))
@example('server_url = "http://["', {})
@example("", {"ca_file": "/tmp/a\0b"})
@example("", {"server_url": "https://[::1"})
def test_any_config_file_and_environment_load_or_raise_config_error(config_dir, text, env):
    path = config_dir / "agent.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    environ = {ENV_PREFIX + name.upper(): value for name, value in env.items()}
    try:
        load_config(path, env=environ)
    except ConfigError as exc:
        assert str(exc)  # noqa: PT017
