"""The agent runs on the oldest Python its pyproject.toml declares (requires-python), not only
on the server's: every module imports, and `once --dry-run` with a TOML config (read by the
built-in parser, as that Python has no tomllib) gives a report the schema accepts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from tests.agent.conftest import REPO_ROOT, SCHEMA, fake_procfs, install_lock

pytestmark = pytest.mark.slow
AGENT = REPO_ROOT / "agent"
PROJECT = tomllib.loads((AGENT / "pyproject.toml").read_text())["project"]
FLOOR = tuple(
    int(x) for x in re.fullmatch(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"]).groups()
)
FLOOR_NAME = f"python{FLOOR[0]}.{FLOOR[1]}"
HOW = (
    f"the agent declares requires-python {PROJECT['requires-python']} and is tested on it: "
    f"install Python {FLOOR[0]}.{FLOOR[1]} (e.g. `pyenv install {FLOOR[0]}.{FLOOR[1]}` or "
    f"your distribution's {FLOOR_NAME} package) and put {FLOOR_NAME} on PATH, or point "
    "DEVFLEET_AGENT_FLOOR_PYTHON at it"
)


def _floor_interpreter() -> str | None:
    """$DEVFLEET_AGENT_FLOOR_PYTHON, pyenv's build of that version, or pythonX.Y on PATH."""
    candidates = [os.environ.get("DEVFLEET_AGENT_FLOOR_PYTHON")]
    if shutil.which("pyenv"):
        found = subprocess.run(
            ["pyenv", "prefix", f"{FLOOR[0]}.{FLOOR[1]}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if found.returncode == 0:
            prefixes = found.stdout.strip().split(":")
            candidates += [str(Path(p) / "bin" / "python") for p in prefixes]
    candidates.append(shutil.which(FLOOR_NAME))
    for exe in filter(None, candidates):
        check = subprocess.run(
            [exe, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if check.returncode == 0 and tuple(map(int, check.stdout.split())) == FLOOR:
            return exe
    return None


@pytest.fixture(scope="session")
def floor_python() -> Path:
    """A virtualenv (cached per Python version) on the floor Python with the agent's declared
    dependencies only; the agent's code is taken from this checkout through PYTHONPATH."""
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"devfleet-agent-{FLOOR_NAME}"
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    deps = hashlib.sha256(" ".join(PROJECT["dependencies"]).encode()).hexdigest()[:16]
    stamp = root / f".installed-{deps}"  # the declared dependencies changed: a fresh venv
    with install_lock(root):
        if not stamp.exists():
            exe = _floor_interpreter()
            if exe is None:
                pytest.fail(f"no Python {FLOOR[0]}.{FLOOR[1]} found: {HOW}", pytrace=False)
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run([exe, "-m", "venv", str(root)], check=True, timeout=300)
            pip = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    *PROJECT["dependencies"],
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            if pip.returncode != 0:
                pytest.fail(
                    f"cannot install the agent's dependencies on {exe} "
                    f"({pip.stderr.strip()[-300:]}): {HOW}",
                    pytrace=False,
                )
            stamp.touch()
    return python


def _run(python: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(AGENT), PYTHONDONTWRITEBYTECODE="1", **kw.pop("env", {}))
    return subprocess.run(
        [str(python), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        **kw,
    )


def test_the_floor_venv_runs_the_declared_python_without_tomllib(floor_python):
    out = _run(
        floor_python,
        "-c",
        "import sys, importlib.util as u; "
        "print(*sys.version_info[:2], u.find_spec('tomllib') is None)",
    )
    assert out.returncode == 0, out.stderr
    major, minor, no_tomllib = out.stdout.split()
    assert (int(major), int(minor)) == FLOOR
    assert no_tomllib == str(FLOOR < (3, 11))


def test_every_agent_module_imports_on_the_floor_python(floor_python):
    code = (
        "import importlib, pkgutil, devfleet_agent as p\n"
        "names = [m.name for m in pkgutil.walk_packages(p.__path__, 'devfleet_agent.')\n"
        "         if not m.name.endswith('__main__')]  # that one runs the CLI\n"
        "for n in names: importlib.import_module(n)\n"
        "print(len(names))"
    )
    out = _run(floor_python, "-c", code)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 20  # the collectors and helpers, not an empty package


def test_once_dry_run_on_the_floor_python_gives_a_valid_report(floor_python, tmp_path, captures):
    g = captures / "goldmark"
    proc = fake_procfs(
        tmp_path / "proc",
        {
            17450: {"comm": "code", "ppid": 1, "argv": ["/usr/share/code/code"]},
            17452: {
                "comm": "gopls",
                "ppid": 17450,
                "argv": ["/home/dev/go/bin/gopls"],
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
    config = tmp_path / "agent.toml"
    config.write_text("# comment\n[agent]\ncollect_interval_s = 30.0\nanonymize = false\n")
    out = _run(
        floor_python,
        "-m",
        "devfleet_agent",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "state"),
        "--proc-root",
        str(proc),
        "--fs-root",
        str(tmp_path / "root"),
        "once",
        "--dry-run",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    validator = jsonschema.Draft202012Validator(
        json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker()
    )
    assert not [e.message for e in validator.iter_errors(report)]
    assert report["agent"]["python"].startswith(f"{FLOOR[0]}.{FLOOR[1]}.")
    assert report["agent"]["config"]["collect_interval_s"] == 30.0  # read from the TOML file
    [gopls] = report["samples"][0]["gopls"]
    assert gopls["rss_bytes"] == 375420 * 1024
    assert gopls["editor"]["kind"] == "vscode"
