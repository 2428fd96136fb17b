"""Report v1 assembly, the anonymised mode, and the per-field provenance used by `show`."""

from __future__ import annotations

import hashlib
import json
import platform
import re
from typing import Any

from devfleet_agent import SCHEMA_VERSION, __version__
from devfleet_agent.config import AgentConfig
from devfleet_agent.timefmt import iso


def agent_info(config: AgentConfig) -> dict[str, Any]:
    return {"version": __version__, "python": platform.python_version(),
            "anonymized": config.anonymize, "config": config.public_settings()}


def build_report(samples: list[dict[str, Any]], config: AgentConfig, *,
                 machine: dict[str, Any] | None = None,
                 inventory: dict[str, Any] | None = None,
                 profiles: list[dict[str, Any]] | None = None,
                 fixes: list[dict[str, Any]] | None = None,
                 salt: str = "", sent_at: str | None = None) -> dict[str, Any]:
    """One upload: samples (oldest first) plus optional machine/inventory/profiles/fixes."""
    report: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "sent_at": sent_at or iso(),
                              "agent": agent_info(config)}
    if machine:
        report["machine"] = machine
    report["samples"] = samples
    if inventory:
        report["inventory"] = inventory
    if profiles:
        report["profiles"] = profiles[:8]
    if fixes:
        report["fixes"] = fixes[:64]
    if config.anonymize:
        report = anonymize(report, salt, (machine or {}).get("hostname"))
    return report


# ---- anonymised mode -------------------------------------------------------------------------

_PATH = re.compile(r"(?<![\w.*])(?:[A-Za-z]:[\\/]|/)[^\s\"',;=()\[\]]*")
_KEEP_KEYS = {"id", "sent_at", "collected_at", "start_time", "measured_at", "boot_time",
              "schema_version", "rule_id", "request_id", "captured_at"}


def hash_token(token: str, salt: str) -> str:
    return "anon:" + hashlib.sha256(f"{salt}|{token}".encode()).hexdigest()[:12]


def anonymize(obj: Any, salt: str, hostname: str | None = None, key: str = "") -> Any:
    """Hash filesystem paths and the hostname everywhere (stable per machine via the salt)."""
    if isinstance(obj, dict):
        return {k: (v if k in _KEEP_KEYS else anonymize(v, salt, hostname, k))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [anonymize(v, salt, hostname, key) for v in obj]
    if isinstance(obj, str):
        if key == "hostname" or (hostname and obj == hostname):
            return hash_token(obj, salt)
        text = obj
        if hostname and hostname in text:
            text = text.replace(hostname, hash_token(hostname, salt))
        return _PATH.sub(lambda m: m.group(0) if m.group(0) == "/" else
                         hash_token(m.group(0), salt), text)
    return obj


# ---- provenance for `devfleet-agent show` ---------------------------------------------------

SOURCES: list[tuple[str, str]] = [
    ("sent_at", "agent clock at upload time"),
    ("agent.", "agent version, Python version, non-secret config"),
    ("machine.hostname", "socket.gethostname()"),
    ("machine.wsl", "/proc/version, WSL_DISTRO_NAME, WSL_INTEROP, binfmt_misc/WSLInterop"),
    ("machine.", "platform module, /etc/os-release, psutil (cpu count, memory, boot time)"),
    ("samples[].id", "random uuid4 given to the sample when it was spooled"),
    ("samples[].system.disks", "os.stat/statvfs of GOCACHE, GOMODCACHE, gopls cache, "
     "workspaces, home; /proc/self/mounts for the fstype"),
    ("samples[].system.oom_kill_count", "/proc/vmstat oom_kill"),
    ("samples[].system.oom_victims", "/dev/kmsg `Killed process` lines (when readable)"),
    ("samples[].system.load", "/proc/loadavg (psutil.getloadavg elsewhere)"),
    ("samples[].system.uptime_s", "/proc/uptime (psutil.boot_time elsewhere)"),
    ("samples[].system.cpu_percent", "/proc/stat deltas between cycles"),
    ("samples[].system.", "/proc/meminfo (psutil.virtual_memory/swap_memory elsewhere)"),
    ("samples[].inotify.top", "/proc/PID/fd links to anon_inode:inotify, `inotify wd:` lines "
     "in /proc/PID/fdinfo/FD, for this user's processes"),
    ("samples[].inotify.", "/proc/sys/fs/inotify/* and the per-process counts above"),
    ("samples[].wsl.", "/proc/meminfo MemTotal/Cached inside the WSL VM; gopls roots on /mnt/X"),
    ("samples[].gopls[].debug.rpc", "gopls debug server /metrics/ (or /rpc/), localhost only"),
    ("samples[].gopls[].debug.goroutines", "first line of /debug/pprof/goroutine?debug=1"),
    ("samples[].gopls[].debug.", "`# runtime.MemStats` trailer of /debug/pprof/heap?debug=1"),
    ("samples[].gopls[].editor", "parent process chain (psutil parents: name, exe, cmdline)"),
    ("samples[].gopls[].version", "`go version -m <exe>` (cached per path+mtime)"),
    ("samples[].gopls[].go_version", "`go version -m <exe>` first line"),
    ("samples[].gopls[].env", "/proc/PID/environ (psutil.environ), whitelist GOMEMLIMIT, GOGC, "
     "GOFLAGS, GOPLSCACHE, GOTOOLCHAIN, GOWORK"),
    ("samples[].gopls[].children", "child processes (/proc/PID/task/*/children) and their CPU"),
    ("samples[].gopls[].projects", "module line of the nearest go.mod above each root"),
    ("samples[].gopls[].workspace_roots", "gopls debug server / page views, else the cwd"),
    ("samples[].gopls[].cgroup", "/proc/PID/cgroup and /sys/fs/cgroup/<path>/memory.*"),
    ("samples[].gopls[].fd_limit", "RLIMIT_NOFILE of the process (/proc/PID/limits)"),
    ("samples[].gopls[].cpu_percent", "psutil cpu_times delta over the collection interval"),
    ("samples[].gopls[]", "psutil Process: cmdline, exe, create_time, memory_info, threads, fds"),
    ("samples[].gopls_excluded", "gopls processes that are telemetry sidecars or -remote "
     "forwarders"),
    ("samples[].go.caches", "incremental du of the cache directories (at most hourly)"),
    ("samples[].agent", "the agent's own CPU time, RSS, spool and collector timings"),
    ("samples[].errors", "collector errors, timeouts and back-offs in this cycle"),
    ("inventory.go_env", "`go env -json` (cached; rerun when go or GOENV change, or hourly)"),
    ("inventory.goroot_check", "go on PATH vs GOROOT/VERSION vs gopls's build Go"),
    ("inventory.gopls_binaries", "`go version -m` of running and installed gopls binaries"),
    ("inventory.editor_settings", "settings.json files (JSONC), whitelisted keys only"),
    ("inventory.wsl", "%UserProfile%\\.wslconfig via /mnt/c, /etc/wsl.conf"),
    ("inventory.limits", "/proc/sys/fs/inotify/*, /proc/sys/fs/file-max, RLIMIT_NOFILE"),
    ("inventory.vendor", "go.mod vs vendor/modules.txt of gopls module roots (files only)"),
    ("inventory.tools", "go env GOVERSION, gopls binary version"),
    ("profiles", "heap/goroutine profiles fetched on a server request (allow_profiles)"),
]


def source_of(path: str) -> str:
    norm = re.sub(r"\[\d+\]", "[]", path)
    for prefix, text in SOURCES:
        if norm == prefix or norm.startswith(prefix if prefix.endswith(("[]", ".")) else
                                             prefix + ".") or norm.startswith(prefix + "["):
            return text
        if prefix.endswith("[]") and norm.startswith(prefix):
            return text
    return "computed by the agent"


def explain(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(json path, value, source) for every leaf value of the report."""
    rows: list[tuple[str, str, str]] = []

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, dict) and obj and not path.endswith(("settings", "go_env", "env")):
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(obj, list) and obj and any(isinstance(x, dict) for x in obj):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")
        else:
            rows.append((path, json.dumps(obj, ensure_ascii=False), source_of(path)))

    walk(report, "")
    return rows
