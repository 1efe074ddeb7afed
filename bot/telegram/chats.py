"""What the bot keeps per chat in SQLite: the last question (for follow-ups), suggestion
buttons, unanswered questions, and moving them when a group becomes a supergroup.

The answer path's writes here go through the background writer (`bot.telegram.writer`): a
reply never waits for SQLite's write lock. Until a write lands, readers see its pending value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
import weakref

from .. import subscriptions
from ..db import Store
from ..models import PeriodSpec, Query
from .writer import writer_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_state (
    chat_id INTEGER PRIMARY KEY, query TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestion_buttons (
    id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE, at REAL NOT NULL
);
"""

# Tables keyed by chat id that must follow a group to its new supergroup id: its follow-up
# state, its subscriptions and its undelivered pushes.
CHAT_TABLES: list[tuple[str, str]] = [
    ("chat_state", "chat_id"),
    ("subscriptions", "chat_id"),
    ("outbox", "chat_id"),
]


def ensure_schema(store: Store) -> None:
    subscriptions.ensure_schema(store)
    store.conn.executescript(_SCHEMA)


def query_to_json(query: Query) -> str:
    d = query._asdict()
    d["periods"] = [list(p) for p in query.periods]
    return json.dumps(d, ensure_ascii=False)


def query_from_json(text: str) -> Query:
    d = json.loads(text)
    d["periods"] = tuple(PeriodSpec(*p) for p in d["periods"])
    for key in ("metrics", "segments", "platforms", "unknown"):
        d[key] = tuple(d[key])
    return Query(**d)


def remember_query(store: Store, chat_id: int, query: Query) -> None:
    """Keep the chat's last answered question for follow-ups, written in the background.

    Until the write lands (the store may be locked by an ingest) the pending value is what
    :func:`previous_query` reads, so a quick follow-up still sees it.
    """
    text, at = query_to_json(query), time.time()
    pending = _pending_queries(store)
    pending[chat_id] = (text, at)

    def write(db: Store) -> None:
        db.conn.execute(
            "INSERT INTO chat_state (chat_id, query, at) VALUES (?, ?, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET query = excluded.query, at = excluded.at",
            (chat_id, text, at),
        )
        if pending.get(chat_id) == (text, at):
            pending.pop(chat_id, None)

    if not writer_for(store).submit(write):
        pending.pop(chat_id, None)


def previous_query(store: Store, chat_id: int, ttl_seconds: float) -> Query | None:
    """The chat's last answered question, if it is recent enough to follow up on."""
    row = _pending_queries(store).get(chat_id)
    if row is None:
        row = store.conn.execute(
            "SELECT query, at FROM chat_state WHERE chat_id = ?", (chat_id,)
        ).fetchone()
    if not row or time.time() - row[1] > ttl_seconds:
        return None
    try:
        return query_from_json(row[0])
    except (ValueError, TypeError, KeyError):
        return None  # written by an older version: no follow-up rather than a crash


def button_id(store: Store, text: str) -> int:
    """A short id for a suggestion, so callback data stays far below Telegram's 64 bytes.

    Derived from the text (no write needed to know it); the row is written in the background.
    """
    ident = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest()) >> 1
    pending = _pending_buttons(store)
    if ident in pending or len(pending) > 10_000:
        return ident
    pending[ident] = text

    def write(db: Store) -> None:
        with contextlib.suppress(sqlite3.IntegrityError):  # another text with this id: keep it
            db.conn.execute(
                "INSERT INTO suggestion_buttons (id, text, at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET at = excluded.at WHERE text = excluded.text "
                # a row from an older version (a counter id): it takes the new id
                "ON CONFLICT(text) DO UPDATE SET id = excluded.id, at = excluded.at",
                (ident, text, time.time()),
            )
        pending.pop(ident, None)

    if not writer_for(store).submit(write):
        pending.pop(ident, None)
    return ident


def button_text(store: Store, ident: int) -> str | None:
    text = _pending_buttons(store).get(ident)
    if text is not None:
        return text
    row = store.conn.execute(
        "SELECT text FROM suggestion_buttons WHERE id = ?", (ident,)
    ).fetchone()
    return row[0] if row else None


def record_unanswered(store: Store, text: str, normalized: str, status: str, kind: str) -> None:
    """Log a question the store could not answer (for `marketbot unanswered`), in the background."""
    writer_for(store).submit(
        lambda db: db.record_unanswered(text, normalized, status, kind, defer=False)
    )


# Writes queued but not yet applied, per store object: what the readers above see first.
_pending: weakref.WeakKeyDictionary[Store, tuple[dict, dict]] = weakref.WeakKeyDictionary()


def _pending_for(store: Store) -> tuple[dict, dict]:
    found = _pending.get(store)
    if found is None:
        found = _pending[store] = ({}, {})
    return found


def _pending_queries(store: Store) -> dict[int, tuple[str, float]]:
    return _pending_for(store)[0]


def _pending_buttons(store: Store) -> dict[int, str]:
    return _pending_for(store)[1]


def migrate_chat(store: Store, old_id: int, new_id: int) -> None:
    """Move everything kept for a group to its new supergroup id.

    Telegram sends two service messages (one in each chat), so this runs twice: the second
    time nothing is left under the old id and nothing changes.
    """
    with store.transaction() as conn:
        for table, column in CHAT_TABLES:
            conn.execute(
                f"UPDATE OR REPLACE {table} SET {column} = ? WHERE {column} = ?", (new_id, old_id)
            )


def migrate_chat_later(store: Store, old_id: int, new_id: int) -> None:
    """`migrate_chat` through the background writer: after the chat's pending follow-up and
    button writes (so none lands under the old id), and off the event loop."""
    writer_for(store).submit(lambda db: migrate_chat(db, old_id, new_id))
