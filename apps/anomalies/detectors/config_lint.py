"""Configuration lint against real gopls: flags, settings and GOMEMLIMIT that break gopls."""

from __future__ import annotations

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import format_version, go_minor, gopls_version
from apps.anomalies.detectors.gomemlimit import FIRST_GO_MINOR, Gomemlimit, read_gomemlimit

# Invented by blog posts; no gopls version ever had them (docs/facts.md §1.4).
INVENTED_FLAGS = {"no-load-full-workspace", "skip-mod-download", "max-parallel", "memory-threshold"}
# Real flags with the gopls versions that accept them, (first, last) inclusive
# (docs/facts.md §1.1, §1.2).
REAL_FLAGS: dict[str, tuple[tuple | None, tuple | None]] = {
    **{
        name: (None, None)
        for name in (
            "rpc.trace",
            "logfile",
            "debug",
            "listen",
            "listen.timeout",
            "mode",
            "remote",
            "remote.debug",
            "remote.logfile",
            "remote.listen.timeout",
            "profile.cpu",
            "profile.mem",
            "profile.trace",
            "v",
            "verbose",
            "vv",
            "veryverbose",
            "h",
            "help",
        )
    },
    "profile.alloc": ((0, 12, 0), None),
    "profile.block": ((0, 17, 0), None),
    "mcp-listen": ((0, 19, 0), (0, 19, 99)),
    "mcp.listen": ((0, 20, 0), None),
    "port": (None, (0, 21, 99)),
    "ocagent": (None, (0, 18, 99)),
    "otel": ((0, 22, 0), None),
}
BOOL_FLAGS = {"rpc.trace", "v", "verbose", "vv", "veryverbose", "h", "help"}


def flag_names(args: list) -> list[str]:
    """Flag names in a gopls argument list (values of `-flag value` skipped)."""
    names, skip = [], False
    for arg in args or []:
        arg = str(arg)
        if skip:
            skip = False
            continue
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, _ = arg.lstrip("-").partition("=")
        names.append(name)
        skip = not eq and name not in BOOL_FLAGS and name in REAL_FLAGS
    return names


def flag_values(args: list) -> list[tuple[str, str | None]]:
    """(name, value) of each flag in order; value None for a bare bool flag (`-rpc.trace`).

    Mirrors Go's flag package: `-name=value` or `-name value` for non-bool flags, and a bool
    flag takes a value only after `=` (`-rpc.trace false` leaves `false` as an argument)."""
    out: list[tuple[str, str | None]] = []
    args = [str(a) for a in args or []]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if eq:
            out.append((name, value))
        elif name in BOOL_FLAGS or name not in REAL_FLAGS:
            out.append((name, None))
        else:
            out.append((name, args[i] if i < len(args) else None))
            i += 1
    return out


# strconv.ParseBool, which Go's flag package uses for bool flags.
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}


def bool_flag_on(args: list, name: str) -> bool:
    """Whether a bool flag ends up true: the last occurrence wins, a bare flag means true,
    `=false` (or 0, f, F, FALSE, False) turns it off. (Any other value makes gopls exit with
    'invalid boolean value', so it traces nothing either.)"""
    on = False
    for flag, value in flag_values(args):
        if flag == name:
            on = value is None or value in _TRUE
    return on


def rejected_flags(args: list, version: tuple | None) -> list[str]:
    bad = []
    for name in flag_names(args):
        if name in INVENTED_FLAGS or name not in REAL_FLAGS:
            bad.append(f"-{name}")
            continue
        first, last = REAL_FLAGS[name]
        if version and ((first and version < first) or (last and version > last)):
            bad.append(f"-{name}")
    return bad


def _gopls_block(settings: dict) -> dict:
    """The gopls settings of one editor entry, as {short or dotted name: value}."""
    block = dict(settings.get("gopls") or {}) if isinstance(settings.get("gopls"), dict) else {}
    for key, value in settings.items():
        if key.startswith("gopls."):
            block[key[len("gopls.") :]] = value
    return block


def _sources(snapshot):
    """(where, flags, tools env, gopls block, has goplsArgs) per editor settings file."""
    for entry in snapshot.editor_settings():
        s = entry.get("settings") or {}
        env = s.get("go.toolsEnvVars") if isinstance(s.get("go.toolsEnvVars"), dict) else {}
        flags = s.get("go.languageServerFlags")
        has_args = bool(entry.get("has_go_goplsArgs")) or "go.goplsArgs" in s
        yield (
            entry.get("path") or entry.get("editor") or "settings",
            flags or [],
            env,
            _gopls_block(s),
            has_args,
        )


def _version(snapshot):
    procs = snapshot.alive() or snapshot.processes
    for proc in procs:
        v, _ = gopls_version(proc.version, proc.version_source)
        if v:
            return v
    tools = snapshot.inventory.get("tools") or {}
    return gopls_version(str(tools.get("gopls") or ""))[0]


def _det(rule_id, subject, severity, evidence, text, facts=None) -> Detection:
    return Detection(
        rule_id,
        fired=True,
        severity=severity,
        subject=subject,
        evidence=evidence,
        explanation=text,
        facts=facts or evidence,
    )


@rule("gopls_invalid_flags", category="config")
def gopls_invalid_flags(snapshot, th) -> list[Detection]:
    version = _version(snapshot)
    found: dict[str, list] = {}
    for where, flags, _, _, _ in _sources(snapshot):
        for flag in rejected_flags(flags, version):
            found.setdefault(flag, []).append(where)
    # Lifetimes of the last 15 minutes: a crash-looping gopls is never alive for long.
    for proc in (p for p in snapshot.processes if snapshot.now - p.last_ts <= 900):
        for flag in rejected_flags(proc.argv[1:], version):
            found.setdefault(flag, []).append(f"gopls pid {proc.pid} argv")
    if not found:
        return []
    flags = sorted(found)
    invented = [f for f in flags if f.lstrip("-") in INVENTED_FLAGS]
    return [
        _det(
            "gopls_invalid_flags",
            "flags",
            "critical",
            {
                "flags": flags,
                "invented": invented,
                "where": found,
                "gopls_version": format_version(version),
            },
            f"gopls {format_version(version)} does not accept {', '.join(flags)}: it exits with "
            "'flag provided but not defined' and the editor cannot start the language server",
        )
    ]


@rule("go_goplsargs_setting", category="config")
def go_goplsargs_setting(snapshot, th) -> list[Detection]:
    where = [w for w, _, _, _, has in _sources(snapshot) if has]
    if not where:
        return []
    return [
        _det(
            "go_goplsargs_setting",
            "settings",
            "warning",
            {"files": where},
            "`go.goplsArgs` is set but no such setting exists: it does nothing",
            # Only VS Code-family editors read settings.json: their steps apply even when no
            # gopls runs at the moment.
            {"files": where, "editor": "vscode"},
        )
    ]


def _go_minors(snapshot) -> tuple[int | None, int | None]:
    """(Go minor gopls was built with, Go minor of the go command) on this machine."""
    built = next((go_minor(p.go_version) for p in snapshot.alive() if p.go_version), None)
    go_env = snapshot.inventory.get("go_env")
    tool = go_minor((go_env or {}).get("GOVERSION")) if isinstance(go_env, dict) else None
    return built, tool


def _malformed(value, minors) -> Gomemlimit | None:
    """The parse that fails in one of the Go runtimes that read this value, if any.

    Go before 1.19 ignores GOMEMLIMIT; an unknown version is read as strictly as Go 1.19–1.25."""
    for minor in minors:
        if minor is not None and minor < FIRST_GO_MINOR:
            continue
        parsed = read_gomemlimit(value, go_minor=minor)
        if not parsed.ok:
            return parsed
    return None


CONSEQUENCE = {
    "gopls": "gopls and every go command started from its environment abort at start",
    "go": "every go command gopls runs (go list, go env) aborts, so gopls loads no packages",
}


@rule("gomemlimit_bad_suffix", category="config")
def gomemlimit_bad_suffix(snapshot, th) -> list[Detection]:
    """A GOMEMLIMIT the Go runtime rejects, wherever gopls or the go command would read it:
    go.toolsEnvVars and the gopls process environment reach gopls and the go commands it
    starts; gopls's build.env reaches only those go commands (docs/facts.md §2, §3.2)."""
    built, tool = _go_minors(snapshot)
    bad = []
    for w, _, env, block, _ in _sources(snapshot):
        if "GOMEMLIMIT" in env:
            bad.append((w, "go.toolsEnvVars", env["GOMEMLIMIT"], "gopls", (built, tool)))
        for key in ("build.env", "env"):
            benv = block.get(key)
            if isinstance(benv, dict) and "GOMEMLIMIT" in benv:
                bad.append((w, f"gopls {key}", benv["GOMEMLIMIT"], "go", (tool,)))
    for p in snapshot.processes:
        if snapshot.now - p.last_ts <= 900 and "GOMEMLIMIT" in (p.env or {}):
            minors = (go_minor(p.go_version) or built, tool)
            where = f"gopls pid {p.pid} environment"
            bad.append((where, "environment", p.env["GOMEMLIMIT"], "gopls", minors))
    values = []
    for where, kind, value, reaches, minors in bad:
        parsed = _malformed(value, minors)
        if parsed is not None:
            values.append(
                {
                    "where": where,
                    "setting": kind,
                    "value": str(value)[:200],
                    "reason": parsed.reason,
                    "consequence": CONSEQUENCE[reaches],
                }
            )
    if not values:
        return []
    first = values[0]
    return [
        _det(
            "gomemlimit_bad_suffix",
            "gomemlimit",
            "critical",
            {"values": values},
            f"GOMEMLIMIT={first['value']!r} in {first['setting']} is malformed "
            f"({first['reason']}): {first['consequence']} with 'fatal error: malformed "
            "GOMEMLIMIT'. The runtime wants bytes or a B/KiB/MiB/GiB/TiB suffix, or off",
            {k: first[k] for k in ("value", "reason", "consequence", "setting")},
        )
    ]


@rule("gomemlimit_in_build_env", category="config")
def gomemlimit_in_build_env(snapshot, th) -> list[Detection]:
    """A well-formed GOMEMLIMIT in build.env only limits go list (a malformed one is the
    critical gomemlimit_bad_suffix instead)."""
    _, tool = _go_minors(snapshot)
    where = []
    for w, _, _, block, _ in _sources(snapshot):
        for key in ("build.env", "env"):
            env = block.get(key)
            ok = isinstance(env, dict) and "GOMEMLIMIT" in env
            if ok and _malformed(env["GOMEMLIMIT"], (tool,)) is None:
                where.append({"where": w, "value": env["GOMEMLIMIT"]})
    if not where:
        return []
    return [
        _det(
            "gomemlimit_in_build_env",
            "build_env",
            "warning",
            {"values": where},
            "GOMEMLIMIT in the gopls build.env reaches only the commands gopls runs "
            "(go list), never gopls itself",
            {"value": where[0]["value"]},
        )
    ]


@rule("gopls_rpc_trace_on", category="config")
def gopls_rpc_trace_on(snapshot, th) -> list[Detection]:
    """-rpc.trace left on; `-rpc.trace=false` is off (Go's flag package, last one wins)."""
    where = [w for w, flags, _, _, _ in _sources(snapshot) if bool_flag_on(flags, "rpc.trace")]
    where += [
        f"gopls pid {p.pid} argv" for p in snapshot.alive() if bool_flag_on(p.argv[1:], "rpc.trace")
    ]
    if not where:
        return []
    return [
        _det(
            "gopls_rpc_trace_on",
            "rpc_trace",
            "info",
            {"where": where},
            "-rpc.trace is on: gopls logs every LSP message, which costs CPU and disk",
        )
    ]


DEBUG_FLAGS = ("debug", "remote.debug")


def exposed_debug_addr(addr: str | None) -> bool:
    """Whether a -debug address listens beyond this machine: no host (`:6060`), 0.0.0.0, ::
    or any host that is not loopback (Go's net.Listen binds every interface for an empty
    host). An address without a colon makes gopls fail to listen, so it exposes nothing."""
    if not addr or ":" not in addr:
        return False
    addr = addr.strip()
    if addr.startswith("["):
        host = addr[1 : addr.find("]")] if "]" in addr else addr[1:]
    else:
        host = addr.rpartition(":")[0]
    host = host.strip().lower()
    return not (host in ("localhost", "::1", "ip6-localhost") or host.startswith("127."))


@rule("gopls_debug_exposed", category="config")
def gopls_debug_exposed(snapshot, th) -> list[Detection]:
    """A debug server on all interfaces exposes pprof, source paths and file contents."""
    found: list[dict] = []
    for w, flags, _, _, _ in _sources(snapshot):
        found += [
            {"where": w, "flag": f"-{name}", "addr": value}
            for name, value in flag_values(flags)
            if name in DEBUG_FLAGS and exposed_debug_addr(value)
        ]
    for p in snapshot.alive():
        found += [
            {"where": f"gopls pid {p.pid} argv", "flag": f"-{name}", "addr": value}
            for name, value in flag_values(p.argv[1:])
            if name in DEBUG_FLAGS and exposed_debug_addr(value)
        ]
    if not found:
        return []
    first = found[0]
    return [
        _det(
            "gopls_debug_exposed",
            "debug_server",
            "warning",
            {"servers": found[:20]},
            f"{first['flag']}={first['addr']} ({first['where']}) serves the gopls debug pages on "
            "every network interface: anyone who can reach this machine can read pprof "
            "profiles, file paths and source code",
            {"addr": first["addr"], "flag": first["flag"]},
        )
    ]
