"""The outbox as stored: one row per chat per push, claimed by a deliverer and marked with
its outcome. Every state change is committed before and after each send, so a restart resumes
where delivery stopped."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from .db import Store
from .subscriptions import ensure_schema

log = logging.getLogger("marketbot.outbox")


class OutboxRow(NamedTuple):
    id: int
    push_id: int
    chat_id: int
    thread_id: int | None
    topics: str
    lang: str
    attempts: int
    period: str


class OutboxQueue:
    """Due rows in, outcomes out; the SQL side of delivery."""

    def __init__(self, store: Store) -> None:
        ensure_schema(store)
        self.store = store

    def recover(self) -> int:
        """Rows left 'sending' by a crash are due again (they may arrive twice)."""
        with self.store.lock:
            n = self.store.conn.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE state = 'sending'",
                (time.time(),),
            ).rowcount
        if n:
            log.warning("%d push message(s) were in flight at the last stop: sending again", n)
        return n

    def claim(self, limit: int) -> list[OutboxRow]:
        """Mark up to ``limit`` due rows 'sending' (atomically) and return them."""
        if limit <= 0:
            return []
        with self.store.lock:
            rows = self.store.conn.execute(
                "UPDATE outbox SET state = 'sending' WHERE id IN (SELECT id FROM outbox "
                "WHERE state = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?) "
                "RETURNING id, push_id, chat_id, thread_id, topics, lang, attempts",
                (time.time(), limit),
            ).fetchall()
            periods = {}
            for pid in {r[1] for r in rows}:
                row = self.store.conn.execute(
                    "SELECT period FROM pushes WHERE id = ?", (pid,)
                ).fetchone()
                periods[pid] = row[0] if row else ""
        rows.sort(key=lambda r: r[0])
        return [OutboxRow(*r, periods[r[1]]) for r in rows]

    def next_due_in(self) -> float | None:
        """Seconds until the next pending row is due (0 if now), None if nothing is pending."""
        with self.store.lock:
            row = self.store.conn.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        if not row or row[0] is None:
            return None
        return max(0.0, row[0] - time.time())

    def update(self, row_id: int, sql: str, args: Iterable[Any]) -> None:
        with self.store.lock:
            self.store.conn.execute(f"UPDATE outbox SET {sql} WHERE id = ?", (*args, row_id))
