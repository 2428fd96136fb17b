"""Platform locations of the agent's config file and state directory (all overridable)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "devfleet-agent"


def default_config_dir() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP


def default_state_dir() -> Path:
    override = os.environ.get("DEVFLEET_AGENT_STATE_DIR")
    if override:
        return Path(override)
    if sys.platform in ("darwin", "win32"):
        return default_config_dir()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP


def default_config_file() -> Path:
    override = os.environ.get("DEVFLEET_AGENT_CONFIG")
    if override:
        return Path(override)
    return default_config_dir() / "agent.toml"
