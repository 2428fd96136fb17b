"""devfleet-agent command line: enroll | run | once [--dry-run] | show | status | check | fixes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from devfleet_agent import __version__, identity, report, transport
from devfleet_agent.agent import Agent
from devfleet_agent.config import AgentConfig, ConfigError, load_config
from devfleet_agent.fixes import cli as fixes_cli
from devfleet_agent.state import State
from devfleet_agent.timefmt import iso

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_NO_CHECK = 0, 1, 2, 3
SEVERITY = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="devfleet-agent", description=__doc__)
    p.add_argument("--version", action="version", version=f"devfleet-agent {__version__}")
    p.add_argument("--config", type=Path, help="TOML config file (default: platform location)")
    p.add_argument("--state-dir", help="spool, credential and status directory")
    p.add_argument("--proc-root", help="procfs root (tests: a fake tree)")
    p.add_argument("--sys-root", help="sysfs root (tests: a fake tree)")
    p.add_argument("--fs-root", help="filesystem root for settings/config files (tests)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enroll", help="exchange a team enrollment token for a credential")
    e.add_argument("--server", required=True, help="https://devfleet.example.com")
    e.add_argument("--token", required=True)
    e.add_argument("--owner", help="your username or email (optional)")
    sub.add_parser("run", help="collect and upload in the foreground (for service units)")
    o = sub.add_parser("once", help="collect once; upload, or print with --dry-run")
    o.add_argument("--dry-run", action="store_true", help="print the report JSON, send nothing")
    o.add_argument("--pretty", action="store_true", help="indent the JSON")
    sub.add_parser("show", help="print exactly what would be sent and where each value comes from")
    sub.add_parser("status", help="credential, server reachability, spool, last upload, errors")
    sub.add_parser("check", help="ask the server for this machine's findings; exit 1 on warnings")
    fixes_cli.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    overrides = {"state_dir": args.state_dir, "proc_root": args.proc_root,
                 "sys_root": args.sys_root, "fs_root": args.fs_root}
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"devfleet-agent: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_ERROR
    handler = {"enroll": cmd_enroll, "run": cmd_run, "once": cmd_once, "show": cmd_show,
               "status": cmd_status, "check": cmd_check, **fixes_cli.HANDLERS}[args.command]
    return handler(config, args)


def collect_report(config: AgentConfig, *, dry_run: bool = True) -> tuple[dict[str, Any], Agent]:
    """Two quick passes (CPU % needs an interval) → a full report with machine and inventory."""
    agent = Agent(config, dry_run=dry_run)
    agent.ctx.facts.full_static = True  # one-off reports carry every process fact
    first, inventory = agent.collect(force_all=True)
    time.sleep(0.5)
    sample, _ = agent.collect()
    for key, value in first.items():
        sample.setdefault(key, value)
    sample["errors"] = (first.get("errors") or []) + [
        e for e in sample.get("errors", []) if e not in (first.get("errors") or [])]
    sample["errors"] = sample["errors"][:64]
    inventory = inventory or dict(agent.inventory, collected_at=iso())
    cred = agent.state.credential() or {}
    salt = cred.get("machine_id") or identity.machine_id(config.state_path, Path(config.fs_root))
    rep = report.build_report([sample], config, machine=agent.machine_facts(),
                              inventory=inventory, salt=salt)
    return rep, agent


def cmd_once(config: AgentConfig, args: argparse.Namespace) -> int:
    if args.dry_run:
        rep, _ = collect_report(config)
        print(json.dumps(rep, indent=2 if args.pretty else None, sort_keys=False))
        for note in nothing_found(rep):  # on stderr: stdout stays one JSON document
            print(f"note: {note}", file=sys.stderr)
        return EXIT_OK
    agent = Agent(config)
    if not agent.state.credential():
        print("not enrolled: run `devfleet-agent enroll --server URL --token TOKEN`",
              file=sys.stderr)
        return EXIT_ERROR
    sample = agent.spool_cycle()
    for note in nothing_found({"samples": [sample], "inventory": agent.inventory}):
        print(f"note: {note}", file=sys.stderr)
    from devfleet_agent.uploader import Uploader

    up = Uploader(config, agent.spool, agent.state, agent.machine_facts, agent.on_instructions)
    outcome = up.upload_once()
    while outcome.kind in ("ok", "retry") and (outcome.more or outcome.kind == "retry"):
        outcome = up.upload_once()
    print(f"upload: {outcome.kind} {outcome.detail}".strip())
    return EXIT_OK if outcome.kind in ("ok", "idle") else EXIT_ERROR


def cmd_run(config: AgentConfig, args: argparse.Namespace) -> int:
    agent = Agent(config)
    if not agent.state.credential():
        logging.warning("not enrolled yet: collecting into the spool; run `devfleet-agent "
                        "enroll` to start uploading")
    logging.info("devfleet-agent %s running: collect every %ss, upload every %ss, state in %s",
                 __version__, config.collect_interval_s, config.upload_interval_s,
                 config.state_path)
    return agent.run()


def cmd_show(config: AgentConfig, args: argparse.Namespace) -> int:
    rep, agent = collect_report(config)
    cred = agent.state.credential() or {}
    server = config.server_url or cred.get("server_url")
    print(f"# devfleet-agent {__version__}: this is exactly what the next upload would contain.")
    print("# destination: " + (f"{server}{cred.get('report_url') or '/api/v1/reports'}"
                               if server else "none yet (not enrolled)"))
    print(f"# anonymised mode: {'on' if config.anonymize else 'off'}; "
          "nothing else is read or sent.")
    for note in nothing_found(rep):
        print(f"# note: {note}")
    print()
    for path, value, source in report.explain(rep):
        print(f"{path} = {value}\n    ← {source}")
    return EXIT_OK


def cmd_status(config: AgentConfig, args: argparse.Namespace) -> int:
    state = State(config.state_path)
    cred = state.credential()
    status = state.status()
    print(f"state dir:    {config.state_path}")
    if not cred:
        print("credential:   none (run `devfleet-agent enroll --server URL --token TOKEN`)")
    else:
        secret = str(cred.get("credential", ""))
        print(f"credential:   {secret[:4]}…{secret[-2:]} (machine {cred.get('machine_id')}, "
              f"enrolled {cred.get('enrolled_at')})")
    if status.get("auth_failed"):
        print("AUTH FAILED:  the server rejected the credential; uploads are paused and samples "
              "keep spooling. Run `devfleet-agent enroll` again.")
    server = config.server_url or (cred or {}).get("server_url")
    if server:
        print(f"server:       {server} {probe_server(server, config.ca_file)}")
    if state.spool_file.exists():
        from devfleet_agent.spool import Spool

        sp = Spool(state.spool_file, config.spool_max_bytes)
        st = sp.stats()
        print(f"spool:        {st['spool_depth']} samples, {st['spool_bytes']} bytes, "
              f"{st['dropped_samples']} dropped, {st['rejected_batches']} rejected batches")
        for rej in sp.rejected(3):
            print(f"  rejected:   HTTP {rej['status']} at {iso(rej['at'])}: "
                  f"{json.dumps(rej['errors'])[:300]}")
        sp.close()
    print(f"last upload:  {status.get('last_upload_at') or 'never'}")
    print(f"last error:   {status.get('last_error') or 'none'}")
    for err in status.get("collector_errors") or []:
        print(f"  collector:  {err}  (since {status.get('collector_errors_at')})")
    if status.get("running") is not None:
        print(f"agent:        {'running' if status.get('running') else 'stopped'} "
              f"(pid {status.get('pid')})")
    return EXIT_ERROR if status.get("auth_failed") else EXIT_OK


PROBE_PATH = "/api/v1/openapi.json"  # public, always served by a devfleet server


def probe_server(server: str, ca_file: str = "") -> str:
    """"reachable", or what went wrong reaching the server's public API document."""
    try:
        resp = transport.request("GET", server + PROBE_PATH, None,
                                 {"Accept": "application/json"}, 5.0, ca_file)
    except transport.TransportError as exc:
        return f"NOT reachable: {exc}"
    if resp.status == 200:
        return "reachable"
    return f"answers HTTP {resp.status} for {PROBE_PATH} (is the URL right? is it devfleet?)"


def nothing_found(rep: dict[str, Any]) -> list[str]:
    """Plain notes when the report has no gopls process and no Go toolchain to speak of."""
    notes = []
    if not any(s.get("gopls") for s in rep.get("samples") or []):
        notes.append("no gopls process is running (open a Go project in your editor; "
                     "devfleet watches gopls while it runs)")
    inventory = rep.get("inventory") or {}
    go_found = (inventory.get("goroot_check") or {}).get("go_on_path") or \
        (inventory.get("tools") or {}).get("go") or inventory.get("gopls_binaries")
    if not go_found:
        notes.append("no Go toolchain found: `go` is not on PATH and no gopls binary was found")
    return notes


def cmd_enroll(config: AgentConfig, args: argparse.Namespace) -> int:
    from devfleet_agent.config import validate

    try:
        server = validate({"server_url": args.server}).server_url
    except ConfigError as exc:
        print(f"devfleet-agent: {exc}", file=sys.stderr)
        return EXIT_ERROR
    state = State(config.state_path)
    agent = Agent(config, dry_run=True)
    facts = agent.machine_facts()
    mid = identity.machine_id(config.state_path, Path(config.fs_root))
    body = {"token": args.token, "machine_id": mid, "hostname": facts.get("hostname"),
            "os": facts.get("os"), "os_version": facts.get("os_version"),
            "arch": facts.get("arch"), "kernel": facts.get("kernel"),
            "agent_version": __version__, "owner": args.owner or config.owner or None,
            "wsl": facts.get("wsl")}
    try:
        resp = transport.post_json(server + "/api/v1/enroll", body, timeout=config.http_timeout_s,
                                   ca_file=config.ca_file, compress=False)
    except transport.TransportError as exc:
        print(f"enroll failed: cannot reach {server}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    data = resp.body if isinstance(resp.body, dict) else {}
    if resp.status not in (200, 201) or not data.get("credential"):
        detail = "".join(c for c in str(data.get("detail") or "")[:300] if c.isprintable())
        why = {401: f"the enrollment token was rejected ({detail or 'wrong or revoked'})",
               409: f"HTTP 409: {detail or 'this machine id belongs to another team'}"}.get(
            resp.status, f"HTTP {resp.status}: {json.dumps(data.get('errors') or resp.text)[:500]}")
        print(f"enroll failed: {why}", file=sys.stderr)
        return EXIT_ERROR
    state.save_credential({"server_url": server, "machine_id": data.get("machine_id", mid),
                           "credential": data["credential"],
                           "report_url": data.get("report_url") or "/api/v1/reports",
                           "enrolled_at": iso()})
    state.update_status(auth_failed=False, last_error=None,
                        collect_interval_s=data.get("collect_interval_s"),
                        upload_interval_s=data.get("upload_interval_s"))
    print(f"enrolled as {data.get('machine_id', mid)} with {server}; credential saved in "
          f"{state.credential_file}")
    return EXIT_OK


def cmd_check(config: AgentConfig, args: argparse.Namespace) -> int:
    state = State(config.state_path)
    cred = state.credential()
    if not cred:
        print("not enrolled: run `devfleet-agent enroll --server URL --token TOKEN` first",
              file=sys.stderr)
        return EXIT_ERROR
    rep, _ = collect_report(config)
    server = config.server_url or cred.get("server_url", "")
    try:
        resp = transport.post_json(server + "/api/v1/check", rep, credential=cred["credential"],
                                   timeout=config.http_timeout_s, ca_file=config.ca_file)
    except transport.TransportError as exc:
        print(f"check failed: cannot reach {server}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if resp.status == 404:
        print(f"check: the server at {server} has no /api/v1/check endpoint yet (HTTP 404); "
              "it arrives with the detection feature.", file=sys.stderr)
        return EXIT_NO_CHECK
    if resp.status in (401, 403):
        print("check: the server rejected the credential; run `devfleet-agent enroll` again",
              file=sys.stderr)
        return EXIT_ERROR
    if resp.status != 200 or not isinstance(resp.body, dict):
        print(f"check failed: HTTP {resp.status}: {resp.text[:500]}", file=sys.stderr)
        return EXIT_ERROR
    return print_findings(resp.body)


def print_findings(body: dict[str, Any]) -> int:
    findings = body.get("findings") or []
    worst = str(body.get("worst_severity") or "ok")
    for f in findings:
        worst = max(worst, str(f.get("severity", "ok")), key=lambda s: SEVERITY.get(s, 0))
    if not findings:
        print("✓ no findings: this machine looks healthy")
    for f in findings:
        print(f"[{str(f.get('severity', '?')).upper()}] {f.get('title')} ({f.get('rule_id')})")
        if f.get("summary"):
            print(f"    {f['summary']}")
        advice = f.get("advice") or {}
        if advice.get("summary"):
            print(f"    fix: {advice['summary']}")
        for i, step in enumerate(advice.get("steps") or [], 1):
            print(f"      {i}. {step.get('text')}")
            if step.get("command"):
                print(f"         $ {step['command']}")
            if step.get("setting"):
                print(f"         setting: {json.dumps(step['setting'])}")
        for url in advice.get("sources") or []:
            print(f"    source: {url}")
    print(f"worst severity: {worst}")
    return EXIT_FINDINGS if SEVERITY.get(worst, 0) >= SEVERITY["warning"] else EXIT_OK
