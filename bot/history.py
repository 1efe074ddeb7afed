"""The record of what curators changed: every import and every taught or forgotten word."""

from __future__ import annotations

import getpass
import sqlite3

from .db import Store, now_iso


def record(conn: sqlite3.Connection, who: str, action: str, what: str) -> None:
    """Add one entry, inside the caller's transaction so it stands or falls with the change."""
    conn.execute(
        "INSERT INTO history (at, who, action, what) VALUES (?, ?, ?, ?)",
        (now_iso(), who, action, what),
    )


def entries(store: Store, limit: int = 50) -> list[dict]:
    """The newest entries first."""
    rows = store.conn.execute(
        "SELECT at, who, action, what FROM history ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [{"at": at, "who": who, "action": a, "what": w} for at, who, a, w in rows]


def cli_user() -> str:
    """Who a command-line change is recorded as: the shell user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in some containers
        return "cli"
