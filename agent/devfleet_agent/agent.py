"""Agent runtime: collection cycles → spool, inventory change tracking, uploader thread."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from devfleet_agent import identity, profiles
from devfleet_agent.collectors import CollectorContext
from devfleet_agent.config import AgentConfig
from devfleet_agent.scheduler import CycleResult, Scheduler
from devfleet_agent.spool import Spool
from devfleet_agent.state import State
from devfleet_agent.timefmt import iso
from devfleet_agent.uploader import Uploader

log = logging.getLogger("devfleet_agent")
EXIT_OVER_BUDGET = 75
FLUSH_BUDGET_S = 10.0  # on stop; well inside a service manager's stop timeout


class Agent:
    """Owns the collectors' context, the spool and (in `run`) the uploader thread."""

    def __init__(self, config: AgentConfig, *, dry_run: bool = False) -> None:
        self.config = config
        self.state = State(config.state_path)
        self.dry_run = dry_run
        self.ctx = CollectorContext(
            config=config, proc_root=Path(config.proc_root), sys_root=Path(config.sys_root),
            fs_root=Path(config.fs_root), state_dir=config.state_path)
        self.scheduler = Scheduler(self.ctx)
        self.spool: Spool | None = None if dry_run else Spool(self.state.spool_file,
                                                              config.spool_max_bytes)
        self.inventory: dict[str, Any] = {}
        self.inventory_hash: str | None = None
        self.inventory_sent_at = 0.0
        self.machine: dict[str, Any] | None = None
        self.machine_hash: str | None = None
        self.collect_interval_s = config.collect_interval_s
        self.requests: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen_requests: set[str] = set()
        self.pending_profiles: list[dict[str, Any]] = []
        self._me = psutil.Process()
        self._last_errors: list[str] = []

    # ---- one cycle -------------------------------------------------------------------------
    def collect(self, force_all: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Run due collectors once → (sample, inventory to send or None)."""
        cpu0 = time.process_time()
        res = self.scheduler.run_cycle(force_all=force_all)
        sample: dict[str, Any] = {"id": str(uuid.uuid4()), "collected_at": iso(),
                                  "interval_s": self.collect_interval_s}
        sample.update(res.sample)
        sample["errors"] = res.errors[:64]
        inventory = None
        if res.ran_inventory:
            self.inventory.update(res.inventory)
            inventory = self._inventory_if_due()
            self._refresh_machine()
        self._capture_requested_profiles()
        sample["agent"] = self._self_metrics((time.process_time() - cpu0) * 1000.0, res)
        return sample, inventory

    def _inventory_if_due(self) -> dict[str, Any] | None:
        digest = _digest(self.inventory)
        now = time.time()
        if digest == self.inventory_hash and now - self.inventory_sent_at < \
                self.config.inventory_resend_s:
            return None
        self.inventory_hash, self.inventory_sent_at = digest, now
        return dict(self.inventory, collected_at=iso(now))

    def machine_facts(self) -> dict[str, Any]:
        if self.machine is None:
            self._refresh_machine()
        return self.machine or {}

    def _refresh_machine(self) -> None:
        facts = identity.machine_facts(self.ctx)
        digest = _digest({k: v for k, v in facts.items() if k != "boot_time"})
        if digest != self.machine_hash and self.machine_hash is not None and self.spool:
            self.spool.set_json("pending_machine", facts)
        self.machine, self.machine_hash = facts, digest

    def _self_metrics(self, cpu_ms: float, res: CycleResult) -> dict[str, Any]:
        try:
            rss = self._me.memory_info().rss
        except psutil.Error:
            rss = None
        stats = self.spool.stats() if self.spool else {}
        return {"cpu_ms": round(cpu_ms, 3), "rss_bytes": rss,
                "spool_depth": stats.get("spool_depth"), "spool_bytes": stats.get("spool_bytes"),
                "dropped_samples": stats.get("dropped_samples"),
                "rejected_batches": stats.get("rejected_batches"),
                "collector_ms": res.durations_ms, "backed_off": res.backed_off}

    def spool_cycle(self) -> dict[str, Any]:
        """Collect once and write the sample (and any due inventory) to the spool."""
        assert self.spool is not None
        sample, inventory = self.collect()
        if inventory is not None:
            self.spool.set_json("pending_inventory", inventory)
        for prof in self.pending_profiles:
            self.spool.add_profile(prof)
        self.pending_profiles.clear()
        errors = [f"{e['collector']}: {e['message']}" for e in sample.get("errors", [])][:10]
        if errors != self._last_errors:  # status.json is rewritten only when errors change
            self._last_errors = errors
            self.state.update_status(collector_errors=errors, collector_errors_at=iso())
        dropped = self.spool.add(sample)
        if dropped:
            log.warning("spool over its cap: dropped the %d oldest samples", dropped)
        return sample

    # ---- server instructions ---------------------------------------------------------------
    def on_instructions(self, instructions: dict[str, Any]) -> None:
        """Called from the uploader thread with the server's instructions."""
        ci = instructions.get("collect_interval_s")
        if self.config.follow_server_intervals and isinstance(ci, (int, float)) and \
                not isinstance(ci, bool) and 5 <= ci <= 3600:
            self.collect_interval_s = float(ci)
        requests = instructions.get("capture_profiles")
        for req in requests if isinstance(requests, list) else []:
            if isinstance(req, dict) and str(req.get("request_id")) not in self.seen_requests:
                self.seen_requests.add(str(req.get("request_id")))
                self.requests.put(req)

    def _capture_requested_profiles(self) -> None:
        while True:
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                return
            self.pending_profiles.extend(profiles.capture(self.ctx, req))

    # ---- foreground service ----------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, max_cycles: int | None = None) -> int:
        assert self.spool is not None
        stop = stop or threading.Event()
        wake = threading.Event()
        uploader = Uploader(self.config, self.spool, self.state, self.machine_facts,
                            self.on_instructions)
        thread = threading.Thread(target=uploader.run, name="uploader", daemon=True,
                                  args=(stop, wake, min(self.config.upload_interval_s,
                                                        self.collect_interval_s + 1.0)))
        _install_signals(stop, wake)
        self.state.update_status(pid=os.getpid(), started_at=iso(), running=True)
        thread.start()
        cycles = 0
        next_t = time.monotonic()
        code = 0
        try:
            while not stop.is_set():
                try:
                    self.spool_cycle()
                except Exception as exc:  # keep going: the spool or a bug must not kill us
                    log.exception("collection cycle failed: %s", exc)
                cycles += 1
                if max_cycles is not None and cycles >= max_cycles:
                    break
                rss = self._me.memory_info().rss
                if rss > self.config.max_rss_mb * 1024 * 1024:
                    log.error("agent RSS %d MB is over max_rss_mb; exiting to be restarted",
                              rss // 2**20)
                    code = EXIT_OVER_BUDGET
                    break
                next_t += self.collect_interval_s
                now = time.monotonic()
                if next_t < now:
                    next_t = now
                stop.wait(next_t - now)
        finally:
            stop.set()
            wake.set()
            thread.join(timeout=self.config.http_timeout_s + 5)
            self._flush_on_stop(uploader, busy=thread.is_alive())
            self.state.update_status(running=False, stopped_at=iso())
        return code

    def _flush_on_stop(self, uploader: Uploader, busy: bool) -> None:
        """Try to send what is spooled (bounded in time), then say what was kept and why."""
        assert self.spool is not None
        depth = self.spool.stats().get("spool_depth") or 0
        why = ""
        if depth and busy:
            why = "an upload was still in flight"
        elif depth and not self.state.credential():
            why = "not enrolled"
        elif depth:
            deadline = time.monotonic() + FLUSH_BUDGET_S
            outcome = None
            while time.monotonic() < deadline:
                try:
                    outcome = uploader.upload_once()
                except Exception as exc:  # stopping anyway: keep the spool
                    why = f"{type(exc).__name__}: {exc}"
                    break
                if outcome.kind != "ok" or not outcome.more:
                    break
            if outcome is not None and outcome.kind not in ("ok", "idle"):
                why = outcome.detail or outcome.kind
            depth = self.spool.stats().get("spool_depth") or 0
            if depth and not why:
                why = f"no time left after {FLUSH_BUDGET_S:.0f} s"
        if depth:
            log.info("stopped: %d samples kept in the spool (%s); they are sent at the next "
                     "start", depth, why)
        else:
            log.info("stopped: spool flushed, nothing left to send")


def _install_signals(stop: threading.Event, wake: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
