"""AgentConfig: TOML file plus DEVFLEET_AGENT_* environment overrides, validated up front."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devfleet_agent import paths, tomlmini

ENV_PREFIX = "DEVFLEET_AGENT_"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class ConfigError(ValueError):
    """A config file or override is invalid; the message says which key and why."""


@dataclass(frozen=True)
class AgentConfig:
    server_url: str = ""
    ca_file: str = ""
    collect_interval_s: float = 15.0
    upload_interval_s: float = 60.0
    upload_jitter: float = 0.1
    follow_server_intervals: bool = True
    drain_interval_s: float = 5.0
    batch_max_samples: int = 240
    spool_max_bytes: int = 64 * 1024 * 1024
    anonymize: bool = False
    allow_profiles: bool = False
    fixes: bool = True
    profile_max_bytes: int = 1024 * 1024
    owner: str = ""
    disabled_collectors: list[str] = field(default_factory=list)
    inventory_interval_s: float = 300.0
    inventory_resend_s: float = 3600.0
    inotify_interval_s: float = 60.0
    cache_walk_interval_s: float = 3600.0
    cache_walk_budget_ms: float = 40.0
    debug_timeout_s: float = 2.0
    debug_heap_max_bytes: int = 16 * 1024 * 1024
    http_timeout_s: float = 20.0
    max_rss_mb: int = 200
    state_dir: str = ""
    proc_root: str = "/proc"
    sys_root: str = "/sys"
    fs_root: str = "/"

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) if self.state_dir else paths.default_state_dir()

    def public_settings(self) -> dict[str, Any]:
        """Non-secret effective settings, sent in the report's agent.config."""
        return {
            "collect_interval_s": self.collect_interval_s,
            "upload_interval_s": self.upload_interval_s,
            "allow_profiles": self.allow_profiles,
            "fixes": self.fixes,
            "anonymized": self.anonymize,
            "spool_max_bytes": self.spool_max_bytes,
            "disabled_collectors": list(self.disabled_collectors),
        }


_FIELDS = {f.name: f for f in dataclasses.fields(AgentConfig)}
_RANGES: dict[str, tuple[float, float]] = {
    "collect_interval_s": (0.05, 3600),
    "upload_interval_s": (0.05, 86400),
    "upload_jitter": (0, 1),
    "drain_interval_s": (0, 3600),
    "batch_max_samples": (1, 1000),
    "spool_max_bytes": (4096, 1 << 40),
    "profile_max_bytes": (1024, 2 * 1024 * 1024),
    "inventory_interval_s": (0.05, 86400),
    "inventory_resend_s": (1, 7 * 86400),
    "inotify_interval_s": (0, 86400),
    "cache_walk_interval_s": (1, 30 * 86400),
    "cache_walk_budget_ms": (1, 10000),
    "debug_timeout_s": (0.05, 60),
    "debug_heap_max_bytes": (4096, 1 << 30),
    "http_timeout_s": (0.5, 600),
    "max_rss_mb": (20, 65536),
}


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Read the TOML file (missing file = defaults), apply env then CLI overrides, validate."""
    env = os.environ if env is None else env
    path = path or paths.default_config_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        try:
            data = tomlmini.loads(text)
        except tomlmini.TOMLError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        values.update(_flatten(data, str(path)))
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and (raw or name != "state_dir"):
            values[name] = _from_env(name, raw, ENV_PREFIX + name.upper())
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return validate(values, source=str(path))


def _flatten(data: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in ("agent", "collectors", "transport"):
            out.update(value)  # sections are only for readability
        else:
            out[key] = value
    return out


def _from_env(name: str, raw: str, var: str) -> Any:
    ftype = _FIELDS[name].type
    try:
        if ftype == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if ftype == "int":
            return int(raw)
        if ftype == "float":
            return float(raw)
        if ftype.startswith("list"):
            return [x.strip() for x in raw.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r}: expected {ftype}") from exc
    return raw


def validate(values: Mapping[str, Any], source: str = "config") -> AgentConfig:
    """Check names, types and ranges; raise ConfigError listing every problem."""
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            hint = difflib.get_close_matches(key, list(_FIELDS), n=1)
            problems.append(f"unknown key {key!r}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        ftype = _FIELDS[key].type
        ok = (
            (ftype == "bool" and isinstance(value, bool))
            or (ftype == "int" and isinstance(value, int) and not isinstance(value, bool))
            or (ftype == "float" and isinstance(value, (int, float))
                and not isinstance(value, bool))
            or (ftype == "str" and isinstance(value, str))
            or (ftype.startswith("list") and isinstance(value, list)
                and all(isinstance(x, str) for x in value))
        )
        if not ok:
            problems.append(f"{key}: expected {ftype}, got {type(value).__name__} {value!r}")
            continue
        if key in _RANGES:
            lo, hi = _RANGES[key]
            if not lo <= value <= hi:
                problems.append(f"{key}: {value} is outside the allowed range {lo}..{hi}")
                continue
        clean[key] = float(value) if ftype == "float" else value
    url = clean.get("server_url", "")
    if url:
        problems.extend(_check_url(url))
        clean["server_url"] = url.rstrip("/")
    ca = clean.get("ca_file", "")
    if ca and not _is_file(ca):
        problems.append(f"ca_file: {ca!r} does not exist")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return AgentConfig(**clean)


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # a NUL in the name, a name too long
        return False


def _check_url(url: str) -> list[str]:
    try:
        parsed = urlparse(url)
        hostname = parsed.hostname
    except ValueError:  # an unbalanced [ in the host
        return [f"server_url: {url!r} is not an http(s) URL"]
    if parsed.scheme not in ("http", "https") or not hostname:
        return [f"server_url: {url!r} is not an http(s) URL"]
    if parsed.scheme == "http" and hostname not in LOOPBACK_HOSTS:
        return [f"server_url: {url!r} must use https (plain http is allowed for localhost only)"]
    if parsed.query or parsed.fragment:
        return [f"server_url: {url!r} must not have a query or fragment"]
    return []
