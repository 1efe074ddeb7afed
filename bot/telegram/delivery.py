"""Delivering quarterly summaries to subscribed chats: the outbox drainer, its pace, the
running bot's drain job and schedule, and `marketbot push --drain`.

Rows come from `bot.outbox` under a lease and are sent through the bot's one pacer
(``rate_limit_args={"push": True}``: after every waiting answer). One deliverer runs at a time:
`marketbot push --drain` refuses while the bot delivers, and the bot waits while a drain runs.
Rows left in flight by a process that died are sent again (those few may arrive twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
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

from ..chart_draw import render_chart_async
from ..db import Store, now_iso
from ..models import Period
from ..outbox import LEASE_SECONDS, Deliverer, OutboxQueue, OutboxRow
from ..subscriptions import deactivate_chat, parse_schedule, pending_count, scheduled_push
from ..summary import Summary, build_summary
from . import chats
from .access import chat_allowed
from .pacing import retry_after_seconds

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.ext import Application, ContextTypes

    from ..config import Settings

log = logging.getLogger("marketbot.push")


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    migrated: int = 0


class DelivererBusy(RuntimeError):
    """Another live process is delivering the outbox."""

    def __init__(self, other: Deliverer) -> None:
        super().__init__(other.describe())
        self.other = other


def _own_store(store: Store) -> Store:
    """A connection of the outbox's own, so its writes (and their waits for SQLite's write
    lock) never hold up the connection answers read from."""
    if str(store.path) == ":memory:":
        return store
    return Store(store.path)


class Outbox:
    """Delivers due outbox rows with ``bot``; one per process (state lives in SQLite).

    Every SQLite call runs on one worker thread with its own connection, so delivery never
    blocks the event loop, even while an ingest holds the write lock.
    """

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
        kind: str = "bot",
        lease_seconds: float = LEASE_SECONDS,
        allowed: Collection[int] | None = None,  # MARKETBOT_ALLOWED_CHATS; None: everyone
    ) -> None:
        self.store = store
        self.bot = bot
        self.concurrency = max(1, min(concurrency, 25))
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.poll_seconds = poll_seconds
        self.kind = kind
        self.lease_seconds = lease_seconds
        self.allowed = allowed
        self.stats = DrainStats()
        self.summaries: dict[tuple[str, str, str], Summary] = {}
        self._building: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.wake = asyncio.Event()
        self.on_done: Callable[[OutboxRow, str], None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self._db_store: Store | None = None
        self._queue: OutboxQueue | None = None
        self._registered = False
        self._waiting_for: str | None = None

    # -- the worker thread's store

    def _open(self) -> OutboxQueue:
        if self._queue is None:
            self._db_store = _own_store(self.store)
            chats.ensure_schema(self._db_store)  # a migrated chat moves its follow-up state too
            self._queue = OutboxQueue(
                self._db_store, kind=self.kind, lease_seconds=self.lease_seconds
            )
        return self._queue

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(queue, *args)`` on the outbox's SQLite thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._open(), *args))

    def close(self) -> None:
        """Give up this deliverer's registration and close its connection."""

        def finish() -> None:
            if self._queue is not None:
                if self._registered:
                    with contextlib.suppress(Exception):
                        self._queue.unregister()
                if self._db_store is not None and self._db_store is not self.store:
                    self._db_store.close()
            self._queue = None

        self._executor.submit(finish).result()
        self._executor.shutdown(wait=True)

    async def _update(self, row_id: int, sql: str, args: Iterable[Any]) -> None:
        await self._db(lambda q: q.update(row_id, sql, args))

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
                # Off the event loop, on the outbox's own connection: a store with many
                # markets must not stall the answers.
                found = await self._db(
                    lambda q: build_summary(q.store, Period.parse(period), topics, lang)
                )
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
            return await self._fail(row, "not allowed")
        try:
            await self.send(row)
        except asyncio.CancelledError:
            await asyncio.shield(self._update(row.id, "state = 'pending'", ()))
            raise
        except RetryAfter as e:
            seconds = retry_after_seconds(e)
            self.stats.rate_limited += 1
            await self._update(
                row.id,
                "state = 'pending', next_attempt_at = ?, last_error = ?",
                (time.time() + seconds + 0.05, f"429 retry after {seconds:g}s"),
            )
            return "retry"
        except Forbidden as e:
            why = f"forbidden: {e.message}"
            await self._db(lambda q: deactivate_chat(q.store, row.chat_id, why))
            return await self._fail(row, f"403 {e.message}")
        except ChatMigrated as e:
            new_id = e.new_chat_id
            await self._db(lambda q: chats.migrate_chat(q.store, row.chat_id, new_id))
            self.stats.migrated += 1
            await self._update(
                row.id,
                "chat_id = ?, state = 'pending', next_attempt_at = ?, last_error = ?",
                (e.new_chat_id, time.time(), f"migrated from {row.chat_id}"),
            )
            self.wake.set()
            return "migrated"
        except BadRequest as e:
            if row.thread_id is not None and "thread not found" in e.message.lower():
                await self._update(  # the forum topic is gone: post in the group's general topic
                    row.id,
                    "thread_id = NULL, state = 'pending', next_attempt_at = ?",
                    (time.time(),),
                )
                return "retry"
            return await self._fail(row, f"400 {e.message}")
        except (TimedOut, NetworkError) as e:  # 5xx come as NetworkError
            return await self._retry(row, f"{type(e).__name__}: {e.message}")
        except TelegramError as e:
            return await self._fail(row, f"{type(e).__name__}: {e.message}")
        except Exception as e:  # a bug must not stop the other chats' pushes
            log.exception("push to a chat failed")
            return await self._retry(row, f"{type(e).__name__}: {e}")
        await self._update(row.id, "state = 'sent', sent_at = ?, last_error = NULL", (now_iso(),))
        self.stats.sent += 1
        return "sent"

    async def _fail(self, row: OutboxRow, reason: str, attempts: int | None = None) -> str:
        await self._update(
            row.id,
            "state = 'failed', attempts = ?, last_error = ?",
            (row.attempts if attempts is None else attempts, reason[:300]),
        )
        self.stats.failed += 1
        return "failed"

    async def _retry(self, row: OutboxRow, reason: str) -> str:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            return await self._fail(row, f"after {attempts} attempts: {reason}", attempts)
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempts - 1))
        delay *= random.uniform(0.8, 1.2)
        await self._update(
            row.id,
            "state = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?",
            (attempts, time.time() + delay, reason[:300]),
        )
        self.stats.retried += 1
        return "retry"

    async def _deliver_and_report(self, row: OutboxRow) -> None:
        try:
            outcome = await self.deliver(row)
            if outcome == "blocked":
                outcome = "failed"
        except asyncio.CancelledError:
            raise
        except Exception as e:  # recording the outcome failed: try the row again later
            log.exception("could not record a push outcome")
            try:
                outcome = await self._retry(row, f"{type(e).__name__}: {e}")
            except Exception:
                outcome = "retry"  # its lease runs out and recovery sends it again
        self._finish(row, outcome)

    # -- the loop

    async def _become_deliverer(self, *, wait: bool) -> bool:
        """Register as the one deliverer; False (bot: wait and try again) while another is."""
        other = await self._db(OutboxQueue.register)
        if other is None:
            if self._waiting_for is not None:
                log.info("the other deliverer stopped: delivering pushes")
            self._registered = True
            self._waiting_for = None
            await self._db(OutboxQueue.recover)
            return True
        if not wait:
            raise DelivererBusy(other)
        if self._waiting_for != other.owner:
            log.warning("%s is delivering pushes: this bot waits until it stops", other.describe())
            self._waiting_for = other.owner
        return False

    async def run(
        self, should_run: Callable[[], bool] = lambda: True, *, until_idle: bool = False
    ) -> DrainStats:
        """Deliver due rows with at most ``concurrency`` in flight while ``should_run()``.

        With ``until_idle`` (the command line's drain) it returns once nothing is pending or
        sending, and raises DelivererBusy if another live deliverer is at work; otherwise (the
        bot) it waits for that one to stop. In-flight sends finish before it returns.
        """
        tasks: set[asyncio.Task] = set()
        loop = asyncio.get_running_loop()
        renew_every = self.lease_seconds / 3
        next_renewal = 0.0
        try:
            while should_run():
                if not self._registered:
                    if not await self._become_deliverer(wait=not until_idle):
                        await asyncio.sleep(self.poll_seconds)
                        continue
                    next_renewal = loop.time() + renew_every
                elif loop.time() >= next_renewal:
                    await self._db(OutboxQueue.heartbeat)
                    await self._db(OutboxQueue.recover)  # rows of a deliverer that died
                    next_renewal = loop.time() + renew_every
                free = self.concurrency - len(tasks)
                rows = await self._db(OutboxQueue.claim, free) if free > 0 else []
                for row in rows:
                    task = asyncio.create_task(self._deliver_and_report(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if rows and len(tasks) < self.concurrency:
                    continue
                due = await self._db(OutboxQueue.next_due_in)
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
        finally:
            if self._registered:  # stopping: another deliverer may start at once
                self._registered = False
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._db(OutboxQueue.unregister))
        return self.stats


OUTBOX_KEY = "outbox"


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Run the drainer for as long as the application runs (a one-off JobQueue job)."""
    application = context.application
    outbox: Outbox = application.bot_data[OUTBOX_KEY]
    try:
        while application.running:
            try:
                await outbox.run(lambda: application.running)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox drainer crashed; restarting in 5s")
                await asyncio.sleep(5)
    finally:
        outbox.close()  # another deliverer may start at once


def start_outbox(application: Application, **options: Any) -> Outbox:
    """Start delivering pushes from the running bot (call from post_init or after start)."""
    store: Store = application.bot_data["state"].store
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
    """Deliver the whole outbox with ``bot`` (no running Application) and return counts.

    Raises DelivererBusy while another live process (a running bot) delivers.
    """
    outbox = Outbox(
        store,
        bot,
        concurrency=concurrency,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        allowed=allowed,
        kind="drain",
    )
    outbox.on_done = on_done
    try:
        async with bot:
            return await outbox.run(until_idle=True)
    finally:
        outbox.close()


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
    import click

    total = pending_count(store)
    with progressbar(length=total, label="delivering", show_pos=True) as bar:

        def done(row: OutboxRow, outcome: str) -> None:
            if outcome in ("sent", "failed"):
                bar.update(1)

        try:
            return asyncio.run(
                drain_with_bot(
                    store, make_push_bot(settings), on_done=done, allowed=settings.allowed_chats
                )
            )
        except DelivererBusy as e:
            raise click.ClickException(
                f"{e.other.describe()} is delivering pushes already; it sends the outbox "
                "itself (see `marketbot push --status`). Not draining."
            ) from None
