"""What the bot keeps per chat in SQLite: the last question (for follow-ups), suggestion
buttons, and moving both when a group becomes a supergroup."""

from __future__ import annotations

import json
import time

from .. import subscriptions
from ..db import Store
from ..models import PeriodSpec, Query

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
    with store.lock:
        store.conn.execute(
            "INSERT INTO chat_state (chat_id, query, at) VALUES (?, ?, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET query = excluded.query, at = excluded.at",
            (chat_id, query_to_json(query), time.time()),
        )


def previous_query(store: Store, chat_id: int, ttl_seconds: float) -> Query | None:
    """The chat's last answered question, if it is recent enough to follow up on."""
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
    """A short id for a suggestion, so callback data stays far below Telegram's 64 bytes."""
    with store.lock:
        store.conn.execute(
            "INSERT INTO suggestion_buttons (text, at) VALUES (?, ?) "
            "ON CONFLICT(text) DO UPDATE SET at = excluded.at",
            (text, time.time()),
        )
        return store.conn.execute(
            "SELECT id FROM suggestion_buttons WHERE text = ?", (text,)
        ).fetchone()[0]


def button_text(store: Store, ident: int) -> str | None:
    row = store.conn.execute(
        "SELECT text FROM suggestion_buttons WHERE id = ?", (ident,)
    ).fetchone()
    return row[0] if row else None


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
