"""Static facts the fleet is drawn from: versions, editors, platforms, projects, people."""

from __future__ import annotations

GiB = 1024**3
MiB = 1024**2

# gopls release → Go it was built with (the newest Go of its time) and the toolchain a developer
# of that era has installed. Dates from the tags (docs/facts.md §0, release landscape).
GOPLS_RELEASES: list[tuple[str, str, str]] = [
    ("v0.11.0", "go1.19.4", "go1.19.4"),
    ("v0.12.4", "go1.20.5", "go1.20.6"),
    ("v0.13.2", "go1.21.0", "go1.21.1"),
    ("v0.14.2", "go1.21.4", "go1.21.5"),
    ("v0.15.0", "go1.22.0", "go1.22.0"),
    ("v0.15.2", "go1.22.1", "go1.22.2"),
    ("v0.15.3", "go1.22.2", "go1.22.3"),
    ("v0.16.1", "go1.22.5", "go1.22.5"),
    ("v0.16.2", "go1.23.1", "go1.23.2"),
    ("v0.17.1", "go1.23.4", "go1.23.4"),
    ("v0.18.1", "go1.24.1", "go1.24.1"),
    ("v0.19.1", "go1.24.4", "go1.24.4"),
    ("v0.20.0", "go1.24.5", "go1.24.6"),
    ("v0.21.0", "go1.25.5", "go1.25.5"),
    ("v0.21.1", "go1.25.6", "go1.25.6"),
]
# Versions a healthy machine runs (>= v0.16, weighted towards recent ones).
HEALTHY_GOPLS = ["v0.16.2", "v0.17.1", "v0.18.1", "v0.19.1", "v0.20.0", "v0.21.0", "v0.21.1"]
HEALTHY_WEIGHTS = [0.06, 0.08, 0.12, 0.16, 0.18, 0.22, 0.18]
# Known-bad versions: < v0.12 (memory), v0.12.x (idle CPU), v0.15.0-v0.15.2 (#66647).
OLD_GOPLS = ["v0.11.0", "v0.12.4", "v0.15.0", "v0.15.2"]


def release(version: str) -> tuple[str, str, str]:
    return next(r for r in GOPLS_RELEASES if r[0] == version)


# platform → (weight, os field, os_version choices, kernel choices)
PLATFORMS: dict[str, tuple[float, str, list[str], list[str]]] = {
    "linux": (
        0.55,
        "linux",
        [
            "Ubuntu 24.04.1 LTS",
            "Ubuntu 22.04.5 LTS",
            "Fedora Linux 41",
            "Debian GNU/Linux 12",
            "Arch Linux",
            "Pop!_OS 22.04 LTS",
        ],
        [
            "6.8.0-49-generic",
            "6.5.0-41-generic",
            "6.11.8-300.fc41.x86_64",
            "6.1.0-27-amd64",
            "6.12.1-arch1-1",
        ],
    ),
    "darwin": (
        0.20,
        "darwin",
        ["macOS 15.1", "macOS 14.7.1", "macOS 15.0.1"],
        ["Darwin 24.1.0", "Darwin 23.6.0", "Darwin 24.0.0"],
    ),
    "windows": (
        0.10,
        "windows",
        ["Windows 11 Pro 23H2", "Windows 11 Enterprise 24H2", "Windows 10 Pro 22H2"],
        ["10.0.22631", "10.0.26100", "10.0.19045"],
    ),
    "wsl2": (
        0.13,
        "linux",
        ["Ubuntu 24.04.1 LTS", "Ubuntu 22.04.5 LTS", "Debian GNU/Linux 12"],
        ["5.15.167.4-microsoft-standard-WSL2", "5.15.153.1-microsoft-standard-WSL2"],
    ),
    "wsl1": (0.02, "linux", ["Ubuntu 20.04.6 LTS"], ["4.4.0-22621-Microsoft"]),
}
OLD_KERNELS = ["5.4.0-200-generic", "5.10.0-33-amd64"]  # pre-5.11: max_user_watches 8192

# editor kind → (platforms it runs on, process, parent chain, weight)
EDITORS: dict[str, tuple[tuple[str, ...], str, list[str], float]] = {
    "vscode": (
        ("linux", "darwin", "windows"),
        "code",
        ["code (extensionHost)", "code", "systemd"],
        0.40,
    ),
    "vscode-server": (
        ("wsl2", "wsl1", "linux"),
        "node",
        ["node (/home/{user}/.vscode-server/bin/{commit}/node)", "sh", "init"],
        0.0,
    ),
    "cursor": (
        ("linux", "darwin", "windows"),
        "cursor",
        ["cursor (extensionHost)", "cursor", "systemd"],
        0.12,
    ),
    "neovim": (("linux", "darwin", "wsl2", "wsl1"), "nvim", ["nvim", "zsh", "tmux: server"], 0.16),
    "vim": (("linux", "darwin", "wsl2"), "vim", ["vim", "bash", "sshd"], 0.05),
    "emacs": (("linux", "darwin"), "emacs", ["emacs", "systemd"], 0.07),
    "helix": (("linux", "darwin", "wsl2"), "hx", ["hx", "fish", "alacritty"], 0.06),
    "zed": (("linux", "darwin"), "zed", ["zed", "launchd"], 0.07),
    "sublime": (
        ("linux", "darwin", "windows"),
        "plugin_host-3.8",
        ["plugin_host-3.8", "sublime_text"],
        0.07,
    ),
}
VSCODE_FAMILY = {"vscode", "vscode-server", "cursor"}
EDITOR_TOOLS = {
    "vscode": ("code", "1.95.3"),
    "vscode-server": ("code-server", "1.95.3"),
    "cursor": ("cursor", "0.43.6"),
    "neovim": ("nvim", "v0.10.2"),
    "vim": ("vim", "9.1"),
    "emacs": ("emacs", "29.4"),
    "helix": ("hx", "24.07"),
    "zed": ("zed", "0.163.2"),
    "sublime": ("subl", "4180"),
}

# Projects: (module path, size class); size sets the plateau of the initial workspace load.
PROJECTS: list[tuple[str, str]] = [
    ("github.com/acme/payments", "large"),
    ("github.com/acme/platform", "huge"),
    ("github.com/acme/checkout-api", "medium"),
    ("github.com/acme/ledger", "medium"),
    ("github.com/acme/notifications", "small"),
    ("github.com/acme/auth-service", "small"),
    ("github.com/acme/search-indexer", "medium"),
    ("github.com/acme/infra-tools", "small"),
    ("github.com/acme/data-pipeline", "large"),
    ("github.com/acme/mobile-bff", "small"),
    ("github.com/acme/k8s-operator", "large"),
    ("github.com/acme/billing", "medium"),
    ("gitlab.acme.dev/core/monorepo", "huge"),
    ("github.com/acme/feature-flags", "small"),
]
# size → (heap plateau range in bytes, initial workspace load duration range in seconds)
# RSS settles at ~1.8x the live heap (GC cycle headroom + runtime): small 150-450 MB,
# medium 0.6-1.5 GB, large 1.8-3 GB, huge 3-3.9 GB (healthy RSS stays under 4 GiB).
SIZE_CLASSES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "small": ((75 * MiB, 230 * MiB), (6, 20)),
    "medium": ((330 * MiB, 820 * MiB), (20, 60)),
    "large": ((1000 * MiB, 1600 * MiB), (50, 120)),
    "huge": ((1650 * MiB, 1950 * MiB), (90, 180)),
}
# Smallest memory (as the OS sees it) a healthy machine needs to keep RSS under 25 % of it.
SIZE_MIN_MEM = {"small": 0, "medium": 7 * GiB, "large": 14 * GiB, "huge": 30 * GiB}
RSS_PER_LIVE = 1.78

TEAMS = ["Payments", "Platform", "Checkout", "Data", "Mobile Backend"]
FIRST_NAMES = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yuki",
    "zara",
    "amir",
    "bea",
    "chen",
    "dmitri",
    "esra",
    "farah",
    "goran",
    "hana",
    "ines",
    "jonas",
    "kofi",
    "lena",
    "marco",
    "noor",
    "oskar",
    "priya",
    "quinn",
    "rosa",
    "sanjay",
    "tomas",
    "uma",
]
HOST_WORDS = {
    "linux": ["thinkpad", "xps", "ws", "desk", "framework"],
    "darwin": ["mbp", "mba", "macstudio"],
    "windows": ["surface", "laptop", "desk"],
    "wsl2": ["surface", "laptop", "desk", "zbook"],
    "wsl1": ["laptop", "desk"],
}
RAM_CHOICES = [8 * GiB, 16 * GiB, 16 * GiB, 32 * GiB, 32 * GiB, 32 * GiB, 64 * GiB, 64 * GiB]
CPU_CHOICES = [4, 8, 8, 10, 12, 16, 16, 20]
AGENT_VERSION = "0.1.0"
