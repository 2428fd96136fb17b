"""Durable sample spool: SQLite in WAL mode, written before sending, capped, drops oldest first."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, status INTEGER,
    errors TEXT, body TEXT NOT NULL);
"""
MAX_REJECTED_ROWS = 200


class Spool:
    """Thread-safe queue of samples keyed by their unique id (resends are idempotent)."""

    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        if self._meta_int("total_bytes", None) is None:
            total = self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM samples").fetchone()[0]
            self._set("total_bytes", total)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- meta ------------------------------------------------------------------------------
    def _meta_int(self, key: str, default: int | None = 0) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _set(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (key, str(value)))

    def _add(self, key: str, delta: int) -> None:
        self._set(key, (self._meta_int(key) or 0) + delta)

    def get_json(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_json(self, key: str, value: Any) -> None:
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._set(key, json.dumps(value, separators=(",", ":")))

    # ---- samples ---------------------------------------------------------------------------
    def add(self, sample: dict[str, Any]) -> int:
        """Store one sample (it must carry its `id`); returns how many old samples were dropped."""
        body = json.dumps(sample, separators=(",", ":"))
        size = len(body.encode("utf-8"))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO samples (id, created, bytes, body) VALUES (?, ?, ?, ?)",
                    (sample["id"], time.time(), size, body))
                if cur.rowcount:
                    self._add("total_bytes", size)
                dropped = self._enforce_cap()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def _enforce_cap(self) -> int:
        total = self._meta_int("total_bytes") or 0
        dropped = 0
        newest = self._db.execute("SELECT MAX(seq) FROM samples").fetchone()[0]
        while total > self.max_bytes and newest is not None:
            rows = self._db.execute(
                "SELECT seq, bytes FROM samples WHERE seq < ? ORDER BY seq LIMIT 256",
                (newest,)).fetchall()
            if not rows:
                break  # never drop the sample just written
            for seq, size in rows:
                if total <= self.max_bytes:
                    break
                self._db.execute("DELETE FROM samples WHERE seq = ?", (seq,))
                total -= size
                dropped += 1
        if dropped:
            self._set("total_bytes", total)
            self._add("dropped_samples", dropped)
        return dropped

    def peek(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM samples ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def ack(self, ids: list[str]) -> None:
        """Delete delivered samples."""
        self._remove(ids)

    def _remove(self, ids: list[str], status: int | None = None, errors: Any = None) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                freed = 0
                for sid in ids:
                    row = self._db.execute(
                        "SELECT bytes, body FROM samples WHERE id = ?", (sid,)).fetchone()
                    if not row:
                        continue
                    freed += row[0]
                    if status is not None:
                        self._db.execute(
                            "INSERT INTO rejected (at, status, errors, body) VALUES (?, ?, ?, ?)",
                            (time.time(), status, json.dumps(errors)[:20000], row[1]))
                    self._db.execute("DELETE FROM samples WHERE id = ?", (sid,))
                self._add("total_bytes", -freed)
                if status is not None:
                    self._add("rejected_batches", 1)
                    self._db.execute(
                        "DELETE FROM rejected WHERE seq <= (SELECT MAX(seq) FROM rejected) - ?",
                        (MAX_REJECTED_ROWS,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_aside(self, ids: list[str], status: int, errors: Any) -> None:
        """Move permanently rejected samples out of the queue (kept for inspection, capped)."""
        self._remove(ids, status, errors)

    def note_rejection(self, status: int, errors: Any, body: Any) -> None:
        """Record a rejected non-sample part (inventory, profiles) of a batch."""
        with self._lock:
            self._db.execute("INSERT INTO rejected (at, status, errors, body) VALUES (?, ?, ?, ?)",
                             (time.time(), status, json.dumps(errors)[:20000],
                              json.dumps(body)[:200000]))
            self._add("rejected_batches", 1)

    def rejected(self, limit: int = 5) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, status, errors FROM rejected ORDER BY seq DESC LIMIT ?",
                (limit,)).fetchall()
        return [{"at": at, "status": status, "errors": json.loads(err) if err else None}
                for at, status, err in rows]

    # ---- profiles --------------------------------------------------------------------------
    def add_profile(self, profile: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO profiles (body) VALUES (?)", (json.dumps(profile),))

    def peek_profiles(self, limit: int = 8) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM profiles ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def ack_profiles(self, seqs: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM profiles WHERE seq = ?", [(s,) for s in seqs])

    # ---- stats -----------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        with self._lock:
            depth = self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            return {"spool_depth": depth, "spool_bytes": self._meta_int("total_bytes") or 0,
                    "dropped_samples": self._meta_int("dropped_samples") or 0,
                    "rejected_batches": self._meta_int("rejected_batches") or 0}
