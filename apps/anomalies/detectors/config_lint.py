"""Configuration lint against real gopls: flags, settings and GOMEMLIMIT that break gopls."""

from __future__ import annotations

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import format_version, gomemlimit_valid, gopls_version

# Invented by blog posts; no gopls version ever had them (gopls-facts §1.4).
INVENTED_FLAGS = {"no-load-full-workspace", "skip-mod-download", "max-parallel", "memory-threshold"}
# Real flags with the gopls versions that accept them, (first, last) inclusive (§1.1, §1.2).
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
OBSOLETE_SETTINGS = {
    "memoryMode": "no effect since v0.12, deprecated from v0.15",
    "experimentalWorkspaceModule": "removed in v0.12; use a go.work file",
    "experimentalWatchedFileDelay": "removed in v0.12",
    "experimentalPackageCacheKey": "removed in v0.12",
    "allowImplicitNetworkAccess": "removed in v0.17",
    "allowModfileModifications": "removed",
    "tempModFile": "removed",
    "newDiff": "removed",
}


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
        )
    ]


@rule("gomemlimit_bad_suffix", category="config")
def gomemlimit_bad_suffix(snapshot, th) -> list[Detection]:
    bad = [
        (w, env["GOMEMLIMIT"])
        for w, _, env, _, _ in _sources(snapshot)
        if "GOMEMLIMIT" in env and not gomemlimit_valid(env["GOMEMLIMIT"])
    ]
    bad += [
        (f"gopls pid {p.pid} environment", p.env["GOMEMLIMIT"])
        for p in snapshot.processes
        if snapshot.now - p.last_ts <= 900
        and "GOMEMLIMIT" in (p.env or {})
        and not gomemlimit_valid(p.env["GOMEMLIMIT"])
    ]
    if not bad:
        return []
    return [
        _det(
            "gomemlimit_bad_suffix",
            "gomemlimit",
            "critical",
            {"values": [{"where": w, "value": v} for w, v in bad]},
            f"GOMEMLIMIT={bad[0][1]} is malformed: gopls aborts at start ('malformed "
            "GOMEMLIMIT'); the Go runtime wants bytes or an IEC suffix such as GiB",
            {"value": bad[0][1]},
        )
    ]


@rule("gomemlimit_in_build_env", category="config")
def gomemlimit_in_build_env(snapshot, th) -> list[Detection]:
    where = []
    for w, _, _, block, _ in _sources(snapshot):
        for key in ("build.env", "env"):
            env = block.get(key)
            if isinstance(env, dict) and "GOMEMLIMIT" in env:
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


@rule("gopls_obsolete_setting", category="config")
def gopls_obsolete_setting(snapshot, th) -> list[Detection]:
    found = {}
    for w, _, _, block, _ in _sources(snapshot):
        for key in block:
            short = key.rsplit(".", 1)[-1]
            if short in OBSOLETE_SETTINGS:
                found[short] = {"where": w, "why": OBSOLETE_SETTINGS[short]}
    if not found:
        return []
    return [
        _det(
            "gopls_obsolete_setting",
            "settings",
            "info",
            {"settings": found},
            f"obsolete gopls settings: {', '.join(sorted(found))}",
            {"settings": sorted(found)},
        )
    ]


@rule("gopls_rpc_trace_on", category="config")
def gopls_rpc_trace_on(snapshot, th) -> list[Detection]:
    where = [w for w, flags, _, _, _ in _sources(snapshot) if "rpc.trace" in flag_names(flags)]
    where += [
        f"gopls pid {p.pid} argv" for p in snapshot.alive() if "rpc.trace" in flag_names(p.argv[1:])
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
