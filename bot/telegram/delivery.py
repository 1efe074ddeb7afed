"""Delivering quarterly summaries to subscribed chats: the outbox drainer, its pace, the
running bot's drain job and schedule, and `marketbot push --drain`.

Rows come from `bot.outbox` and are sent at the pace of the bot's rate limiter
(``rate_limit_args={"push": True}``), so interactive answers never wait behind a push. Rows
left in ``sending`` by a crash are sent again at start-up (those few may arrive twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import time
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.constants import ParseMode
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

from ..chart_draw import render_chart_async
from ..db import Store, now_iso
from ..models import Period
from ..outbox import OutboxQueue, OutboxRow
from ..subscriptions import deactivate_chat, parse_schedule, pending_count, scheduled_push
from ..summary import Summary, build_summary
from . import chats
from .access import chat_allowed

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application, ContextTypes

    from ..config import Settings

log = logging.getLogger("marketbot.push")


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
        allowed: Collection[int] | None = None,  # MARKETBOT_ALLOWED_CHATS; None: everyone
    ) -> None:
        chats.ensure_schema(store)  # a migrated chat moves its follow-up state too
        self.queue = OutboxQueue(store)
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
        self.allowed = allowed
        self._next_slot = 0.0
        self.stats = DrainStats()
        self.summaries: dict[tuple[str, str, str], Summary] = {}
        self._building: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.wake = asyncio.Event()
        self._recovered = False
        self.on_done: Callable[[OutboxRow, str], None] | None = None

    def _update(self, row_id: int, sql: str, args: Iterable[Any]) -> None:
        self.queue.update(row_id, sql, args)

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
        if not chat_allowed(self.allowed, row.chat_id):  # taken off the list since queued
            return self._fail(row, "not allowed")
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
            self.queue.recover()
            self._recovered = True
        tasks: set[asyncio.Task] = set()
        try:
            while should_run():
                free = self.concurrency - len(tasks)
                rows = self.queue.claim(free) if free > 0 else []
                for row in rows:
                    task = asyncio.create_task(self._deliver_and_report(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if rows and len(tasks) < self.concurrency:
                    continue
                due = self.queue.next_due_in()
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
    options.setdefault("allowed", application.bot_data["state"].settings.allowed_chats)
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


async def _scheduled_push(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The daily check of MARKETBOT_PUSH_SCHEDULE."""
    store: Store = context.application.bot_data["state"].store
    zone = parse_schedule(os.environ.get("MARKETBOT_PUSH_SCHEDULE", "00:00")).tzinfo
    allowed = context.application.bot_data["state"].settings.allowed_chats
    queued = scheduled_push(store, dt.datetime.now(zone).date(), allowed=allowed)
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
    allowed: Collection[int] | None = None,
) -> DrainStats:
    """Deliver the whole outbox with ``bot`` (no running Application) and return counts."""
    outbox = Outbox(
        store,
        bot,
        concurrency=concurrency,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        allowed=allowed,
    )
    outbox.on_done = on_done
    async with bot:
        return await outbox.run(until_idle=True)


def make_push_bot(settings: Settings) -> Bot:
    """The Bot `run` would use (same token and server), paced by ChatRateLimiter."""
    from telegram.ext import ExtBot

    from .pacing import ChatRateLimiter

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

        return asyncio.run(
            drain_with_bot(
                store, make_push_bot(settings), on_done=done, allowed=settings.allowed_chats
            )
        )
