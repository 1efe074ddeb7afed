"""Subscriptions and quarterly summary pushes: storage, the outbox, the summary and its drain.

A chat subscribes to everything (topic ``*``) or to a market segment. When a new quarter's
figures arrive, :func:`queue_push` writes one ``pushes`` row and one ``outbox`` row per chat to
notify (one message per chat, whatever the number of its topics). The :class:`Outbox` drainer
delivers those rows at the pace of the bot's rate limiter (``rate_limit_args={"push": True}``),
so interactive answers never wait behind a push, and survives restarts: every state change is
committed to SQLite before and after each send; rows left in ``sending`` by a crash are sent
again at start-up (those few may arrive twice — the only duplicates allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import os
import random
import re
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from . import chats
from .answer import answer_query
from .db import Store, now_iso
from .format import figure_text, source_line
from .models import Answer, Change, Fact, Lang, Period, PeriodSpec, Query, Source
from .numbers import signed_pct
from .parse import parse_question
from .vocab import is_cjk

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application, ContextTypes

    from .config import Settings

log = logging.getLogger("marketbot.push")

TOPIC_ALL = "*"
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024 visible characters
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
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

# A group that becomes a supergroup takes its subscriptions and undelivered pushes along.
for _table in (("subscriptions", "chat_id"), ("outbox", "chat_id")):
    if _table not in chats.CHAT_TABLES:
        chats.CHAT_TABLES.append(_table)


def ensure_schema(store: Store) -> None:
    """Create the subscription, push and outbox tables if missing (idempotent)."""
    chats.ensure_schema(store)  # migrate_chat also moves chat_state rows
    with store.lock:
        store.conn.executescript(_SCHEMA)


def _zh(lang: str, en: str, zh: str) -> str:
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
        return _zh(lang, "all markets", "全部市场")
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
    store: Store, period: str | Period | None = None, topic: str | None = None
) -> tuple[int, int]:
    """Queue a summary of ``period`` (default: newest) for every subscribed chat.

    ``topic`` limits the push to one segment (a key or a synonym such as "后市场").
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
        for chat_id, entry in by_chat.items():
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


# -- the summary --------------------------------------------------------------------------


@dataclass
class Summary:
    """One push message: HTML text and (maybe) the chart answer to draw."""

    html: str
    short_html: str  # without per-figure notes, for a caption
    chart: Answer | None = None
    png: bytes | None = None
    file_id: str | None = None  # Telegram's id of the uploaded chart, reused for later chats
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def caption(self) -> str | None:
        """The text to put under the chart, if one fits a caption."""
        for text in (self.html, self.short_html):
            if len(visible(text)) <= CAPTION_LIMIT:
                return text
        return None


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _segment_answer(store: Store, segment: str, period: Period, lang: Lang) -> Answer:
    """The answer pipeline for "<segment> <period> change"."""
    query = Query(
        text=f"{segment} {period.label} change",
        segments=(segment,),
        periods=(PeriodSpec("quarter", period.year, period.quarter, period.label),),
        comparison="change",
        lang=lang,
    )
    return answer_query(query, store)


def build_summary(store: Store, period: Period, topics: str, lang: str) -> Summary:
    """The summary of ``period`` for ``topics`` (``*`` or comma-joined segments) in ``lang``."""
    lg: Lang = "zh" if lang == "zh" else "en"
    v = store.vocabulary
    in_period = period_segments(store, period)
    wanted = in_period if topics == TOPIC_ALL else [t for t in topics.split(",") if t]
    head = _zh(lg, f"New figures: {period.human(lg)}", f"最新数据：{period.human(lg)}")
    full = [f"<b>📊 {html.escape(head, quote=False)}</b>"]
    short = list(full)
    sources: dict[str, Source] = {}
    chart: Answer | None = None
    answers = [_segment_answer(store, segment, period, lg) for segment in wanted]
    # The market that moved most leads (and gives the chart); the rest keep catalogue order.
    answers.sort(
        key=lambda a: -max((abs(c.pct) for c in a.changes if c.to_period == period), default=-1)
    )
    for answer in answers:
        segment = answer.query.segments[0]
        facts = [f for f in answer.facts if f.period == period]
        if answer.status != "answered" or not facts:
            continue
        changes = {(c.metric, c.platform): c for c in answer.changes if c.to_period == period}
        title = f"<b>{html.escape(v.label('segment', segment, lg), quote=False)}</b>"
        full += ["", title]
        short += ["", title]
        for f in facts:
            sources.setdefault(f.source.id, f.source)
            line, note = _fact_line(f, changes.get((f.metric, f.platform)), v, lg)
            full.append(line + note)
            short.append(line)
        if chart is None:
            chart = _chart_answer(answer, facts, list(changes.values()))
    tail = [""] + [html.escape(source_line(s, lg), quote=False) for s in sources.values()]
    return Summary(
        html=_fit("\n".join(full + tail), TEXT_LIMIT),
        short_html=_fit("\n".join(short + tail), TEXT_LIMIT),
        chart=chart,
    )


def _fact_line(f: Fact, change: Change | None, v: Any, lang: Lang) -> tuple[str, str]:
    name = v.label("metric", f.metric, lang, short=True)
    if f.platform:
        name = f"{v.label('platform', f.platform, lang, short=True)} {name}"
    line = f"• {html.escape(name, quote=False)}: <b>{html.escape(figure_text(f, v, lang), quote=False)}</b>"
    if change is not None:
        vs = change.from_period.human(lang)
        pct = signed_pct(change.pct)
        line += html.escape(_zh(lang, f" ({pct} vs {vs})", f"（较{vs} {pct}）"), quote=False)
    note = (f.note_zh or f.note) if lang == "zh" else f.note
    return line, (html.escape(f" — {note}", quote=False) if note else "")


def _chart_answer(answer: Answer, facts: list[Fact], changes: list[Change]) -> Answer | None:
    """One chart for the summary: the first series with a change, else a same-metric compare."""
    from .chart import has_chart

    for c in changes:
        pair = [
            f
            for f in answer.facts
            if (f.metric, f.platform) == (c.metric, c.platform)
            and f.period in (c.from_period, c.to_period)
        ]
        sub = Answer(
            answer.query._replace(
                metrics=(c.metric,), platforms=(c.platform,) if c.platform else ()
            ),
            "answered",
            facts=pair,
            changes=[c],
        )
        if has_chart(sub):
            return sub
    by_metric: dict[str, list[Fact]] = {}
    for f in facts:
        by_metric.setdefault(f.metric, []).append(f)
    for metric, group in by_metric.items():
        if len(group) >= 2:
            sub = Answer(answer.query._replace(metrics=(metric,)), "answered", facts=group)
            if has_chart(sub):
                return sub
    return None


def _fit(text: str, limit: int) -> str:
    """Drop whole lines from the end (keeping the source) until the text fits ``limit``."""
    if len(visible(text)) <= limit:
        return text
    lines = text.split("\n")
    tail = lines[-1]
    body = lines[:-1]
    while body and len(visible("\n".join([*body, "…", tail]))) > limit:
        body.pop()
    return "\n".join([*body, "…", tail])


# -- delivery -----------------------------------------------------------------------------


class InteractiveMeter:
    """Counts incoming updates (questions) so pushes leave their share of Telegram's ~30/s."""

    def __init__(self, window_seconds: float = 2.0) -> None:
        self.window = window_seconds
        self.times: deque[float] = deque()

    def note(self) -> None:
        self.times.append(time.monotonic())
        self._trim()

    def rate(self) -> float:
        """Updates per second over the last window."""
        self._trim()
        return len(self.times) / self.window

    def _trim(self) -> None:
        cutoff = time.monotonic() - self.window
        while self.times and self.times[0] < cutoff:
            self.times.popleft()


class OutboxRow(NamedTuple):
    id: int
    push_id: int
    chat_id: int
    thread_id: int | None
    topics: str
    lang: str
    attempts: int
    period: str


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    migrated: int = 0


class Outbox:
    """Delivers due outbox rows with ``bot``; one per process (state lives in SQLite)."""

    def __init__(
        self,
        store: Store,
        bot: Bot,
        *,
        concurrency: int = 20,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 600.0,
        poll_seconds: float = 1.0,
        # Deliveries a second: a little over 25 so that 25 are sustained through the odd 429
        # retry. Answers come first: with q questions a second, pushes get 29 - q at most.
        push_per_second: float = 26.0,
        overall_per_second: float = 29.0,
        interactive: InteractiveMeter | None = None,
    ) -> None:
        ensure_schema(store)
        self.store = store
        self.bot = bot
        self.concurrency = max(1, min(concurrency, 25))
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.poll_seconds = poll_seconds
        self.push_per_second = push_per_second
        self.overall_per_second = overall_per_second
        self.interactive = interactive
        self._next_slot = 0.0
        self.stats = DrainStats()
        self.summaries: dict[tuple[str, str, str], Summary] = {}
        self._building: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.wake = asyncio.Event()
        self._recovered = False
        self.on_done: Callable[[OutboxRow, str], None] | None = None

    # -- rows

    def recover(self) -> int:
        """Rows left 'sending' by a crash are due again (they may arrive twice)."""
        with self.store.lock:
            n = self.store.conn.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE state = 'sending'",
                (time.time(),),
            ).rowcount
        if n:
            log.warning("%d push message(s) were in flight at the last stop: sending again", n)
        self._recovered = True
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

    def _update(self, row_id: int, sql: str, args: Iterable[Any]) -> None:
        with self.store.lock:
            self.store.conn.execute(f"UPDATE outbox SET {sql} WHERE id = ?", (*args, row_id))

    def _finish(self, row: OutboxRow, outcome: str) -> None:
        if self.on_done is not None:
            self.on_done(row, outcome)

    # -- sending

    async def summary(self, period: str, topics: str, lang: str) -> Summary:
        key = (period, topics, lang)
        found = self.summaries.get(key)
        if found is not None:
            return found
        async with self._building.setdefault(key, asyncio.Lock()):  # built once per key
            found = self.summaries.get(key)
            if found is None:
                found = build_summary(self.store, Period.parse(period), topics, lang)
                if found.chart is not None and found.caption() is not None:
                    from .chart import render_chart_async

                    found.png = await render_chart_async(
                        found.chart, labels=self.store.vocabulary.label
                    )
                self.summaries[key] = found
        return found

    async def send(self, row: OutboxRow) -> None:
        """Send one row's summary: a photo with caption, else one text message."""
        summary = await self.summary(row.period, row.topics, row.lang)
        common: dict[str, Any] = {
            "chat_id": row.chat_id,
            "message_thread_id": row.thread_id,
            "parse_mode": ParseMode.HTML,
            "rate_limit_args": {"push": True},
        }
        caption = summary.caption()
        if summary.png is not None and caption is not None:
            if summary.file_id is None:
                async with summary.lock:  # upload once; later chats reuse Telegram's file id
                    if summary.file_id is None:
                        message = await self.bot.send_photo(
                            photo=summary.png, caption=caption, **common
                        )
                        if message.photo:
                            summary.file_id = message.photo[-1].file_id
                        return
            await self.bot.send_photo(photo=summary.file_id, caption=caption, **common)
            return
        await self.bot.send_message(text=summary.html, disable_web_page_preview=True, **common)

    async def deliver(self, row: OutboxRow) -> str:
        """Send one claimed row and record the outcome: sent, retry, failed or migrated."""
        try:
            await self.send(row)
        except asyncio.CancelledError:
            self._update(row.id, "state = 'pending'", ())
            raise
        except RetryAfter as e:
            with warnings.catch_warnings():  # PTB 22 warns about its future timedelta type
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                delay = e.retry_after
            seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
            self.stats.rate_limited += 1
            self._update(
                row.id,
                "state = 'pending', next_attempt_at = ?, last_error = ?",
                (time.time() + seconds + 0.05, f"429 retry after {seconds:g}s"),
            )
            return "retry"
        except Forbidden as e:
            deactivate_chat(self.store, row.chat_id, f"forbidden: {e.message}")
            self._fail(row, f"403 {e.message}")
            return "blocked"
        except ChatMigrated as e:
            chats.migrate_chat(self.store, row.chat_id, e.new_chat_id)
            self.stats.migrated += 1
            self._update(
                row.id,
                "chat_id = ?, state = 'pending', next_attempt_at = ?, last_error = ?",
                (e.new_chat_id, time.time(), f"migrated from {row.chat_id}"),
            )
            self.wake.set()
            return "migrated"
        except BadRequest as e:
            if row.thread_id is not None and "thread not found" in e.message.lower():
                self._update(  # the forum topic is gone: post in the group's general topic
                    row.id,
                    "thread_id = NULL, state = 'pending', next_attempt_at = ?",
                    (time.time(),),
                )
                return "retry"
            return self._fail(row, f"400 {e.message}")
        except (TimedOut, NetworkError) as e:  # 5xx come as NetworkError
            return self._retry(row, f"{type(e).__name__}: {e.message}")
        except TelegramError as e:
            return self._fail(row, f"{type(e).__name__}: {e.message}")
        except Exception as e:  # a bug must not stop the other chats' pushes
            log.exception("push to a chat failed")
            return self._retry(row, f"{type(e).__name__}: {e}")
        self._update(row.id, "state = 'sent', sent_at = ?, last_error = NULL", (now_iso(),))
        self.stats.sent += 1
        return "sent"

    def _fail(self, row: OutboxRow, reason: str) -> str:
        self._update(row.id, "state = 'failed', last_error = ?", (reason[:300],))
        self.stats.failed += 1
        return "failed"

    def _retry(self, row: OutboxRow, reason: str) -> str:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            self._update(row.id, "attempts = ?", (attempts,))
            return self._fail(row, f"after {attempts} attempts: {reason}")
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempts - 1))
        delay *= random.uniform(0.8, 1.2)
        self._update(
            row.id,
            "state = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?",
            (attempts, time.time() + delay, reason[:300]),
        )
        self.stats.retried += 1
        return "retry"

    async def pace(self) -> float:
        """Space pushes evenly at ``push_per_second``, less what answers are using right now.

        The rate limiter keeps pushes at or below 25/s; this keeps them from coming in bursts
        and leaves Telegram's overall ~30/s headroom to the answers being asked for.
        """
        rate = self.push_per_second
        if self.interactive is not None:
            rate = min(rate, self.overall_per_second - self.interactive.rate())
        interval = 1.0 / max(rate, 1.0)
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)
        return interval

    def refund(self, interval: float) -> None:
        """Give a slot back: a chat that blocked the bot received nothing (no message sent)."""
        self._next_slot = max(asyncio.get_running_loop().time(), self._next_slot - interval)

    async def _deliver_and_report(self, row: OutboxRow) -> None:
        try:
            interval = await self.pace()
            outcome = await self.deliver(row)
            if outcome == "blocked":
                self.refund(interval)
                outcome = "failed"
        except asyncio.CancelledError:
            self._update(row.id, "state = 'pending'", ())
            raise
        except Exception as e:  # recording the outcome failed: try the row again later
            log.exception("could not record a push outcome")
            outcome = self._retry(row, f"{type(e).__name__}: {e}")
        self._finish(row, outcome)

    # -- the loop

    async def run(
        self, should_run: Callable[[], bool] = lambda: True, *, until_idle: bool = False
    ) -> DrainStats:
        """Deliver due rows with at most ``concurrency`` in flight while ``should_run()``.

        With ``until_idle`` it returns once nothing is pending or sending (waiting for retries
        that are due later). In-flight sends finish before it returns.
        """
        if not self._recovered:
            self.recover()
        tasks: set[asyncio.Task] = set()
        try:
            while should_run():
                free = self.concurrency - len(tasks)
                rows = self.claim(free) if free > 0 else []
                for row in rows:
                    task = asyncio.create_task(self._deliver_and_report(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if rows and len(tasks) < self.concurrency:
                    continue
                due = self.next_due_in()
                if until_idle and due is None and not tasks:
                    break
                timeout = self.poll_seconds if due is None else min(self.poll_seconds, due)
                self.wake.clear()
                waiters: set[asyncio.Future] = set(tasks)
                wake = asyncio.ensure_future(self.wake.wait())
                waiters.add(wake)
                if len(tasks) >= self.concurrency:
                    waiters.discard(wake)  # full: only a finished send frees a slot
                await asyncio.wait(
                    waiters, timeout=max(timeout, 0.01), return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self.stats


# -- the running bot ----------------------------------------------------------------------

OUTBOX_KEY = "outbox"
METER_KEY = "interactive_meter"


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Run the drainer for as long as the application runs (a one-off JobQueue job)."""
    application = context.application
    outbox: Outbox = application.bot_data[OUTBOX_KEY]
    while application.running:
        try:
            await outbox.run(lambda: application.running)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox drainer crashed; restarting in 5s")
            await asyncio.sleep(5)


def start_outbox(application: Application, **options: Any) -> Outbox:
    """Start delivering pushes from the running bot (call from post_init or after start)."""
    store: Store = application.bot_data["state"].store
    options.setdefault("interactive", application.bot_data.get(METER_KEY))
    outbox = Outbox(store, application.bot, **options)
    application.bot_data[OUTBOX_KEY] = outbox
    job_queue = application.job_queue
    if job_queue is None:
        raise RuntimeError("the outbox needs python-telegram-bot[job-queue]")
    # Queued before the JobQueue starts (post_init): it must run whenever the queue starts.
    job_queue.run_once(
        _outbox_job, when=0, name="outbox-drainer", job_kwargs={"misfire_grace_time": None}
    )
    schedule = os.environ.get("MARKETBOT_PUSH_SCHEDULE", "").strip()
    if schedule:
        at = parse_schedule(schedule)
        job_queue.run_daily(_scheduled_push, time=at, name="quarterly-push")
        log.info("quarterly push scheduled at %s on the first weekday after a quarter", at)
    return outbox


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


def scheduled_push(store: Store, today: dt.date) -> tuple[int, int] | None:
    """Queue the newest period's summary on schedule day, if newer than the last push."""
    if not first_weekday_after_quarter(today):
        return None
    newest = store.newest_period()
    last = last_push_period(store)
    if newest is None or (last is not None and newest <= last):
        return None
    return queue_push(store, newest)


async def _scheduled_push(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The daily check of MARKETBOT_PUSH_SCHEDULE."""
    store: Store = context.application.bot_data["state"].store
    zone = parse_schedule(os.environ.get("MARKETBOT_PUSH_SCHEDULE", "00:00")).tzinfo
    queued = scheduled_push(store, dt.datetime.now(zone).date())
    if queued:
        log.info("scheduled push %s queued for %d chat(s)", *queued)
        outbox = context.application.bot_data.get(OUTBOX_KEY)
        if outbox is not None:
            outbox.wake.set()


# -- the command line's drain -------------------------------------------------------------


async def drain_with_bot(
    store: Store,
    bot: Bot,
    *,
    on_done: Callable[[OutboxRow, str], None] | None = None,
    concurrency: int = 20,
    max_attempts: int = 5,
    backoff_seconds: float = 2.0,
) -> DrainStats:
    """Deliver the whole outbox with ``bot`` (no running Application) and return counts."""
    outbox = Outbox(
        store,
        bot,
        concurrency=concurrency,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
    )
    outbox.on_done = on_done
    async with bot:
        return await outbox.run(until_idle=True)


def make_push_bot(settings: Settings) -> Bot:
    """The Bot `run` would use (same token and server), paced by ChatRateLimiter."""
    from telegram.ext import ExtBot

    from .ratelimit import ChatRateLimiter

    return ExtBot(
        settings.token or "",
        base_url=settings.api_base_url,
        base_file_url=settings.base_file_url,
        rate_limiter=ChatRateLimiter(),
    )


def cli_drain(store: Store, settings: Settings, progressbar: Callable[..., Any]) -> DrainStats:
    """`marketbot push --drain`: deliver everything pending with a progress bar."""
    total = pending_count(store)
    with progressbar(length=total, label="delivering", show_pos=True) as bar:

        def done(row: OutboxRow, outcome: str) -> None:
            if outcome in ("sent", "failed"):
                bar.update(1)

        return asyncio.run(drain_with_bot(store, make_push_bot(settings), on_done=done))
