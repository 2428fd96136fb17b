"""Acceptance of #16 with real parts: live server, the real agent CLI, a temporary HOME.

VS Code settings with go.goplsArgs and a comment → upload → finding → `fix <id> --yes` →
key gone, comment and other keys unchanged, backup → next upload → finding resolved and the
machine page says the fix was applied → `undo` restores the file byte for byte. Then the
refusals: tampered actions, a file changed after the diff, root against a user's file, and
fixes turned off in the agent config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("apps.fleet.services", reason="the devfleet server (apps.fleet) is not here")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXTURE = Path(__file__).parent / "fixtures" / "vscode-settings" / "spaces-comments-trailing.json"


@pytest.fixture(autouse=True)
def _fast_detection(settings):
    settings.INGEST_BURST = 10_000.0
    settings.INGEST_RATE_PER_MINUTE = 60_000.0
    settings.DETECTION_RESOLVE_AFTER_S = 0
    settings.METRICS_TOKEN = "metrics-secret"


@pytest.fixture
def machine_home(tmp_path, live_server):
    """A temporary HOME with VS Code user settings, an enrolled agent state and its env."""
    home = tmp_path / "home"
    settings = home / ".config" / "Code" / "User" / "settings.json"
    settings.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, settings)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVFLEET_AGENT_", "XDG_", "GOPLSCACHE"))}
    env.update(HOME=str(home), DEVFLEET_AGENT_STATE_DIR=str(tmp_path / "state"),
               DEVFLEET_AGENT_CONFIG=str(tmp_path / "agent.toml"),
               DEVFLEET_AGENT_DISABLED_COLLECTORS="go_caches,inotify",
               DEVFLEET_AGENT_HTTP_TIMEOUT_S="10")
    from apps.fleet.services import create_enrollment_token

    _, secret = create_enrollment_token("Platform")
    res = _cli(env, "enroll", "--server", live_server.url, "--token", secret)
    assert res.returncode == 0, res.stderr
    return home, settings, env, tmp_path / "state"


def _cli(env, *args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devfleet_agent", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=180, check=False)


def _upload_and_evaluate(env) -> None:
    from apps.anomalies.evaluation import evaluate_machines
    from apps.fleet.models import Machine

    res = _cli(env, "once")
    assert res.returncode == 0, res.stderr + res.stdout
    evaluate_machines(list(Machine.objects.values_list("pk", flat=True)))


def _finding():
    from apps.anomalies.models import Finding

    return Finding.objects.get(rule_id="go_goplsargs_setting")


def test_fix_from_the_agent_closes_the_loop_and_undo_restores_the_file(machine_home,
                                                                         admin_client, client):
    _home, settings, env, state = machine_home
    original = settings.read_bytes()
    _upload_and_evaluate(env)
    finding = _finding()
    assert finding.state == "open"
    listed = _cli(env, "fixes")
    assert listed.returncode == 0, listed.stderr
    assert f"devfleet-agent fix {finding.pk}" in listed.stdout
    assert f"remove go.goplsArgs from {settings}" in listed.stdout

    page = admin_client.get(f"/machines/{finding.machine.machine_id}/").content.decode()
    assert f"devfleet-agent fix {finding.pk}" in page  # beside the applicable step

    res = _cli(env, "fix", str(finding.pk), "--yes")
    assert res.returncode == 0, res.stderr + res.stdout
    assert '-    "go.goplsArgs": [' in res.stdout  # the diff was shown
    text = settings.read_text()
    assert "go.goplsArgs" not in text
    for kept in ("// Editor", "/*\n     * Go: these came from a blog post about gopls memory.\n"
                 "     */", '"editor.fontSize": 14,', '"GOFLAGS": "-mod=mod", // vendored repos',
                 '"ui.completion.usePlaceholders": true,'):
        assert kept in text
    removed = [line for line in original.decode().splitlines() if line not in text.splitlines()]
    assert removed == ['    "go.goplsArgs": [', '        "-rpc.trace",', '        "serve"',
                       "    ], // does this even work?"]
    backups = list((state / "fixes" / "backups").iterdir())
    assert len(backups) == 1
    assert backups[0].read_bytes() == original

    _upload_and_evaluate(env)  # the upload carries the fix and the settings without the key
    _upload_and_evaluate(env)  # resolve delay 0: the next pass resolves
    finding.refresh_from_db()
    assert finding.state == "resolved"
    from apps.anomalies.models import AppliedFix

    [fix] = AppliedFix.objects.all()
    assert (fix.finding_id, fix.outcome, fix.action_type) == (finding.pk, "applied",
                                                              "vscode_setting")
    page = admin_client.get(f"/machines/{finding.machine.machine_id}/").content.decode()
    assert "fix applied at" in page
    assert "from the agent" in page
    assert "it resolved the finding" in page
    detail = admin_client.get(f"/api/v1/findings/{finding.pk}/").json()
    assert [e["kind"] for e in detail["events"]].count("fix") == 1
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret").content
    assert b"devfleet_fixes_applied 1" in metrics
    assert b"devfleet_fixes_resolved 1" in metrics

    res = _cli(env, "undo", str(finding.pk), "--yes")
    assert res.returncode == 0, res.stderr
    assert settings.read_bytes() == original


def _tamper(finding, action: dict) -> None:
    finding.advice = {**finding.advice, "actions": [{"step": 0, "action": action}],
                      "action_steps": [0]}
    finding.save(update_fields=["advice"])


@pytest.mark.parametrize("action", [
    {"type": "shell", "command": "rm -rf ~"},
    {"type": "vscode_setting", "op": "set", "path": "SETTINGS",
     "key": ["go.toolsEnvVars", "GOMEMLIMIT"], "value": "4GB"},
    {"type": "vscode_setting", "op": "remove", "path": "HOME/.bashrc", "key": ["go.goplsArgs"]},
    {"type": "vscode_setting", "op": "remove", "path": "/etc/passwd", "key": ["go.goplsArgs"]},
    {"type": "stop_process", "pid": 1, "start_time": 1000},
    {"type": "stop_process", "pid": "PARENT", "start_time": 1000},
])
def test_a_tampered_action_from_the_server_changes_nothing(machine_home, action):
    home, settings, env, state = machine_home
    _upload_and_evaluate(env)
    finding = _finding()
    action = json.loads(json.dumps(action).replace("SETTINGS", str(settings))
                        .replace("HOME", str(home)).replace('"PARENT"', str(os.getpid())))
    _tamper(finding, action)
    before = settings.read_bytes()
    res = _cli(env, "fix", str(finding.pk), "--yes")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "refused" in res.stdout
    assert settings.read_bytes() == before
    assert not (state / "fixes" / "journal.jsonl").exists()


def test_a_file_changed_after_the_diff_is_refused(machine_home):
    _home, settings, env, _state = machine_home
    _upload_and_evaluate(env)
    finding = _finding()
    proc = subprocess.Popen([sys.executable, "-m", "devfleet_agent", "fix", str(finding.pk)],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    shown = ""
    while not shown.endswith("Apply? [y/N] "):
        ch = proc.stdout.read(1)
        assert ch, proc.stderr.read()
        shown += ch
    assert "go.goplsArgs" in shown
    settings.write_text(settings.read_text().replace('fontSize": 14', 'fontSize": 16'))
    edited = settings.read_bytes()
    _, err = proc.communicate("y\n", timeout=60)
    assert proc.returncode == 1
    assert "changed since the diff was computed" in err
    assert settings.read_bytes() == edited


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_against_a_users_settings_is_refused(machine_home):
    _home, settings, env, _state = machine_home
    _upload_and_evaluate(env)
    os.chown(settings, 1000, 1000)
    before = settings.read_bytes()
    res = _cli(env, "fix", str(_finding().pk), "--yes")
    assert res.returncode == 1
    assert "running as root against a user's file" in res.stdout
    assert settings.read_bytes() == before


def test_fixes_false_in_the_agent_config_gives_advice_only(machine_home, tmp_path):
    _home, settings, env, _state = machine_home
    _upload_and_evaluate(env)
    (tmp_path / "agent.toml").write_text("[agent]\nfixes = false\n")
    before = settings.read_bytes()
    for args in (("fixes",), ("fix", str(_finding().pk), "--yes")):
        res = _cli(env, *args)
        assert res.returncode == 2
        assert "fixes = false" in res.stderr
    assert settings.read_bytes() == before
