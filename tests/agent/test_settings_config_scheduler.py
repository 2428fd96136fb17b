"""Editor settings (JSONC, whitelist), config validation, and scheduler isolation/backoff."""

from __future__ import annotations

import pytest

from devfleet_agent import jsonc
from devfleet_agent.collectors.base import Collector
from devfleet_agent.collectors.editor_settings import collect_editor_settings, filter_settings
from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.config import ConfigError, load_config
from devfleet_agent.scheduler import Scheduler

SETTINGS = """// user settings
{
  /* block comment with "quotes" */
  "editor.fontSize": 14,
  "go.languageServerFlags": ["-rpc.trace", "-no-load-full-workspace",],
  "go.toolsEnvVars": {"GOMEMLIMIT": "4GB", "GOFLAGS": "-mod=mod", "AWS_SECRET": "nope"},
  "go.goplsArgs": ["-remote=auto"],
  "gopls": {"ui.semanticTokens": true, "build.directoryFilters": ["-**/node_modules"]},
  "gopls.memoryMode": "DegradeClosed",
  "files.watcherExclude": {"**/vendor/**": true,},
  "url": "https://example.com/a//b", // a comment after a string with slashes
}
"""


def test_jsonc_allows_comments_and_trailing_commas():
    data = jsonc.loads(SETTINGS)
    assert data["url"] == "https://example.com/a//b"
    assert data["go.languageServerFlags"] == ["-rpc.trace", "-no-load-full-workspace"]


def test_only_whitelisted_settings_are_kept():
    kept, has_args = filter_settings(jsonc.loads(SETTINGS))
    assert has_args
    assert set(kept) == {
        "go.languageServerFlags",
        "go.toolsEnvVars",
        "gopls",
        "gopls.memoryMode",
        "files.watcherExclude",
    }
    assert kept["go.toolsEnvVars"] == {"GOMEMLIMIT": "4GB", "GOFLAGS": "-mod=mod"}


def test_it_reads_user_remote_and_workspace_settings(tmp_path, make_ctx):
    home = tmp_path / "home"
    user = home / ".config" / "Code" / "User"
    user.mkdir(parents=True)
    (user / "settings.json").write_text(SETTINGS)
    remote = home / ".vscode-server" / "data" / "Machine"
    remote.mkdir(parents=True)
    (remote / "settings.json").write_text('{"go.useLanguageServer": true}')
    ws = tmp_path / "ws" / ".vscode"
    ws.mkdir(parents=True)
    (ws / "settings.json").write_text('{"gopls": {"staticcheck": false}, "x": 1')  # malformed
    ctx = make_ctx(home=home, environ={})
    ctx.facts.gopls = {7: GoplsProcess(7, cwd=str(tmp_path / "ws"))}
    out = {(e["editor"], e["scope"]): e for e in collect_editor_settings(ctx)["editor_settings"]}
    assert out[("vscode", "user")]["has_go_goplsArgs"] is True
    assert out[("vscode-server", "remote")]["settings"] == {"go.useLanguageServer": True}
    bad = out[("vscode", "workspace")]
    assert bad["error"].startswith("JSONDecodeError")
    assert bad["settings"] == {}


def test_config_file_and_env_overrides(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(
        'server_url = "https://fleet.example.com/"\ncollect_interval_s = 30\n'
        '[collectors]\ndisabled_collectors = ["wsl"]\n'
    )
    cfg = load_config(
        path, env={"DEVFLEET_AGENT_UPLOAD_INTERVAL_S": "120", "DEVFLEET_AGENT_ANONYMIZE": "yes"}
    )
    assert cfg.server_url == "https://fleet.example.com"
    assert cfg.collect_interval_s == 30.0
    assert cfg.upload_interval_s == 120.0
    assert cfg.anonymize is True
    assert cfg.disabled_collectors == ["wsl"]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("collect_interval_s = [", {}, "invalid TOML"),
        ("colect_interval_s = 15", {}, "did you mean 'collect_interval_s'"),
        ('server_url = "ftp://x"', {}, "not an http(s) URL"),
        ('server_url = "http://fleet.example.com"', {}, "must use https"),
        ("collect_interval_s = 0", {}, "outside the allowed range"),
        ('anonymize = "yes"', {}, "anonymize: expected bool"),
        ("", {"DEVFLEET_AGENT_COLLECT_INTERVAL_S": "fast"}, "expected float"),
        ('ca_file = "/nonexistent/ca.pem"', {}, "does not exist"),
    ],
)
def test_bad_config_fails_with_a_clear_message(tmp_path, text, env, message):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, env=env)


def test_plain_http_is_allowed_for_localhost(tmp_path):
    cfg = load_config(
        tmp_path / "missing.toml", env={"DEVFLEET_AGENT_SERVER_URL": "http://127.0.0.1:8000"}
    )
    assert cfg.server_url == "http://127.0.0.1:8000"


def _collectors(calls):
    def boom(ctx):
        calls.append("boom")
        raise RuntimeError("kaput")

    def fine(ctx):
        calls.append("fine")
        return {"system": {"cpu_count": 2}}

    return [Collector("boom", boom), Collector("fine", fine)]


def test_a_raising_collector_does_not_stop_the_others(make_ctx):
    calls: list[str] = []
    sched = Scheduler(make_ctx(), _collectors(calls))
    res = sched.run_cycle()
    assert res.sample == {"system": {"cpu_count": 2}}
    assert res.errors == [{"collector": "boom", "kind": "error", "message": "RuntimeError: kaput"}]
    assert calls == ["boom", "fine"]


def test_a_collector_failing_repeatedly_is_backed_off(make_ctx):
    calls: list[str] = []
    sched = Scheduler(make_ctx(), _collectors(calls))
    kinds = []
    for _ in range(5):
        res = sched.run_cycle()
        kinds.append([e["kind"] for e in res.errors])
    assert ["error", "backed_off"] in kinds
    assert calls.count("fine") == 5
    assert calls.count("boom") == 3


def test_an_overrunning_collector_is_reported_then_backed_off(make_ctx):
    def slow(ctx):
        return {}

    sched = Scheduler(make_ctx(), [Collector("slow", slow, budget_ms=-1.0)])
    seen = []
    for _ in range(6):
        res = sched.run_cycle()
        seen.append((tuple(e["kind"] for e in res.errors), tuple(res.backed_off)))
    assert seen[0] == (("timeout",), ())
    assert seen[2] == (("timeout", "backed_off"), ())
    assert seen[3] == ((), ("slow",))
