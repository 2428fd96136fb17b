"""Collector registry: importing this package registers every collector, in run order."""

from __future__ import annotations

from devfleet_agent.collectors import (  # noqa: F401  (imported for registration)
    caches,
    editor_settings,
    gopls,
    inotify,
    system,
    toolchain,
    vendor,
    wsl,
)
from devfleet_agent.collectors.base import REGISTRY, Collector, CollectorContext

# gopls first (others read its process cache), toolchain before system (cache dirs for disks).
ORDER = ["gopls", "go_toolchain", "system", "inotify", "wsl", "go_caches", "editor_settings",
         "wsl_config", "vendor", "limits"]


def ordered() -> list[Collector]:
    names = ORDER + [n for n in REGISTRY if n not in ORDER]
    return [REGISTRY[n] for n in names if n in REGISTRY]


__all__ = ["ORDER", "REGISTRY", "Collector", "CollectorContext", "ordered"]
