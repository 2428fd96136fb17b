"""CLI contract: once --dry-run output validates against report schema v1; show, enroll, check."""

from __future__ import annotations

import json

import jsonschema
import pytest

from devfleet_agent import cli
from devfleet_agent.report import anonymize, build_report
from tests.agent.conftest import SCHEMA, fake_procfs
from tests.agent.receiver import Receiver


@pytest.fixture
def validator():
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_once_dry_run_prints_a_report_that_validates_against_the_schema(
    tmp_path, capsys, validator
):
    code, out, _ = _run(capsys, "--state-dir", str(tmp_path), "once", "--dry-run")
    assert code == 0
    report = json.loads(out)
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert report["machine"]["os"] == "linux"
    assert report["samples"][0]["system"]["mem_total_bytes"] > 0
    assert "inventory" in report
    assert not (tmp_path / "spool.sqlite").exists()  # dry run: nothing spooled or sent


def test_a_fake_tree_report_validates_too(tmp_path, capsys, validator, captures):
    g = captures / "goldmark"
    proc = fake_procfs(
        tmp_path / "proc",
        {
            17450: {"comm": "code", "ppid": 1, "argv": ["/usr/share/code/code"]},
            17452: {
                "comm": "gopls",
                "ppid": 17450,
                "argv": ["/home/dev/go/bin/gopls", "-debug", "localhost:1"],
                "status": (g / "proc" / "status").read_text(),
                "rss_kb": 375420,
                "limits": (g / "proc" / "limits").read_text(),
                "cwd": str(tmp_path),
            },
        },
        files={
            "meminfo": (g / "sys" / "meminfo").read_text(),
            "vmstat": (g / "sys" / "vmstat").read_text(),
            "loadavg": (g / "sys" / "loadavg").read_text(),
        },
    )
    code, out, _ = _run(
        capsys,
        "--state-dir",
        str(tmp_path / "st"),
        "--proc-root",
        str(proc),
        "--fs-root",
        str(tmp_path / "root"),
        "once",
        "--dry-run",
    )
    assert code == 0
    report = json.loads(out)
    assert not list(validator.iter_errors(report))
    [g0] = report["samples"][0]["gopls"]
    assert g0["rss_bytes"] == 375420 * 1024
    assert g0["editor"]["kind"] == "vscode"
    assert g0["debug"]["ok"] is False  # nothing listens on localhost:1
    assert report["samples"][0]["system"]["mem_total_bytes"] == 24684084 * 1024


def test_the_example_report_and_an_anonymised_report_validate(validator, make_config):
    example = json.loads((SCHEMA.parent / "examples" / "report-v1.json").read_text())
    anon = anonymize(example, "salt", "dev-laptop-17")
    assert not list(validator.iter_errors(anon))
    g = anon["samples"][0]["gopls"][0]
    assert g["exe"].startswith("anon:")
    assert g["cwd"].startswith("anon:")
    assert anon["machine"]["hostname"].startswith("anon:")
    assert g["projects"][0]["module"] == "github.com/yuin/goldmark"
    assert "/home/dev" not in json.dumps(anon)
    rep = build_report(
        example["samples"], make_config(anonymize=True), salt="s", machine=example["machine"]
    )
    assert rep["agent"]["anonymized"] is True
    assert "dev-laptop-17" not in json.dumps(rep)


def test_show_prints_every_value_with_its_source(tmp_path, capsys):
    code, out, _ = _run(capsys, "--state-dir", str(tmp_path), "show")
    assert code == 0
    assert "samples[0].system.mem_total_bytes = " in out
    assert "← /proc/meminfo" in out
    assert "machine.hostname = " in out
    assert "← socket.gethostname()" in out


def test_enroll_saves_a_private_credential(tmp_path, capsys, receiver):
    receiver.script.append(
        (
            201,
            {
                "machine_id": "m-abc12345",
                "credential": "cred-1",
                "report_url": "/api/v1/reports",
                "collect_interval_s": 15,
                "upload_interval_s": 60,
            },
            {},
        )
    )
    code, _out, _ = _run(
        capsys,
        "--state-dir",
        str(tmp_path),
        "enroll",
        "--server",
        receiver.url,
        "--token",
        "tok-1",
        "--owner",
        "bob",
    )
    assert code == 0
    body = receiver.requests[0]["json"]
    assert body["token"] == "tok-1"
    assert body["owner"] == "bob"
    assert body["os"] == "linux"
    assert 8 <= len(body["machine_id"]) <= 128
    cred = tmp_path / "credential.json"
    assert json.loads(cred.read_text())["credential"] == "cred-1"
    assert cred.stat().st_mode & 0o777 == 0o600
    # the machine id is stable: a second enroll sends the same one
    receiver.script.append((401, {"error": "bad token"}, {}))
    code, _, err = _run(
        capsys,
        "--state-dir",
        str(tmp_path),
        "enroll",
        "--server",
        receiver.url,
        "--token",
        "revoked",
    )
    assert code == 2
    assert "rejected" in err
    assert receiver.requests[1]["json"]["machine_id"] == body["machine_id"]


def _enroll(tmp_path, url):
    (tmp_path / "credential.json").write_text(
        json.dumps({"server_url": url, "machine_id": "m-abc12345", "credential": "cred-1"})
    )


def test_check_exits_3_when_the_server_has_no_check_endpoint(tmp_path, capsys, receiver):
    _enroll(tmp_path, receiver.url)
    receiver.script.append((404, {"detail": "not found"}, {}))
    code, _, err = _run(capsys, "--state-dir", str(tmp_path), "check")
    assert code == 3
    assert "no /api/v1/check endpoint" in err
    assert receiver.requests[0]["path"] == "/api/v1/check"


def test_check_prints_findings_with_fixes_and_exits_1_on_warnings(tmp_path, capsys, receiver):
    _enroll(tmp_path, receiver.url)
    receiver.script.append(
        (
            200,
            {
                "worst_severity": "warning",
                "findings": [
                    {
                        "rule_id": "invented_flags",
                        "severity": "warning",
                        "title": "Invented gopls flag",
                        "summary": "-no-load-full-workspace does not exist",
                        "evidence": {},
                        "advice": {
                            "summary": "Remove it",
                            "steps": [
                                {
                                    "text": "Edit settings.json",
                                    "command": None,
                                    "setting": {"go.languageServerFlags": []},
                                }
                            ],
                            "sources": ["https://github.com/golang/tools"],
                        },
                    }
                ],
            },
            {},
        )
    )
    code, out, _ = _run(capsys, "--state-dir", str(tmp_path), "check")
    assert code == 1
    assert "[WARNING] Invented gopls flag" in out
    assert "go.languageServerFlags" in out
    receiver.script.append((200, {"worst_severity": "info", "findings": []}, {}))
    code, out, _ = _run(capsys, "--state-dir", str(tmp_path), "check")
    assert code == 0


def test_status_reports_spool_and_auth_failure(tmp_path, capsys, receiver):
    _enroll(tmp_path, receiver.url)
    (tmp_path / "status.json").write_text(
        json.dumps({"auth_failed": True, "last_error": "HTTP 401"})
    )
    code, out, _ = _run(capsys, "--state-dir", str(tmp_path), "status")
    assert code == 2
    assert "AUTH FAILED" in out
    assert "reachable" in out
    assert "cred…-1" in out


def test_an_invalid_config_file_exits_2_with_the_reason(tmp_path, capsys):
    bad = tmp_path / "agent.toml"
    bad.write_text("upload_interval = 60\n")
    code, _, err = _run(capsys, "--config", str(bad), "--state-dir", str(tmp_path), "status")
    assert code == 2
    assert "did you mean 'upload_interval_s'" in err


def test_the_server_accepts_a_rich_agent_report(tmp_path, capsys, captures):
    """Contract: the server's own validator accepts what the agent emits for a gopls tree."""
    validation = pytest.importorskip("apps.ingest.validation")
    g = captures / "goldmark"
    proc = fake_procfs(
        tmp_path / "proc",
        {
            50: {"comm": "nvim", "ppid": 1, "argv": ["nvim"]},
            51: {
                "comm": "gopls",
                "ppid": 50,
                "argv": ["gopls", "-debug=localhost:0", "serve"],
                "rss_kb": 375420,
                "limits": (g / "proc" / "limits").read_text(),
                "environ": {"GOMEMLIMIT": "3GiB"},
                "cwd": str(tmp_path),
            },
            52: {"comm": "gopls", "ppid": 51, "argv": ["gopls", "** telemetry **"]},
            53: {"comm": "go", "ppid": 51, "argv": ["go", "list"]},
        },
    )
    code, out, _ = _run(
        capsys, "--state-dir", str(tmp_path / "st"), "--proc-root", str(proc), "once", "--dry-run"
    )
    assert code == 0
    report = json.loads(out)
    assert report["samples"][0]["gopls_excluded"]["telemetry_sidecars"] == 1
    assert validation.validate_report(report) == []
