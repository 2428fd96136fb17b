"""WSL interop: the Windows host's RAM and the WSL package version, bounded, cached, optional.

The Windows programs are stand-in executables on PATH (this is Linux); the agent runs them
through its real subprocess runner, with its real timeout.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from devfleet_agent import identity
from devfleet_agent.collectors import wsl

from .conftest import SCHEMA, fake_procfs


def _program(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _wsl_ctx(tmp_path, make_ctx, *, interop=True, powershell=None, wsl_exe=None):
    files = {"version": "Linux version 5.15.167.4-microsoft-standard-WSL2 (x)\n"}
    if interop:
        files["sys/fs/binfmt_misc/WSLInterop"] = "enabled\n"
    proc = fake_procfs(tmp_path / "proc", {}, files=files)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    if powershell is not None:
        _program(bin_dir, "powershell.exe", f"echo ps >> {calls}\n{powershell}")
    if wsl_exe is not None:
        _program(bin_dir, "wsl.exe", f"echo wsl >> {calls}\n{wsl_exe}")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "WSL_DISTRO_NAME": "Ubuntu"}
    root = tmp_path / "root"
    root.mkdir()
    return make_ctx(proc, environ=env, fs_root=root), calls


# What `wsl.exe --version` prints: UTF-16LE unless WSL_UTF8=1 (the agent sets it, older
# builds ignore it).
WSL_VERSION_OUT = (
    "WSL version: 2.3.26.0\r\nKernel version: 5.15.167.4-1\r\nWSLg version: 1.0.65\r\n"
)
UTF16_PRINTF = (
    "printf '" + "".join(f"\\{b:03o}" for b in WSL_VERSION_OUT.encode("utf-16-le")) + "'\n"
)


def test_host_ram_and_wsl_version_come_from_interop_and_land_in_machine_facts(tmp_path, make_ctx):
    ctx, _ = _wsl_ctx(
        tmp_path, make_ctx, powershell="printf '34190458880\\r\\n'\n", wsl_exe=UTF16_PRINTF
    )
    facts = identity.machine_facts(ctx)
    assert facts["wsl"]["host_mem_total_bytes"] == 34190458880
    assert facts["wsl"]["wsl_version"] == "2.3.26.0"
    assert facts["wsl"]["version"] == 2


def test_the_answers_are_cached_so_interop_runs_once_per_period(tmp_path, make_ctx):
    ctx, calls = _wsl_ctx(
        tmp_path,
        make_ctx,
        powershell="echo 17179869184\n",
        wsl_exe="echo 'WSL-Version: 2.4.11.0'\n",
    )
    first = wsl.host_facts(ctx)
    second = wsl.host_facts(ctx)
    assert first == second == {"host_mem_total_bytes": 17179869184, "wsl_version": "2.4.11.0"}
    assert calls.read_text().split() == ["ps", "wsl"]


def test_a_hung_powershell_is_cut_off_and_the_field_left_out(tmp_path, make_ctx, monkeypatch):
    monkeypatch.setattr(wsl, "INTEROP_TIMEOUT_S", 0.5)
    ctx, _ = _wsl_ctx(
        tmp_path, make_ctx, powershell="sleep 30\n", wsl_exe="echo 'WSL version: 2.3.26.0'\n"
    )
    assert wsl.host_facts(ctx) == {"wsl_version": "2.3.26.0"}


def test_without_interop_nothing_is_run_and_nothing_reported(tmp_path, make_ctx):
    ctx, calls = _wsl_ctx(
        tmp_path, make_ctx, interop=False, powershell="echo 1\n", wsl_exe="echo 1\n"
    )
    assert wsl.host_facts(ctx) == {}
    assert not calls.exists()
    assert "host_mem_total_bytes" not in identity.machine_facts(ctx)["wsl"]


def test_odd_answers_are_not_reported(tmp_path, make_ctx):
    ctx, _ = _wsl_ctx(
        tmp_path,
        make_ctx,
        powershell="echo '16 GB; rm -rf /'\n",
        wsl_exe="echo 'Invalid command line option: --version'; exit 1\n",
    )
    assert wsl.host_facts(ctx) == {}


def test_missing_windows_programs_are_not_an_error(tmp_path, make_ctx):
    ctx, _ = _wsl_ctx(tmp_path, make_ctx)
    assert wsl.host_facts(ctx) == {}


def test_parsers():
    assert wsl.parse_host_mem("68719476736\r\n") == 68719476736
    assert wsl.parse_host_mem("") is None
    assert wsl.parse_host_mem("-1") is None
    assert wsl.parse_wsl_version("Version de WSL : 2.1.5.0\nVersion du noyau : 5.15") == "2.1.5.0"
    assert wsl.parse_wsl_version("Kernel version: 5.15.1\n") is None
    # Only the digits leave the machine, whatever surrounds them.
    assert wsl.parse_wsl_version("WSL version: 2.3.26.0;curl x|sh") == "2.3.26.0"


def test_the_schema_documents_both_fields():
    schema = json.loads(Path(SCHEMA).read_text())
    props = schema["$defs"]["wsl_identity"]["properties"]
    assert {"host_mem_total_bytes", "wsl_version"} <= set(props)
