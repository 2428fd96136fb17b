"""Machine identity: a stable salted machine id, and hostname/OS/kernel/WSL facts."""

from __future__ import annotations

import hashlib
import platform
import re
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.collectors.wsl import _identity as wsl_identity
from devfleet_agent.collectors.wsl import host_facts as wsl_host_facts
from devfleet_agent.timefmt import iso

SALT = b"devfleet-agent/machine-id/v1:"
_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _os_machine_guid(fs_root: Path) -> str | None:
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        try:
            value = (fs_root / rel).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if value:
            return value
    if sys.platform == "win32":  # pragma: no cover
        try:
            import winreg

            key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography",
                                 0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY)
            return str(winreg.QueryValueEx(key, "MachineGuid")[0])
        except OSError:
            return None
    if sys.platform == "darwin":  # pragma: no cover
        import subprocess

        try:
            out = subprocess.run(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                                 capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        m = re.search(r'"IOPlatformUUID" = "([^"]+)"', out)
        return m.group(1) if m else None
    return None


def machine_id(state_dir: Path, fs_root: Path = Path("/")) -> str:
    """Stable across reboots/reinstalls: hash(salt + OS machine GUID); else a persisted uuid."""
    stored = state_dir / "machine_id"
    try:
        value = stored.read_text(encoding="utf-8", errors="replace").strip()
        if _ID_OK.match(value):  # else corrupt: derive it again
            return value
    except OSError:
        pass
    guid = _os_machine_guid(fs_root)
    if guid:
        value = "m-" + hashlib.sha256(SALT + guid.encode()).hexdigest()[:40]
    else:
        value = "r-" + uuid.uuid4().hex
    state_dir.mkdir(parents=True, exist_ok=True)
    stored.write_text(value + "\n")
    return value


def os_name(platform_name: str = sys.platform) -> str:
    if platform_name.startswith("linux"):
        return "linux"
    if platform_name == "darwin":
        return "darwin"
    if platform_name == "win32":
        return "windows"
    return "other"


def os_version(fs_root: Path = Path("/")) -> str | None:
    if sys.platform.startswith("linux"):
        try:
            text = (fs_root / "etc" / "os-release").read_text(encoding="utf-8", errors="replace")
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
            if m:
                return m.group(1)[:512]
        except OSError:
            pass
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}"
    if sys.platform == "win32":
        return f"Windows {platform.version()}"
    return platform.platform()[:512]


def machine_facts(ctx: CollectorContext) -> dict[str, Any]:
    """The report's `machine` object (identity; sent on first upload and on change)."""
    try:
        boot = iso(psutil.boot_time())
    except (OSError, RuntimeError):
        boot = None
    try:
        mem_total = psutil.virtual_memory().total
    except (OSError, RuntimeError):
        mem_total = None
    return {
        "hostname": socket.gethostname()[:255],
        "os": os_name(ctx.platform),
        "os_version": os_version(ctx.fs_root),
        "arch": platform.machine() or None,
        "kernel": platform.release()[:512] or None,
        "cpu_count": psutil.cpu_count(),
        "mem_total_bytes": mem_total,
        "boot_time": boot,
        "wsl": _wsl(ctx) if ctx.platform.startswith("linux") else None,
    }


def _wsl(ctx: CollectorContext) -> dict[str, Any] | None:
    """WSL identity plus what interop tells of the Windows host (RAM, WSL package version)."""
    ident = wsl_identity(ctx)
    return {**ident, **wsl_host_facts(ctx)} if ident else None
