"""Subscriptions and pushes as stored: who wants which market's quarterly summary, and the
queue of summaries to deliver.

A chat subscribes to everything (topic ``*``) or to a market segment. When a new quarter's
figures arrive, :func:`queue_push` writes one ``pushes`` row and one ``outbox`` row per chat to
notify (one message per chat, whatever the number of its topics); `bot.outbox` hands those rows
to a deliverer. Nothing here talks to Telegram.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection
from typing import Any, NamedTuple

from .db import Store, now_iso
from .models import Lang, Period
from .parse import parse_question
from .vocab import is_cjk

log = logging.getLogger("marketbot.subscriptions")

TOPIC_ALL = "*"
ALL_WORDS = frozenset({"all", "everything", "every", "*", "全部", "所有", "全部市场", "全部主题"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    chat_id INTEGER NOT NULL, topic TEXT NOT NULL, thread_id INTEGER,
    lang TEXT NOT NULL DEFAULT 'en', active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deactivated_reason TEXT,
    PRIMARY KEY (chat_id, topic)
);
CREATE INDEX IF NOT EXISTS subscriptions_active ON subscriptions (active, chat_id);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY, period TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '*',
    created_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued'
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, push_id INTEGER NOT NULL REFERENCES pushes(id),
    chat_id INTEGER NOT NULL, thread_id INTEGER, topics TEXT NOT NULL DEFAULT '*',
    lang TEXT NOT NULL DEFAULT 'en', state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT, sent_at TEXT,
    UNIQUE (push_id, chat_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
"""


def ensure_schema(store: Store) -> None:
    """Create the subscription, push and outbox tables if missing (idempotent)."""
    with store.lock:
        store.conn.executescript(_SCHEMA)


def lang_text(lang: str, en: str, zh: str) -> str:
    """The Chinese text for ``zh``, else the English."""
    return zh if lang == "zh" else en


def text_lang(text: str, fallback: Lang = "en") -> Lang:
    """``zh`` when the text is written in Chinese script, else ``fallback``."""
    if any(is_cjk(c) for c in text or ""):
        return "zh"
    return fallback


# -- subscriptions ------------------------------------------------------------------------


class Subscription(NamedTuple):
    chat_id: int
    topic: str
    thread_id: int | None
    lang: str
    active: bool
    created_at: str
    deactivated_reason: str | None


def known_topics(store: Store) -> list[str]:
    """The segments the store has figures for, in catalogue order."""
    rows = store.conn.execute("SELECT DISTINCT segment FROM series ORDER BY segment").fetchall()
    return [r[0] for r in rows]


def topic_label(store: Store, topic: str, lang: str) -> str:
    if topic == TOPIC_ALL:
        return lang_text(lang, "all markets", "全部市场")
    return store.vocabulary.label("segment", topic, lang)  # type: ignore[arg-type]


def resolve_topics(store: Store, text: str) -> list[str] | None:
    """Topics named in ``text`` (``[]`` for none given, ``["*"]`` for all; None: unknown)."""
    words = (text or "").strip()
    if not words:
        return [TOPIC_ALL]
    if words.lower() in ALL_WORDS:
        return [TOPIC_ALL]
    query = parse_question(words, store.vocabulary)
    known = set(known_topics(store))
    segments = [s for s in query.segments if s in known]
    return segments or None


def subscribe(
    store: Store, chat_id: int, topic: str, *, thread_id: int | None = None, lang: str = "en"
) -> bool:
    """Subscribe a chat to a topic (``*`` for all); False if it already was (thread/lang kept fresh)."""
    ensure_schema(store)
    now = now_iso()
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT active FROM subscriptions WHERE chat_id = ? AND topic = ?", (chat_id, topic)
        ).fetchone()
        conn.execute(
            "INSERT INTO subscriptions (chat_id, topic, thread_id, lang, active, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT(chat_id, topic) DO UPDATE SET "
            "thread_id = excluded.thread_id, lang = excluded.lang, active = 1, "
            "updated_at = excluded.updated_at, deactivated_reason = NULL, "
            "created_at = CASE WHEN subscriptions.active THEN subscriptions.created_at "
            "ELSE excluded.created_at END",
            (chat_id, topic, thread_id, lang, now, now),
        )
    return not (row and row[0])


def unsubscribe(
    store: Store, chat_id: int, topic: str | None = None, *, reason: str = "unsubscribed"
) -> int:
    """Deactivate one topic (or every topic when None); how many subscriptions ended."""
    ensure_schema(store)
    sql = (
        "UPDATE subscriptions SET active = 0, deactivated_reason = ?, updated_at = ? "
        "WHERE chat_id = ? AND active = 1"
    )
    args: list[Any] = [reason, now_iso(), chat_id]
    if topic is not None:
        sql += " AND topic = ?"
        args.append(topic)
    with store.lock:
        return store.conn.execute(sql, args).rowcount


def subscriptions(store: Store, chat_id: int, *, active_only: bool = True) -> list[Subscription]:
    """A chat's subscriptions, ``*`` first."""
    ensure_schema(store)
    sql = (
        "SELECT chat_id, topic, thread_id, lang, active, created_at, deactivated_reason "
        "FROM subscriptions WHERE chat_id = ?"
    )
    if active_only:
        sql += " AND active = 1"
    sql += " ORDER BY topic != '*', topic"
    with store.lock:
        rows = store.conn.execute(sql, (chat_id,)).fetchall()
    return [Subscription(c, t, th, lg, bool(a), ca, r) for c, t, th, lg, a, ca, r in rows]


def deactivate_chat(store: Store, chat_id: int, reason: str) -> int:
    """The chat blocked or removed the bot: stop every subscription, keep why."""
    return unsubscribe(store, chat_id, None, reason=reason[:200])


# -- queueing a push ----------------------------------------------------------------------


def period_segments(store: Store, period: Period) -> list[str]:
    rows = store.conn.execute(
        "SELECT DISTINCT segment FROM facts WHERE period = ? ORDER BY segment", (period.label,)
    ).fetchall()
    return [r[0] for r in rows]


def _as_period(store: Store, period: str | Period | None) -> Period:
    if period is None:
        newest = store.newest_period()
        if newest is None:
            raise ValueError("the store has no figures to push")
        return newest
    if isinstance(period, Period):
        return period
    return Period.parse(period)


def queue_push(
    store: Store,
    period: str | Period | None = None,
    topic: str | None = None,
    *,
    allowed: Collection[int] | None = None,
) -> tuple[int, int]:
    """Queue a summary of ``period`` (default: newest) for every subscribed chat.

    ``topic`` limits the push to one segment (a key or a synonym such as "后市场").
    ``allowed`` (None: every chat) keeps chats not in it out of the queue, such as a chat
    subscribed before it was taken off the bot's list.
    Returns (push id, number of chats queued). Raises ValueError for an unknown period/topic.
    """
    ensure_schema(store)
    per = _as_period(store, period)
    in_period = period_segments(store, per)
    if not in_period:
        raise ValueError(f"no figures stored for {per.label}")
    push_topic = TOPIC_ALL
    if topic and topic.strip() and topic.strip() != TOPIC_ALL:
        resolved = resolve_topics(store, topic)
        if not resolved:
            raise ValueError(f"unknown topic {topic!r}; known: {', '.join(known_topics(store))}")
        push_topic = resolved[0]
        if push_topic != TOPIC_ALL and push_topic not in in_period:
            raise ValueError(f"no figures for {push_topic} in {per.label}")
    now = time.time()
    with store.transaction() as conn:
        rows = conn.execute(
            "SELECT chat_id, topic, thread_id, lang FROM subscriptions WHERE active = 1 "
            "ORDER BY chat_id, updated_at DESC, topic"
        ).fetchall()
        by_chat: dict[int, dict[str, Any]] = {}
        for chat_id, sub_topic, thread_id, lang in rows:
            entry = by_chat.setdefault(
                chat_id, {"topics": set(), "thread_id": thread_id, "lang": lang}
            )
            entry["topics"].add(sub_topic)
        cur = conn.execute(
            "INSERT INTO pushes (period, topic, created_at, status) VALUES (?, ?, ?, 'queued')",
            (per.label, push_topic, now_iso()),
        )
        push_id = int(cur.lastrowid or 0)
        outbox_rows = []
        skipped = 0
        for chat_id, entry in by_chat.items():
            if allowed is not None and chat_id not in allowed:
                skipped += 1
                continue
            content = _content_topics(entry["topics"], push_topic, in_period)
            if content:
                outbox_rows.append(
                    (push_id, chat_id, entry["thread_id"], content, entry["lang"], now)
                )
        conn.executemany(
            "INSERT INTO outbox (push_id, chat_id, thread_id, topics, lang, state, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            outbox_rows,
        )
        if not outbox_rows:
            conn.execute("UPDATE pushes SET status = 'done' WHERE id = ?", (push_id,))
    log.info("queued push %s for %s (%s) to %d chat(s)", push_id, per, push_topic, len(outbox_rows))
    if skipped:
        log.info("push %s: %d subscribed chat(s) not allowed, not queued", push_id, skipped)
    return push_id, len(outbox_rows)


def _content_topics(subscribed: set[str], push_topic: str, in_period: list[str]) -> str:
    """What one chat's message covers: ``*``, or segment keys joined by commas ('' = nothing)."""
    if push_topic != TOPIC_ALL:
        return push_topic if (TOPIC_ALL in subscribed or push_topic in subscribed) else ""
    if TOPIC_ALL in subscribed:
        return TOPIC_ALL
    return ",".join(s for s in in_period if s in subscribed)


def last_push_period(store: Store) -> Period | None:
    ensure_schema(store)
    row = store.conn.execute("SELECT max(period) FROM pushes").fetchone()
    return Period.parse(row[0]) if row and row[0] else None


def push_status(store: Store) -> list[dict[str, Any]]:
    """Per push: delivered / pending (incl. sending) / failed counts, newest first."""
    ensure_schema(store)
    with store.lock:
        rows = store.conn.execute(
            "SELECT p.id, p.period, p.topic, p.created_at, p.status, "
            "count(o.id), sum(o.state = 'sent'), sum(o.state IN ('pending', 'sending')), "
            "sum(o.state = 'failed') FROM pushes p LEFT JOIN outbox o ON o.push_id = p.id "
            "GROUP BY p.id ORDER BY p.id DESC"
        ).fetchall()
    out = []
    for pid, period, topic, created, status, total, sent, pending, failed in rows:
        status = "done" if not pending else ("sending" if sent or failed else status)
        out.append(
            {
                "id": pid,
                "period": period,
                "topic": topic,
                "created_at": created,
                "status": status,
                "chats": total or 0,
                "delivered": sent or 0,
                "pending": pending or 0,
                "failed": failed or 0,
            }
        )
    return out


def pending_count(store: Store) -> int:
    ensure_schema(store)
    with store.lock:
        return store.conn.execute(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
        ).fetchone()[0]


# -- the optional schedule ----------------------------------------------------------------


def parse_schedule(text: str) -> dt.time:
    """``"09:00 Asia/Shanghai"`` (zone optional, UTC by default) → an aware time."""
    from zoneinfo import ZoneInfo

    parts = text.split()
    hour, _, minute = parts[0].partition(":")
    zone = ZoneInfo(parts[1]) if len(parts) > 1 else dt.UTC
    return dt.time(int(hour), int(minute or 0), tzinfo=zone)


def first_weekday_after_quarter(day: dt.date) -> bool:
    """Whether ``day`` is the first Monday-to-Friday of January, April, July or October."""
    if day.month not in (1, 4, 7, 10) or day.weekday() >= 5:
        return False
    return all((day - dt.timedelta(days=d)).weekday() >= 5 for d in range(1, day.day))


def scheduled_push(
    store: Store, today: dt.date, *, allowed: Collection[int] | None = None
) -> tuple[int, int] | None:
    """Queue the newest period's summary on schedule day, if newer than the last push."""
    if not first_weekday_after_quarter(today):
        return None
    newest = store.newest_period()
    last = last_push_period(store)
    if newest is None or (last is not None and newest <= last):
        return None
    return queue_push(store, newest, allowed=allowed)
