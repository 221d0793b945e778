"""The agent's outbox: every signed result is on disk before it is sent, and stays there until
the server has answered for it.

A volunteer's laptop inside a censored network loses the server often (the server itself may
be blocked); measuring must go on regardless, and a result must never be lost or counted twice.
So results are written here first (SQLite, WAL, synchronous=FULL), uploaded in batches, and
marked with the server's answer: accepted and duplicate are done, rejected is kept with the
reason for the volunteer to see, anything else (no answer, a 5xx) is tried again later with the
same id and the same signed bytes, which the server stores once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS results_pending ON results (state, created_at);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
DONE = ("accepted", "duplicate", "rejected")


@dataclass(frozen=True)
class Counts:
    pending: int
    accepted: int
    duplicate: int
    rejected: int


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, items: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC).isoformat()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO results (id, body, created_at) VALUES (?, ?, ?)",
                [(i["id"], json.dumps(i, ensure_ascii=False), now) for i in items],
            )

    def pending(self, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT body FROM results WHERE state = 'pending' ORDER BY created_at, id LIMIT ?",
            (limit,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def answer(self, answers: list[tuple[str, str, str | None]]) -> None:
        """Record the server's answer (id, status, reason) for each result it answered."""
        now = datetime.now(UTC).isoformat()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE results SET state = ?, reason = ?, answered_at = ? "
                "WHERE id = ? AND state = 'pending'",
                [(s, r, now, i) for i, s, r in answers if s in DONE],
            )

    def counts(self) -> Counts:
        got = dict(self.db.execute("SELECT state, count(*) FROM results GROUP BY state").fetchall())
        return Counts(
            got.get("pending", 0),
            got.get("accepted", 0),
            got.get("duplicate", 0),
            got.get("rejected", 0),
        )

    def rejected(self, limit: int = 20) -> list[tuple[str, str]]:
        return [
            (i, r or "")
            for i, r in self.db.execute(
                "SELECT id, reason FROM results WHERE state = 'rejected' "
                "ORDER BY answered_at DESC LIMIT ?",
                (limit,),
            )
        ]

    def get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
