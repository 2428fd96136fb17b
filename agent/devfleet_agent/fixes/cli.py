"""`devfleet-agent fixes | fix <finding> [--yes] | undo <finding> [--yes]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devfleet_agent import transport
from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.config import AgentConfig
from devfleet_agent.fixes import journal
from devfleet_agent.fixes.actions import Action, ActionRefused, parse_action
from devfleet_agent.fixes.plan import Plan, apply_plan, make_plan, undo_entry
from devfleet_agent.state import State

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2
FIXES_PATH = "/api/v1/fixes"
MAX_ACTIONS = 16
OFF = ("fixes are turned off in the agent config (fixes = false): this machine gets advice "
       "only")


def add_parsers(sub: Any) -> None:
    sub.add_parser("fixes", help="list this machine's open findings that the agent can fix")
    f = sub.add_parser("fix", help="show what a finding's fix changes, ask, apply it")
    f.add_argument("finding", type=int, help="finding id (from `devfleet-agent fixes`)")
    f.add_argument("--yes", action="store_true", help="apply without asking")
    u = sub.add_parser("undo", help="restore the files a finding's fix changed")
    u.add_argument("finding", type=int)
    u.add_argument("--yes", action="store_true", help="restore without asking")


def _context(config: AgentConfig) -> CollectorContext:
    return CollectorContext(config=config, proc_root=Path(config.proc_root),
                            sys_root=Path(config.sys_root), fs_root=Path(config.fs_root),
                            state_dir=config.state_path)


def fetch(config: AgentConfig) -> tuple[list[dict[str, Any]], str]:
    """The server's open findings of this machine with actions; raises RuntimeError."""
    cred = State(config.state_path).credential()
    if not cred or not cred.get("credential"):
        raise RuntimeError("not enrolled: run `devfleet-agent enroll --server URL --token TOKEN`")
    server = config.server_url or cred.get("server_url", "")
    headers = {"Authorization": f"Bearer {cred['credential']}", "Accept": "application/json"}
    try:
        resp = transport.request("GET", server + FIXES_PATH, None, headers,
                                 config.http_timeout_s, config.ca_file)
    except transport.TransportError as exc:
        raise RuntimeError(f"cannot reach {server}: {exc}") from None
    if resp.status in (401, 403):
        raise RuntimeError("the server rejected the credential; run `devfleet-agent enroll`")
    body = resp.body if isinstance(resp.body, dict) else {}
    findings = body.get("findings")
    if resp.status != 200 or not isinstance(findings, list):
        raise RuntimeError(f"{FIXES_PATH} answered HTTP {resp.status}")
    return [f for f in findings if isinstance(f, dict)], str(cred.get("machine_id") or "")


def _finding_id(f: dict[str, Any]) -> int | None:
    fid = f.get("id")
    return fid if isinstance(fid, int) and not isinstance(fid, bool) else None


def _actions(f: dict[str, Any]) -> list[Action | ActionRefused]:
    raw = f.get("actions")
    out: list[Action | ActionRefused] = []
    for item in raw[:MAX_ACTIONS] if isinstance(raw, list) else []:
        try:
            out.append(parse_action(item))
        except ActionRefused as exc:
            out.append(exc)
    return out


def _clean(text: Any, limit: int = 200) -> str:
    """Server text on the terminal: one line, no control characters."""
    return "".join(c if c.isprintable() else " " for c in str(text or ""))[:limit]


def cmd_fixes(config: AgentConfig, args: argparse.Namespace) -> int:
    if not config.fixes:
        print(OFF, file=sys.stderr)
        return EXIT_ERROR
    try:
        findings, _ = fetch(config)
    except RuntimeError as exc:
        print(f"fixes: {exc}", file=sys.stderr)
        return EXIT_ERROR
    shown = 0
    for f in findings:
        fid = _finding_id(f)
        actions = _actions(f)
        if fid is None or not actions:
            continue
        shown += 1
        print(f"[{_clean(f.get('severity'), 16).upper()}] #{fid} {_clean(f.get('title'))} "
              f"({_clean(f.get('rule_id'), 64)})")
        for a in actions:
            print(f"    - {_clean(a.describe(), 500)}" if isinstance(a, Action)
                  else f"    - refused by this agent: {_clean(a, 500)}")
        print(f"    $ devfleet-agent fix {fid}")
    if not shown:
        print("no open finding of this machine has a fix the agent can apply")
    return EXIT_OK


def _confirm(prompt: str) -> bool:
    print(prompt, end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_fix(config: AgentConfig, args: argparse.Namespace) -> int:
    if not config.fixes:
        print(OFF, file=sys.stderr)
        return EXIT_ERROR
    try:
        findings, machine_id = fetch(config)
    except RuntimeError as exc:
        print(f"fix: {exc}", file=sys.stderr)
        return EXIT_ERROR
    f = next((x for x in findings if _finding_id(x) == args.finding), None)
    if f is None:
        print(f"fix: finding #{args.finding} is not an open finding of this machine with a "
              "fix (see `devfleet-agent fixes`)", file=sys.stderr)
        return EXIT_ERROR
    ctx = _context(config)
    plans: list[Plan] = []
    refused: list[str] = []
    for item in _actions(f):
        if isinstance(item, ActionRefused):
            refused.append(f"refused: {item}")
            continue
        try:
            plans.append(make_plan(ctx, item, salt=machine_id))
        except ActionRefused as exc:
            refused.append(f"refused: {item.describe()}: {exc}")
    print(f"#{args.finding} {_clean(f.get('title'))} ({_clean(f.get('rule_id'), 64)})")
    for line in refused:
        print(f"  {line}")
    if not plans:
        print("nothing to apply")
        return EXIT_REFUSED
    print("This will change:")
    for plan in plans:
        print(plan.show())
    if not args.yes and not _confirm("Apply? [y/N] "):
        print("not applied")
        return EXIT_REFUSED
    return _apply_all(ctx, plans, args.finding, str(f.get("rule_id") or "")[:64], refused)


def _apply_all(ctx: CollectorContext, plans: list[Plan], finding: int, rule_id: str,
               refused: list[str]) -> int:
    failed = bool(refused)
    for index, plan in enumerate(plans):
        try:
            entry = apply_plan(ctx, plan, finding, rule_id, index)
        except ActionRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            failed = True
            continue
        if entry["outcome"] != "applied":
            print(f"failed: {plan.action.describe()}: {entry.get('detail')}", file=sys.stderr)
            failed = True
            continue
        print(f"applied: {entry.get('detail') or plan.action.describe()}")
        if entry.get("backup"):
            print(f"  backup: {entry['backup']}  (undo: devfleet-agent undo {finding})")
        if plan.action.type == "wslconfig":
            print("  WSL reads .wslconfig only when its VM starts: run `wsl --shutdown` from "
                  "Windows, wait about 8 seconds, then open your distribution again.")
    print("The server sees the fix in the next upload; the finding resolves when later "
          "samples no longer show the problem.")
    return EXIT_REFUSED if failed else EXIT_OK


def cmd_undo(config: AgentConfig, args: argparse.Namespace) -> int:
    ctx = _context(config)
    items = journal.undoable(config.state_path, args.finding)
    if not items:
        print(f"undo: no applied file change of finding #{args.finding} to undo "
              "(cache cleaning and stopped processes cannot be undone)", file=sys.stderr)
        return EXIT_ERROR
    for e in items:
        print(f"restore {e.get('path')} from {e.get('backup')}")
    if not args.yes and not _confirm("Restore? [y/N] "):
        print("nothing restored")
        return EXIT_REFUSED
    code = EXIT_OK
    for e in items:
        try:
            undo_entry(ctx, e)
            print(f"restored {e.get('path')}")
        except (ActionRefused, OSError) as exc:
            print(f"undo refused: {exc}", file=sys.stderr)
            code = EXIT_REFUSED
    return code


HANDLERS = {"fixes": cmd_fixes, "fix": cmd_fix, "undo": cmd_undo}
