"""Delivery policy: batches from the spool, backoff with full jitter, 429/413/400/401 handling."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable

from devfleet_agent import transport
from devfleet_agent.config import AgentConfig
from devfleet_agent.fixes import journal
from devfleet_agent.report import build_report
from devfleet_agent.spool import Spool
from devfleet_agent.state import State
from devfleet_agent.timefmt import iso

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
PERMANENT = {400, 413, 422}
PROFILE_BYTES = 1536 * 1024  # profile text per upload; the server caps bodies at a few MiB

log = logging.getLogger("devfleet_agent")


@dataclass
class Outcome:
    kind: str  # ok | idle | retry | backoff | auth | rejected | not_enrolled
    delay: float  # seconds until the next attempt
    detail: str = ""
    more: bool = False
    samples: int = 0
    accepted: int | None = None
    duplicates: int | None = None


class Uploader:
    """Sends spooled samples; `upload_once()` does one attempt and says when to try again."""

    def __init__(self, config: AgentConfig, spool: Spool, state: State,
                 machine: Callable[[], dict[str, Any] | None] = lambda: None,
                 on_instructions: Callable[[dict[str, Any]], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.spool = spool
        self.state = state
        self.machine = machine
        self.on_instructions = on_instructions
        self.rng = rng or random.Random()
        self.failures = 0
        self.batch_limit = config.batch_max_samples
        self.compress = True
        self.upload_interval_s = config.upload_interval_s
        self.send_machine = True  # first upload after start carries machine identity
        self.profile_slots = 8

    # ---- timing ----------------------------------------------------------------------------
    def backoff_delay(self) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**n)), never below one second."""
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, self.failures - 1))
        return max(1.0, self.rng.uniform(0, ceiling))

    def normal_delay(self) -> float:
        jitter = self.config.upload_jitter * self.upload_interval_s
        return max(0.05, self.upload_interval_s + self.rng.uniform(-jitter, jitter))

    # ---- one attempt -----------------------------------------------------------------------
    def upload_once(self) -> Outcome:
        cred = self.state.credential()
        if not cred or not cred.get("credential"):
            return Outcome("not_enrolled", self.normal_delay(), "not enrolled")
        status = self.state.status()
        if status.get("auth_failed") and status.get("auth_failed_credential") == \
                _fingerprint(cred["credential"]):
            return Outcome("auth", self.normal_delay(), "credential rejected; re-enroll")
        samples = self.spool.peek(self.batch_limit)
        if not samples:
            return Outcome("idle", self.normal_delay())
        inventory = self.spool.get_json("pending_inventory")
        profiles = self._profiles_within_budget()
        machine = self.spool.get_json("pending_machine")
        if machine is None and self.send_machine:
            machine = self.machine()
        fixes = journal.pending_reports(self.config.state_path)  # applied by `fix`, not sent
        report = build_report(samples, self.config, machine=machine, inventory=inventory,
                              profiles=[p for _, p in profiles], fixes=fixes,
                              salt=cred.get("machine_id", ""))
        url = self.base_url(cred) + (cred.get("report_url") or "/api/v1/reports")
        try:
            resp = transport.post_json(url, report, credential=cred["credential"],
                                       timeout=self.config.http_timeout_s,
                                       ca_file=self.config.ca_file, compress=self.compress)
        except transport.TransportError as exc:
            return self._failed(f"network: {exc}")
        ids = [s["id"] for s in samples]
        if resp.status == 200 or resp.status == 201 or resp.status == 202:
            journal.mark_reported(self.config.state_path, [f["id"] for f in fixes])
            return self._delivered(resp, ids, inventory, machine, [seq for seq, _ in profiles])
        if resp.status in (401, 403):
            self.state.update_status(auth_failed=True, auth_failed_at=iso(),
                                     auth_failed_credential=_fingerprint(cred["credential"]),
                                     last_error=f"HTTP {resp.status}: credential rejected; run "
                                                "`devfleet-agent enroll` again")
            return Outcome("auth", self.normal_delay(), "credential rejected")
        if resp.status == 429:
            wait = resp.retry_after()
            self.state.update_status(last_error=f"HTTP 429 at {iso()}; retry after {wait}s")
            return Outcome("retry", wait if wait is not None else self.backoff_delay(), "429")
        if resp.status == 415 and self.compress:
            self.compress = False
            return Outcome("retry", 0.0, "415: retrying without gzip")
        if resp.status == 413:
            return self._too_large(ids, resp, profiles)
        if resp.status in PERMANENT or resp.status == 415:
            return self._rejected(resp, ids, inventory, profiles, fixes)
        return self._failed(f"HTTP {resp.status}: {resp.text[:300]}")

    def base_url(self, cred: dict[str, Any]) -> str:
        return (self.config.server_url or cred.get("server_url") or "").rstrip("/")

    def _delivered(self, resp: transport.Response, ids: list[str], inventory: Any, machine: Any,
                   profile_seqs: list[int]) -> Outcome:
        self.spool.ack(ids)
        if inventory is not None:
            self.spool.set_json("pending_inventory", None)
        if machine is not None:
            self.spool.set_json("pending_machine", None)
            self.send_machine = False
        self.spool.ack_profiles(profile_seqs)
        self.failures = 0
        if self.batch_limit < self.config.batch_max_samples:
            self.batch_limit = min(self.config.batch_max_samples, self.batch_limit * 2)
        body = resp.body if isinstance(resp.body, dict) else {}
        self.state.update_status(last_upload_at=iso(), last_result="ok", last_error=None,
                                 auth_failed=False, last_accepted=body.get("accepted"),
                                 last_duplicates=body.get("duplicates"),
                                 clock_skew_s=body.get("clock_skew_s"))
        instructions = body.get("instructions")
        if isinstance(instructions, dict):
            self._apply(instructions)
        more = bool(self.spool.peek(1))
        delay = self.config.drain_interval_s if more else self.normal_delay()
        return Outcome("ok", delay, f"{len(ids)} samples", more=more, samples=len(ids),
                       accepted=_count(body.get("accepted")),
                       duplicates=_count(body.get("duplicates")))

    def _apply(self, instructions: dict[str, Any]) -> None:
        up = instructions.get("upload_interval_s")
        if self.config.follow_server_intervals and isinstance(up, (int, float)) and \
                not isinstance(up, bool) and 5 <= up <= 3600:
            self.upload_interval_s = float(up)
        if self.on_instructions:
            self.on_instructions(instructions)

    def _failed(self, detail: str) -> Outcome:
        self.failures += 1
        self.state.update_status(last_result="error", last_error=f"{iso()} {detail}"[:2000],
                                 consecutive_failures=self.failures)
        return Outcome("backoff", self.backoff_delay(), detail)

    def _profiles_within_budget(self) -> list[tuple[int, dict[str, Any]]]:
        """Pending profiles for this upload: at most profile_slots, PROFILE_BYTES of text."""
        out, used = [], 0
        for seq, prof in self.spool.peek_profiles(self.profile_slots):
            size = len(prof.get("text") or "")
            if out and used + size > PROFILE_BYTES:
                break
            out.append((seq, prof))
            used += size
        return out

    def _too_large(self, ids: list[str], resp: transport.Response,
                   profiles: list[tuple[int, Any]]) -> Outcome:
        if profiles and self.profile_slots > 1:
            self.profile_slots = 1
            return Outcome("retry", 0.0, "413: retrying with one profile per upload")
        if len(ids) > 1:
            self.batch_limit = max(1, len(ids) // 2)
            return Outcome("retry", 0.0, f"413: retrying with batches of {self.batch_limit}")
        if profiles:  # one sample plus one profile is still too big: drop the profile
            self.spool.note_rejection(413, _errors(resp), {"profiles": len(profiles)})
            self.spool.ack_profiles([seq for seq, _ in profiles])
            return Outcome("rejected", 0.0, "413: profile set aside")
        self.spool.set_aside(ids, 413, _errors(resp) or "a single sample is too large")
        self.state.update_status(last_rejection={"at": iso(), "status": 413, "ids": ids})
        return Outcome("rejected", 0.0, "413 on a single sample: set aside")

    def _rejected(self, resp: transport.Response, ids: list[str], inventory: Any,
                  profiles: list[tuple[int, Any]], fixes: list[dict[str, Any]]) -> Outcome:
        errors = _errors(resp)
        paths = [str(e.get("path", "")) for e in errors if isinstance(e, dict)]
        extras_only = bool(paths) and all(
            p.startswith(("$.inventory", "$.machine", "$.profiles", "$.fixes")) for p in paths)
        if any(p.startswith("$.fixes") for p in paths):  # never resend a rejected fix report
            journal.mark_reported(self.config.state_path, [f["id"] for f in fixes])
        if extras_only:  # keep the samples, drop the bad slow-changing part
            self.spool.note_rejection(resp.status, errors,
                                      {"inventory": inventory, "profiles": len(profiles)})
            self.spool.set_json("pending_inventory", None)
            self.spool.set_json("pending_machine", None)
            self.spool.ack_profiles([seq for seq, _ in profiles])
            self.send_machine = False
        else:
            self.spool.set_aside(ids, resp.status, errors or resp.text[:2000])
        self.state.update_status(
            last_rejection={"at": iso(), "status": resp.status, "errors": errors[:20],
                            "samples": 0 if extras_only else len(ids)},
            last_error=f"HTTP {resp.status}: batch rejected and set aside")
        return Outcome("rejected", 0.0, f"HTTP {resp.status}")

    # ---- loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, wake: threading.Event | None = None,
            first_delay: float = 0.0) -> None:
        delay = first_delay
        last: str | None = None
        while not stop.is_set():
            if wake is not None:
                wake.wait(delay)
                wake.clear()
            else:
                stop.wait(delay)
            if stop.is_set():
                break
            try:
                outcome = self.upload_once()
            except Exception as exc:  # never let the thread die
                self.state.update_status(last_error=f"uploader: {type(exc).__name__}: {exc}")
                delay = self.backoff_delay()
                log.exception("upload failed unexpectedly; next attempt in %s", _secs(delay))
                continue
            delay = outcome.delay
            self._log(outcome, last)
            last = outcome.kind

    def _log(self, outcome: Outcome, last_kind: str | None) -> None:
        """One line per upload attempt that did something; quiet while idle or waiting."""
        nxt = _secs(outcome.delay)
        if outcome.kind == "ok":
            log.info("uploaded %d samples: %s accepted, %s duplicates; next upload in %s",
                     outcome.samples, _or_unknown(outcome.accepted),
                     _or_unknown(outcome.duplicates),
                     f"{nxt} (more spooled)" if outcome.more else nxt)
        elif outcome.kind in ("retry", "backoff"):
            log.warning("upload not delivered (%s); next attempt in %s", outcome.detail, nxt)
        elif outcome.kind == "rejected":
            log.warning("upload rejected (%s); see `devfleet-agent status`", outcome.detail)
        elif outcome.kind in ("auth", "not_enrolled") and outcome.kind != last_kind:
            log.warning("not uploading: %s; samples keep spooling", outcome.detail)
        else:
            log.debug("upload: %s %s; next in %s", outcome.kind, outcome.detail, nxt)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _or_unknown(value: int | None) -> str:
    return "?" if value is None else str(value)


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _errors(resp: transport.Response) -> list[Any]:
    body = resp.body if isinstance(resp.body, dict) else {}
    errors = body.get("errors")
    return errors if isinstance(errors, list) else []


def _fingerprint(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()[:16]
