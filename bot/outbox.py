"""The outbox as stored: one row per chat per push, claimed by a deliverer under a lease and
marked with its outcome. Every state change is committed before and after each send, so a
restart resumes where delivery stopped.

Leases: a claimed row carries its deliverer (``owner``) and ``lease_until``. Deliverers
register in ``deliverers`` and renew their registration and their rows' leases while they
run. Recovery re-queues only rows whose lease has expired or whose deliverer is gone (a
process on this host that no longer exists), never a live deliverer's rows. Only one
deliverer runs at a time (see :meth:`OutboxQueue.register`), so one pacer paces every send.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from .db import Store, pid_alive
from .subscriptions import ensure_schema

log = logging.getLogger("marketbot.outbox")

LEASE_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliverers (
    owner TEXT PRIMARY KEY, kind TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_at REAL NOT NULL, lease_until REAL NOT NULL
);
"""


class OutboxRow(NamedTuple):
    id: int
    push_id: int
    chat_id: int
    thread_id: int | None
    topics: str
    lang: str
    attempts: int
    period: str


class Deliverer(NamedTuple):
    owner: str
    kind: str  # "bot" (`marketbot run`) or "drain" (`marketbot push --drain`)
    host: str
    pid: int
    lease_until: float

    def describe(self) -> str:
        what = "marketbot run" if self.kind == "bot" else "marketbot push --drain"
        return f"{what} (pid {self.pid} on {self.host})"


def ensure_lease_schema(store: Store) -> None:
    """The deliverers table and the outbox's lease columns (added to older stores)."""
    ensure_schema(store)
    with store.lock:
        store.conn.executescript(_SCHEMA)
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(outbox)")}
        for name, kind in (("owner", "TEXT"), ("lease_until", "REAL")):
            if name not in columns:
                with contextlib.suppress(Exception):  # another process added it just now
                    store.conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")


class OutboxQueue:
    """Due rows in, outcomes out; the SQL side of delivery, for one deliverer."""

    def __init__(
        self, store: Store, *, kind: str = "bot", lease_seconds: float = LEASE_SECONDS
    ) -> None:
        ensure_lease_schema(store)
        self.store = store
        self.kind = kind
        self.lease_seconds = lease_seconds
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"

    # -- deliverers

    def _alive(self, d: Deliverer, now: float) -> bool:
        if d.host == self.host:
            return pid_alive(d.pid)  # on this host a crash is seen at once
        return d.lease_until > now

    def live_deliverers(self) -> list[Deliverer]:
        """Registered deliverers still running, this one excluded."""
        now = time.time()
        rows = self.store.conn.execute(
            "SELECT owner, kind, host, pid, lease_until FROM deliverers WHERE owner != ?",
            (self.owner,),
        ).fetchall()
        return [d for d in map(Deliverer._make, rows) if self._alive(d, now)]

    def register(self) -> Deliverer | None:
        """Become the deliverer, or return the live one that already is (and register nothing).

        One deliverer at a time: two processes would each pace at Telegram's limit and meet
        429s together; sharing one pace across processes would cost a write per message.
        """
        now = time.time()
        with self.store.transaction() as conn:
            others = self.live_deliverers()
            if others:
                return others[0]
            conn.execute("DELETE FROM deliverers WHERE owner != ?", (self.owner,))
            conn.execute(
                "INSERT INTO deliverers (owner, kind, host, pid, started_at, lease_until) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(owner) DO UPDATE SET "
                "lease_until = excluded.lease_until",
                (self.owner, self.kind, self.host, os.getpid(), now, now + self.lease_seconds),
            )
        return None

    def heartbeat(self) -> None:
        """Renew this deliverer's registration and the leases of the rows it is sending."""
        until = time.time() + self.lease_seconds
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE deliverers SET lease_until = ? WHERE owner = ?", (until, self.owner)
            )
            conn.execute(
                "UPDATE outbox SET lease_until = ? WHERE state = 'sending' AND owner = ?",
                (until, self.owner),
            )

    def unregister(self) -> None:
        with self.store.lock:
            self.store.conn.execute("DELETE FROM deliverers WHERE owner = ?", (self.owner,))

    # -- rows

    def recover(self) -> int:
        """Rows whose lease expired or whose deliverer is gone are due again.

        Those were in flight when their deliverer stopped: they may arrive twice.
        """
        now = time.time()
        with self.store.transaction() as conn:
            live = [d.owner for d in self.live_deliverers()] + [self.owner]
            marks = ",".join("?" * len(live))
            n = conn.execute(
                "UPDATE outbox SET state = 'pending', owner = NULL, lease_until = NULL, "
                "next_attempt_at = ? WHERE state = 'sending' AND (lease_until IS NULL "
                f"OR lease_until < ? OR owner IS NULL OR owner NOT IN ({marks}))",
                (now, now, *live),
            ).rowcount
        if n:
            log.warning(
                "%d push message(s) were in flight when a deliverer stopped: sending again", n
            )
        return n

    def claim(self, limit: int) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows to this deliverer (atomically) and return them."""
        if limit <= 0:
            return []
        now = time.time()
        with self.store.transaction() as conn:
            rows = conn.execute(
                "UPDATE outbox SET state = 'sending', owner = ?, lease_until = ? "
                "WHERE id IN (SELECT id FROM outbox "
                "WHERE state = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?) "
                "RETURNING id, push_id, chat_id, thread_id, topics, lang, attempts",
                (self.owner, now + self.lease_seconds, now, limit),
            ).fetchall()
            periods = {}
            for pid in {r[1] for r in rows}:
                row = conn.execute("SELECT period FROM pushes WHERE id = ?", (pid,)).fetchone()
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
        """Record an outcome of a row this deliverer holds (and release its lease)."""
        with self.store.lock:
            self.store.conn.execute(
                f"UPDATE outbox SET {sql}, owner = NULL, lease_until = NULL "
                "WHERE id = ? AND owner = ?",
                (*args, row_id, self.owner),
            )
