"""--live: enroll and post over HTTP like real agents (gzip, Bearer, 429/5xx), in real time."""

from __future__ import annotations

import gzip
import heapq
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from django.utils import timezone

from apps.simulator.reports import MachineSim, iso, report
from apps.simulator.runner import Progress, RunConfig

LIVE_LABEL = "simulate_fleet --live"


@dataclass
class LiveConfig:
    server: str | None = None
    token: str | None = None
    workers: int = 8
    duration: float = 0.0  # seconds of real-time posting; 0 = until interrupted
    backfill_rate: float = 20.0  # uploads per second, all machines together
    backfill_batch: int = 240  # a backlog drains in big uploads, as an agent's spool does
    upload_every_s: float = 0.0  # 0: batch × interval (4 × 15 s = a minute)
    timeout_s: float = 30.0


class HttpError(Exception):
    def __init__(self, status: int, body: bytes, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status, self.retry_after = status, retry_after


def post_json(url: str, data: dict, credential: str | None, timeout: float) -> dict:
    body = gzip.compress(orjson.dumps(data), compresslevel=5)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": "devfleet-simulator/1",
    }
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        retry = exc.headers.get("Retry-After")
        raise HttpError(exc.code, exc.read(), float(retry) if retry else None) from exc


class RateGate:
    """Shared pacing: at most `rate` calls per second across threads."""

    def __init__(self, rate: float):
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.gap
        time.sleep(max(0.0, at - now))


class Agent:
    """One simulated agent: its credential, the samples not yet accepted, and when to post."""

    def __init__(self, sim: MachineSim, base: str, live: LiveConfig, stop: threading.Event):
        self.sim, self.base, self.live, self.stop = sim, base, live, stop
        self.credential: str | None = None
        self.pending: list[dict] = []
        self.first = True
        self.rejected = 0
        self.errors: list[str] = []
        self.token: str | None = None

    def enroll(self, token: str) -> None:
        self.token = token
        body = {"token": token, **self.sim.spec.identity()}
        answer = self._with_retries(
            lambda: post_json(f"{self.base}/api/v1/enroll", body, None, self.live.timeout_s)
        )
        self.credential = answer["credential"]

    def upload(self, samples: list[dict], progress: Progress, batch: int) -> None:
        """Post pending + new samples in batches; keeps what could not be sent for later."""
        self.pending.extend(samples)
        reenrolled = False
        while self.pending and not self.stop.is_set():
            part = self.pending[:batch]
            try:
                answer = self._post(part)
            except HttpError as exc:
                if exc.status == 401 and self.token and not reenrolled:
                    self.enroll(self.token)  # the credential was rotated elsewhere
                    reenrolled = True
                    self.first = True
                    continue
                if exc.status in (0, 401):
                    return  # stopping, or no way to get a credential: keep the samples
                self.rejected += 1  # 400/413: an agent drops the batch and carries on
                self.errors.append(str(exc)[:300])
                answer = {"accepted": 0}
            del self.pending[:batch]
            self.first = False
            progress.add(len(part), int(answer.get("accepted", 0)))

    def _post(self, part: list[dict]) -> dict:
        payload = report(self.sim, part, time.time(), self.first)
        payload["sent_at"] = iso(time.time())  # the agent's clock at upload: real time
        return self._with_retries(
            lambda: post_json(
                f"{self.base}/api/v1/reports", payload, self.credential, self.live.timeout_s
            )
        )

    def _with_retries(self, call):
        """429: wait Retry-After; 5xx and network errors: exponential backoff (max 60 s)."""
        delay = 1.0
        while True:
            try:
                return call()
            except HttpError as exc:
                if exc.status == 429:
                    wait = exc.retry_after or delay
                elif exc.status >= 500:
                    wait, delay = delay, min(60.0, delay * 2)
                else:
                    raise
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                wait, delay = delay, min(60.0, delay * 2)
            if self.stop.wait(wait):
                raise HttpError(0, b"stopped")


def _tokens(cfg: RunConfig, live: LiveConfig, specs) -> dict[str, str]:
    if live.token:
        return {spec.team: live.token for spec in specs}
    from apps.fleet.models import EnrollmentToken
    from apps.fleet.services import create_enrollment_token

    tokens = {}
    for team in sorted({spec.team for spec in specs}):
        # One live token per team: restarting the demo replaces the previous run's token
        # (its secret is stored hashed and cannot be reused) instead of piling them up.
        EnrollmentToken.objects.active().filter(team__name=team, label=LIVE_LABEL).update(
            revoked_at=timezone.now()
        )
        tokens[team] = create_enrollment_token(team, label=LIVE_LABEL)[1]
    return tokens


def run_live(cfg: RunConfig, live: LiveConfig, write=print, every_s: float = 3.0) -> Progress:
    """Enroll over HTTP, backfill the history at a bounded rate, then post in real time."""
    from django.conf import settings

    base = (live.server or settings.DEVFLEET_BASE_URL).rstrip("/")
    specs = cfg.fleet()
    tokens = _tokens(cfg, live, specs)
    stop = threading.Event()
    agents = [Agent(MachineSim(spec, cfg.interval), base, live, stop) for spec in specs]
    progress = Progress(write, len(agents), len(agents) * cfg.samples_per_machine(), every_s)
    gate = RateGate(live.backfill_rate)
    end = cfg.end
    batch = max(cfg.batch, live.backfill_batch)
    live.upload_every_s = live.upload_every_s or cfg.batch * cfg.interval

    def backfill(agent: Agent) -> None:
        agent.enroll(tokens[agent.sim.spec.team])
        samples = agent.sim.samples(cfg.start, end)
        for i in range(0, len(samples), batch):
            gate.wait()
            agent.upload(samples[i : i + batch], progress, batch)
        progress.add(0, machine_done=True)

    pool = ThreadPoolExecutor(max(1, live.workers))
    try:
        list(pool.map(backfill, agents))
        write(progress.line() + " — history sent; posting in real time")
        _realtime(agents, pool, live, progress, end, cfg.batch, stop)
    except KeyboardInterrupt:
        write("interrupted")
    finally:
        stop.set()  # uploads in flight give up their retries; unsent samples are dropped
        pool.shutdown(wait=True, cancel_futures=True)
    for agent in agents:
        if agent.rejected:
            spec = agent.sim.spec
            write(f"{spec.machine_id}: {agent.rejected} batches rejected, e.g. {agent.errors[0]}")
    return progress


def _realtime(agents, pool, live: LiveConfig, progress, since: float, batch, stop) -> None:
    """Every agent posts once per upload interval, spread evenly across the interval."""
    started = time.time()
    deadline = started + live.duration if live.duration else float("inf")
    last = {id(a): since for a in agents}
    due = [(started + live.upload_every_s * (i + 1) / len(agents), i) for i in range(len(agents))]
    heapq.heapify(due)
    progress.total_samples = 0
    busy: dict[int, object] = {}
    while due and not stop.is_set():
        at, i = heapq.heappop(due)
        if at > deadline:
            break
        time.sleep(max(0.0, at - time.time()))
        agent = agents[i]
        if i in busy and not busy[i].done():  # still retrying: try again next round
            heapq.heappush(due, (at + live.upload_every_s, i))
            continue
        if i in busy and busy[i].exception() is not None:
            agent.errors.append(repr(busy[i].exception())[:300])
            agent.rejected += 1
        now = time.time()
        samples = agent.sim.samples(last[id(agent)], now)
        if samples:
            last[id(agent)] = now
            busy[i] = pool.submit(agent.upload, samples, progress, 1000)
        heapq.heappush(due, (at + live.upload_every_s, i))
    stop.set()
