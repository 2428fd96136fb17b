"""manage.py simulate_fleet: realistic agent reports for N machines over H hours."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError

from apps.simulator import manifest as manifest_mod
from apps.simulator.runner import RunConfig, run_direct
from apps.simulator.scenarios import SCENARIOS


def _parse_end(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--end: not an ISO 8601 time: {value}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class Command(BaseCommand):
    help = (
        "Simulate a fleet of developer machines: N machines over the last H hours, sent through "
        "the real ingest path (or over HTTP with --live), with a ground-truth manifest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--machines", type=int, default=10)
        parser.add_argument("--hours", type=float, default=6.0, help="History to generate.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same fleet.")
        parser.add_argument(
            "--team",
            action="append",
            default=None,
            help="Team name (repeatable); default: several teams.",
        )
        parser.add_argument("--end", default=None, help="End of the window (ISO 8601); now.")
        parser.add_argument(
            "--interval",
            type=int,
            default=15,
            help="Seconds between samples (default 15, like agents).",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=0,
            help="Samples per upload (default: one upload a minute).",
        )
        parser.add_argument(
            "--start-index",
            type=int,
            default=0,
            help="Index of the first machine (to add machines to a fleet).",
        )
        parser.add_argument("--prefix", default="sim", help="Machine id prefix.")
        parser.add_argument(
            "--scenario",
            action="append",
            default=None,
            choices=sorted(SCENARIOS),
            help="Give every machine exactly this problem (repeatable); default: a realistic mix.",
        )
        parser.add_argument("--manifest", default=None, help="Write the ground truth JSON here.")
        parser.add_argument(
            "--live",
            action="store_true",
            help="Post over HTTP, then keep posting every minute in real time.",
        )
        parser.add_argument("--server", default=None, help="Server URL for --live.")
        parser.add_argument(
            "--token",
            default=None,
            help="Enrollment token for --live (default: one per team, created in this database; "
            "needed when --server is another deployment).",
        )
        parser.add_argument("--workers", type=int, default=8, help="Concurrent posters (--live).")
        parser.add_argument(
            "--duration",
            type=float,
            default=0.0,
            help="Seconds of real-time posting with --live (0 = until Ctrl-C).",
        )
        parser.add_argument(
            "--backfill-rate",
            type=float,
            default=20.0,
            help="Max backfill uploads per second with --live.",
        )
        parser.add_argument(
            "--progress-every", type=float, default=3.0, help="Seconds between progress lines."
        )

    def handle(self, *args, **opts):
        if opts["machines"] < 1 or opts["hours"] < 0 or opts["interval"] < 1:
            raise CommandError("--machines must be >= 1, --hours >= 0, --interval >= 1")
        cfg = RunConfig(
            machines=opts["machines"],
            hours=opts["hours"],
            seed=opts["seed"],
            end=_parse_end(opts["end"]),
            interval=opts["interval"],
            batch=opts["batch"] or max(1, round(60 / opts["interval"])),
            start_index=opts["start_index"],
            prefix=opts["prefix"],
        )
        cfg.force = opts["scenario"]
        if opts["team"]:
            cfg.teams = [t.strip() for t in opts["team"] if t.strip()]
        specs = cfg.fleet()
        truth = manifest_mod.build(specs, cfg.seed, cfg.start, cfg.end, cfg.interval)
        if opts["manifest"]:
            with open(opts["manifest"], "w", encoding="utf-8") as fh:
                json.dump(truth, fh, indent=1)
        for line in manifest_mod.summary_lines(truth):
            self.stdout.write(line)
        write = self.stdout.write
        if opts["live"]:
            from apps.simulator.live import LiveConfig, run_live

            live = LiveConfig(
                server=opts["server"],
                token=opts["token"],
                workers=opts["workers"],
                duration=opts["duration"],
                backfill_rate=opts["backfill_rate"],
            )
            progress = run_live(cfg, live, write, every_s=opts["progress_every"])
        else:
            from apps.fleet.services import EnrollmentError

            try:
                progress = run_direct(cfg, write, every_s=opts["progress_every"], specs=specs)
            except EnrollmentError as exc:  # e.g. --team changed for machine ids enrolled before
                raise CommandError(f"enrollment refused: {exc}") from exc
            # run_direct rolled the backfill up (late data) and forgot its pending ranges, so
            # 24 h, 7 d and 30 d views show it whether or not a worker runs.
        elapsed = progress.elapsed()
        self.stdout.write(
            f"done: {progress.machines} machines, {progress.samples:,} samples in "
            f"{progress.uploads:,} uploads ({progress.stored:,} new) in {elapsed:.1f} s, "
            f"{progress.samples / max(elapsed, 1e-6):,.0f} samples/s"
        )
