"""WSL collectors: WSL1/2 detection, VM memory cap, .wslconfig and /etc/wsl.conf, 9P workspaces."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devfleet_agent.collectors.base import (
    INVENTORY,
    CollectorContext,
    CollectorUnsupported,
    collector,
)

# Windows programs reached through WSL interop: bounded, and asked at most every 6 hours
# (the host's RAM and the WSL package version change rarely; powershell.exe takes seconds).
INTEROP_TIMEOUT_S = 10.0
INTEROP_TTL_S = 6 * 3600.0
HOST_MEM_QUERY = "(Get-CimInstance Win32_ComputerSystem).TotalPhysicalMemory"
WINDOWS_FALLBACKS = {
    "powershell.exe": "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe",
    "wsl.exe": "/mnt/c/Windows/System32/wsl.exe",
}
_WSL_VERSION = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,5}(?:\.\d{1,5})?)(?![\d.])")

WSL_CONF_SECTIONS = {"boot", "automount", "network", "interop", "user", "gpu", "time"}
VM_SECTIONS = {"wsl2", "experimental"}
_DRVFS = re.compile(r"^/mnt/[a-zA-Z](/|$)")


def detect_wsl(kernel_release: str, environ: dict[str, str], interop_present: bool) -> dict | None:
    """WSL identity from the kernel string, WSL_* env and binfmt_misc; None outside WSL."""
    low = kernel_release.lower()
    if "microsoft" not in low and "wsl" not in low and not environ.get("WSL_DISTRO_NAME"):
        return None
    version = None
    if "microsoft-standard" in low or "wsl2" in low:
        version = 2
    elif re.search(r"-microsoft\b", kernel_release, re.I) and "standard" not in low:
        version = 1
    elif environ.get("WSL_INTEROP"):
        version = 2
    m = re.search(r"Linux version (\S+)", kernel_release)
    return {"version": version, "distro": environ.get("WSL_DISTRO_NAME"),
            "kernel": (m.group(1) if m else kernel_release.strip())[:512],
            "interop": interop_present or bool(environ.get("WSL_INTEROP"))}


def decode_config(data: bytes) -> tuple[str, str]:
    """Bytes of an INI-ish file → (text, encoding); UTF-16 with or without BOM is common."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16-le" if data[:2] == b"\xff\xfe" else "utf-16-be"
    if len(data) >= 4 and data[1:2] == b"\0" and data[3:4] == b"\0":
        return data.decode("utf-16-le"), "utf-16-le (no BOM)"
    if b"\0" in data:
        raise ValueError("binary content (NUL bytes), not a text config file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 or UTF-16 text: {exc}") from exc


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """WSL-style INI: [section] / key = value, `#` and `;` comments; keys before a header → ``."""
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.match(r"^\[([^\]]+)\]", line)
        if m:
            current = m.group(1).strip()
            sections.setdefault(current, {})
            continue
        key, sep, value = line.partition("=")
        if sep:
            value = re.split(r"\s[#;]", value, maxsplit=1)[0].strip().strip('"')
            sections.setdefault(current, {})[key.strip()[:256]] = value[:1024]
    return {k: dict(list(v.items())[:64]) for k, v in list(sections.items())[:16]}


def misplaced_wsl_conf_keys(sections: dict[str, dict[str, str]]) -> list[str]:
    """Keys in /etc/wsl.conf that do nothing there (VM settings belong in .wslconfig)."""
    out = []
    for section, keys in sections.items():
        if section.lower() not in WSL_CONF_SECTIONS:
            out.extend(f"{section}.{k}" if section else k for k in keys)
    return out[:64]


def _identity(ctx: CollectorContext) -> dict | None:
    st = ctx.cache("wsl")
    if "identity" not in st:
        try:
            version = ctx.read_text(ctx.proc_root / "version", 4096)
        except OSError:
            version = ""
        binfmt = ctx.proc_root / "sys" / "fs" / "binfmt_misc"
        interop = any((binfmt / n).exists() for n in ("WSLInterop", "WSLInterop-late"))
        st["identity"] = detect_wsl(version, ctx.environ, interop)
    return st["identity"]


def parse_host_mem(stdout: str) -> int | None:
    """powershell's TotalPhysicalMemory → bytes (a single integer line), else None."""
    text = stdout.replace("\x00", "").strip()
    if not re.fullmatch(r"\d{9,16}", text):
        return None
    return int(text)


def parse_wsl_version(stdout: str) -> str | None:
    """`wsl.exe --version` → '2.3.26.0': the version on its first line, whatever the language
    ('WSL version: …', 'WSL-Version: …'). Output may be UTF-16 read as UTF-8: NULs dropped."""
    lines = [ln.strip() for ln in stdout.replace("\x00", "").splitlines() if ln.strip()]
    if not lines or "wsl" not in lines[0].lower():
        return None
    m = _WSL_VERSION.search(lines[0])
    return m.group(1) if m else None


def _windows_program(ctx: CollectorContext, name: str) -> str | None:
    found = shutil.which(name, path=ctx.environ.get("PATH", ""))
    if found:
        return found
    fallback = WINDOWS_FALLBACKS[name]
    return fallback if ctx.host_path(fallback).exists() else None


def _interop(ctx: CollectorContext, argv: list[str]) -> str | None:
    """stdout of a Windows program, or None when it is missing, fails or times out."""
    exe = _windows_program(ctx, argv[0])
    if exe is None:
        return None
    try:
        res = ctx.run([exe, *argv[1:]], timeout=INTEROP_TIMEOUT_S,
                      env={**ctx.environ, "WSL_UTF8": "1"})
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return res.stdout if res.returncode == 0 else None


def host_facts(ctx: CollectorContext) -> dict[str, Any]:
    """{host_mem_total_bytes, wsl_version} of the Windows host, through interop; {} when
    interop is off. Cached INTEROP_TTL_S, failures too, so a hung powershell costs at most
    INTEROP_TIMEOUT_S per program every few hours."""
    ident = _identity(ctx)
    if not ident or not ident.get("interop"):
        return {}
    st = ctx.cache("wsl")
    cached = st.get("host")
    if cached is not None and ctx.monotonic() - cached[0] < INTEROP_TTL_S:
        return cached[1]
    out: dict[str, Any] = {}
    mem = _interop(ctx, ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command",
                         HOST_MEM_QUERY])
    if mem is not None and parse_host_mem(mem) is not None:
        out["host_mem_total_bytes"] = parse_host_mem(mem)
    version = _interop(ctx, ["wsl.exe", "--version"])
    if version is not None and parse_wsl_version(version):
        out["wsl_version"] = parse_wsl_version(version)
    st["host"] = (ctx.monotonic(), out)
    return out


@collector("wsl", budget_ms=10.0, platforms={"linux"})
def collect_wsl(ctx: CollectorContext) -> dict[str, Any]:
    """WSL version, the VM's MemTotal (its effective cap), page cache, workspaces on /mnt/<x>."""
    ident = _identity(ctx)
    if not ident:
        raise CollectorUnsupported("not running under WSL")
    mem = ctx.facts.meminfo
    roots: list[str] = []
    for proc in ctx.facts.gopls.values():
        for root in proc.workspace_roots:
            if _DRVFS.match(root) and root not in roots:
                roots.append(root)
    return {"wsl": {"version": ident["version"], "mem_total_bytes": mem.get("mem_total_bytes"),
                    "mem_cached_bytes": mem.get("mem_cached_bytes"),
                    "workspaces_on_drvfs": roots[:32]}}


@collector("wsl_config", section=INVENTORY, interval_key="inventory_interval_s",
           budget_ms=50.0, platforms={"linux"})
def collect_wsl_config(ctx: CollectorContext) -> dict[str, Any]:
    """.wslconfig (Windows profile, any encoding) and /etc/wsl.conf with misplaced keys."""
    if not _identity(ctx):
        raise CollectorUnsupported("not running under WSL")
    return {"wsl": {"wslconfig": read_wslconfig(ctx), "wsl_conf": read_wsl_conf(ctx)}}


def read_wsl_conf(ctx: CollectorContext) -> dict[str, Any]:
    path = ctx.host_path("/etc/wsl.conf")
    out: dict[str, Any] = {"found": path.exists(), "sections": {}, "misplaced_keys": [],
                           "error": None}
    if not out["found"]:
        return out
    try:
        text, _ = decode_config(ctx.read_bytes(path, 1 << 20))
        out["sections"] = parse_ini(text)
        out["misplaced_keys"] = misplaced_wsl_conf_keys(out["sections"])
    except (OSError, ValueError) as exc:
        out["error"] = str(exc)[:2000]
    return out


def find_wslconfig(ctx: CollectorContext) -> Path | None:
    profile = ctx.environ.get("USERPROFILE")
    if profile and re.match(r"^[A-Za-z]:\\", profile):
        return Path(f"/mnt/{profile[0].lower()}/" + profile[3:].replace("\\", "/")) / ".wslconfig"
    users = ctx.host_path("/mnt/c/Users")
    try:
        names = sorted(os.listdir(users))
    except OSError:
        return None
    skip = {"public", "default", "default user", "all users", "desktop.ini"}
    candidates = [n for n in names if n.lower() not in skip]
    me = ctx.environ.get("USER", "")
    candidates.sort(key=lambda n: (n.lower() != me.lower(), n))
    for name in candidates:
        if (users / name / ".wslconfig").exists():
            return Path("/mnt/c/Users") / name / ".wslconfig"
    return Path("/mnt/c/Users") / candidates[0] / ".wslconfig" if candidates else None


def read_wslconfig(ctx: CollectorContext) -> dict[str, Any]:
    path = find_wslconfig(ctx)
    out: dict[str, Any] = {"path": str(path) if path else None, "found": False,
                           "encoding": None, "sections": {}, "error": None}
    if path is None:
        out["error"] = "Windows user profile not reachable under /mnt/c"
        return out
    host = ctx.host_path(path)
    if not host.exists():
        return out
    out["found"] = True
    try:
        text, out["encoding"] = decode_config(ctx.read_bytes(host, 1 << 20))
        sections = parse_ini(text)
        out["sections"] = {k: v for k, v in sections.items()}
        stray = [k for k in sections if k.lower() not in VM_SECTIONS]
        if stray:
            out["error"] = "keys outside [wsl2]/[experimental]: " + ", ".join(
                f"[{k}]" if k else "(no section header)" for k in stray)
    except (OSError, ValueError) as exc:
        out["error"] = str(exc)[:2000]
    return out
