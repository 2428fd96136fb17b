"""Strict parsing of agent-sent versions, and the shapes every value in advice must have.

Nothing an agent sends reaches a command or a setting snippet as it was sent: versions are
parsed strictly (anything else is unknown and never compared or substituted), and every value
filled into advice is checked here against the shape its placeholder declares. Typed fix
actions (issue #16) take their values through the same `validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# vMAJOR.MINOR.PATCH with an optional pre-release (pseudo-versions included: its identifiers
# may hold hyphens). No build metadata, no spaces, at most 64 characters.
_SEMVER_RE = re.compile(
    r"^v(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})"
    r"(?:-([0-9A-Za-z-]{1,40}(?:\.[0-9A-Za-z-]{1,40}){0,5}))?$"
)
DEVEL = "(devel)"
# go1.N, go1.N.P, go1.NrcK / go1.NbetaK: what `go version` and GOVERSION print for releases.
_GO_RE = re.compile(r"^go1\.(0|[1-9]\d{0,2})(?:\.(0|[1-9]\d{0,2}))?(?:(?:rc|beta)[1-9]\d?)?$")
# `wsl.exe --version` prints the Store package version with four parts, e.g. 2.3.26.0.
_WSL_RE = re.compile(
    r"^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,4})(?:\.(0|[1-9]\d{0,4}))?$"
)
# `go version -m` of a (devel) gopls names the x/tools module version it was built from.
_XTOOLS_RE = re.compile(r"^(?:golang\.org/x/tools\s)?(v\S{1,60})$")


def parse_version(text) -> tuple[int, int, int] | None:
    """'v0.16.2' or 'v0.16.2-pre.1' → (0, 16, 2); anything else (no v, extra text) → None."""
    m = _SEMVER_RE.match(text) if isinstance(text, str) else None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def version_label(text) -> str:
    """The version as it may be shown or substituted: the strict form, '(devel)', or ''."""
    if isinstance(text, str) and (text == DEVEL or _SEMVER_RE.match(text)):
        return text
    return ""


def version_key(text: str) -> tuple:
    """Sort key of a strict version: a pre-release sorts before its release."""
    m = _SEMVER_RE.match(text)
    if not m:
        raise ValueError("not a strict version")
    pre = m.group(4)
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre is None, pre or ""


def xtools_version(text) -> tuple[int, int, int] | None:
    """'golang.org/x/tools v0.5.0' (a (devel) gopls's source) → (0, 5, 0); else None."""
    m = _XTOOLS_RE.match(text) if isinstance(text, str) else None
    return parse_version(m.group(1)) if m else None


def parse_go_version(text) -> tuple[int, int, int] | None:
    """'go1.23.2' → (1, 23, 2); 'go1.20' → (1, 20, 0); 'devel go1.24-…', '1.23' → None."""
    m = _GO_RE.match(text) if isinstance(text, str) else None
    return (1, int(m.group(1)), int(m.group(2) or 0)) if m else None


def go_version_label(text) -> str:
    """The Go version as it may be shown: the strict form ('go1.23.2') or '' (unknown)."""
    return text if parse_go_version(text) else ""


def go_label(version: tuple[int, int, int] | None) -> str:
    return f"go1.{version[1]}" if version else ""


def parse_wsl_version(text) -> tuple[int, int, int] | None:
    """'2.3.26.0' (the WSL package version) → (2, 3, 26); else None."""
    m = _WSL_RE.match(text) if isinstance(text, str) else None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


@dataclass(frozen=True)
class Shape:
    name: str
    pattern: re.Pattern
    meaning: str


_SHAPES = [
    Shape("semver", _SEMVER_RE, "a gopls module version, vMAJOR.MINOR.PATCH[-pre]"),
    Shape("go_version", _GO_RE, "a Go release, go1.N[.P]"),
    Shape("wsl_version", _WSL_RE, "a WSL package version, A.B.C[.D]"),
    # GOMEMLIMIT values devfleet suggests: whole MiB or GiB (the Go runtime's IEC syntax).
    Shape("go_byte_size", re.compile(r"^[1-9]\d{0,6}(MiB|GiB)$"), "a size in Go runtime syntax"),
    Shape("byte_count", re.compile(r"^[1-9]\d{0,15}$"), "a positive integer number of bytes"),
    # .wslconfig sizes devfleet suggests: whole GB (WSL reads GB as 1024^3 bytes).
    Shape("wsl_size", re.compile(r"^[1-9]\d{0,4}GB$"), "a .wslconfig size in whole GB"),
    Shape("count", re.compile(r"^[1-9]\d{0,9}$"), "a positive integer"),
    Shape("identifier", re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$"), "a path-free identifier"),
    Shape(
        "loopback_addr",
        re.compile(r"^(?:localhost|127\.0\.0\.1|\[::1\]):(?:0|[1-9]\d{0,4})$"),
        "a loopback host:port",
    ),
    # A configuration value as the developer wrote it, quoted in a finding's text only (never
    # in a snippet): no shell, markup or link characters.
    Shape("config_text", re.compile(r"^[0-9A-Za-z .,+_:=%-]{1,64}$"), "a quoted config value"),
    Shape("flag_name", re.compile(r"^-{1,2}[a-z][a-z.]{0,30}$"), "a command-line flag name"),
    Shape("listen_addr", re.compile(r"^[0-9A-Za-z.:\[\]_-]{1,64}$"), "a host:port as written"),
    # Words derived from machine data (setting names, file system kinds, key names, a rejected
    # value) quoted in a finding's text only, never in a snippet (TEXT_ONLY, checked when the
    # knowledge base loads); pages and messages escape it as they escape all text.
    Shape("quoted_text", re.compile(r"^[^\x00-\x1f\x7f]{1,400}$"), "text quoted in words"),
    # Server-written sentences (reasons, labels, text defaults): no shell, markup or link
    # characters, so even a mistake here cannot become a command or a ping.
    Shape("prose", re.compile(r"^[A-Za-z0-9 ,.:()%/'+×≥≤–-]{1,400}$"), "server-written words"),
]
SHAPES = {s.name: s for s in _SHAPES}

# Every placeholder the knowledge base may use, with the shape its value must have.
PLACEHOLDERS = {
    "gomemlimit": "go_byte_size",
    "gomemlimit_bytes": "byte_count",
    "gomemlimit_reason": "prose",
    "suggested_wsl_memory": "wsl_size",
    "wsl_memory_reason": "prose",
    "suggested_watches": "count",
    "fd_limit": "count",
    "old_version": "semver",
    "new_version": "semver",
    "minimum": "semver",
    "go_installed": "go_version",
    "metric_label": "prose",
    "debug_addr": "loopback_addr",
    # gomemlimit_bad_suffix quotes the malformed value and says why (config_lint.py).
    "value": "config_text",
    "reason": "prose",
    "consequence": "prose",
    # gopls_debug_exposed quotes the flag and the address it listens on (text only).
    "flag": "flag_name",
    "addr": "listen_addr",
    # Text-only placeholders of the config and WSL file rules (config_settings.py, wsl_files.py).
    "gopls_version": "semver",
    "settings": "quoted_text",
    "setting": "quoted_text",
    "problem_text": "quoted_text",
    "vars": "quoted_text",
    "where": "quoted_text",
    "encoding": "quoted_text",
    "stray_keys": "quoted_text",
}
# Shapes that may fill text but never a command or setting snippet.
TEXT_ONLY = {"prose", "quoted_text", "config_text", "flag_name", "listen_addr"}
# Shapes of values computed for a machine: a knowledge-base default may never hold one.
MACHINE_VALUES = {"go_byte_size", "byte_count", "wsl_size", "count"}
# Placeholders whose knowledge-base default is a documented value that suits any machine
# (VS Code's Linux setup page gives 524288 watches): it may fill a snippet when the machine gave
# none. Memory sizes and versions are never generic.
GENERIC = {"suggested_watches"}
# Text used for a prose placeholder when a machine gave no value (rule pages, old findings).
DEFAULT_TEXT = {
    "gomemlimit_reason": "the value is computed for each machine from the heap gopls keeps and "
    "the memory ceiling it runs under, and is shown on that machine's finding",
    "wsl_memory_reason": "the value is computed for each machine from the VM's current cap and "
    "the Windows host's memory, and is shown on that machine's finding",
}


def validate(shape: str, value) -> str | None:
    """The value as text when it has the shape, else None. Unknown shapes validate nothing."""
    spec = SHAPES.get(shape)
    if spec is None or value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    text = str(value)
    return text if spec.pattern.match(text) else None


def shape_of(placeholder: str) -> str:
    """The placeholder's declared shape; an undeclared one is text only (quoted_text), so a
    new rule can quote machine data in words but never put an unchecked value in a snippet."""
    return PLACEHOLDERS.get(placeholder, "quoted_text")


def snippet_value(placeholder: str) -> bool:
    """Whether the placeholder may fill a command or setting snippet at all."""
    return placeholder in PLACEHOLDERS and PLACEHOLDERS[placeholder] not in TEXT_ONLY


def check(placeholder: str, value) -> str | None:
    """The value for `placeholder` when it has the placeholder's shape, else None."""
    return validate(shape_of(placeholder), value)


def loopback_debug_addr(addr) -> str | None:
    """A gopls debug address rebuilt from its parts when it is on loopback ('localhost:PORT'),
    so the text an agent sent never reaches a command itself."""
    if not isinstance(addr, str):
        return None
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host not in ("localhost", "127.0.0.1", "[::1]"):
        return None
    return validate("loopback_addr", f"{host}:{int(port)}")
