"""One pacer for everything the bot sends: answers and pushes, below Telegram's limits.

Like PTB's ``AIORateLimiter`` it keeps an overall pace (aiolimiter) and a per-group pace, and
waits out a 429's ``retry_after``. Unlike it:

* the overall pace hands its slots to answers before pushes (``rate_limit_args={"push":
  True}`` marks a push), so a question never waits behind a broadcast;
* slots are spaced evenly (no burst of 30 at once) and a group's 20 messages are counted over
  any 60 seconds, because Telegram (and the strict fake server in tests) count in sliding
  windows, where a leaky bucket's burst-then-drip would overshoot;
* a 429 pauses only the chat it was about, and an answer is retried until it is delivered or
  its deadline (default 120 s) passes, never dropped after a few tries. Pushes are not
  retried here: the outbox stores the wait and sends again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
ANSWER, PUSH = 0, 1  # priorities: lower goes first


def retry_after_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds (PTB 22 gives an int or a timedelta)."""
    import warnings

    from telegram.warnings import PTBDeprecationWarning

    with warnings.catch_warnings():  # PTB 22 warns about its future timedelta type
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        delay = error.retry_after
    return delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)


class PriorityPace:
    """Evenly spaced send slots (an aiolimiter bucket of one), most urgent waiter first."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        # max_rate 1: no burst, one slot every 1/per_second seconds.
        self.limiter = AsyncLimiter(1, 1 / per_second)
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task | None = None

    def waiting(self, priority: int | None = None) -> int:
        return sum(
            1 for p, _, f in self._waiting if not f.done() and (priority is None or p == priority)
        )

    async def acquire(self, priority: int = ANSWER) -> None:
        if not self._waiting and self.limiter.has_capacity():
            await self.limiter.acquire()  # free now: returns without suspending
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="pacer")
        await future

    async def _dispatch(self) -> None:
        while self._waiting:
            await self.limiter.acquire()
            while self._waiting:  # a waiter cancelled meanwhile is skipped
                _, _, future = heapq.heappop(self._waiting)
                if not future.done():
                    future.set_result(None)
                    break


class SlidingWindow:
    """At most ``limit`` sends in any ``seconds``, first come first served.

    A send counts from when its request finished (the server saw it before that), so the
    server never counts more than ``limit`` in its own window whatever the network delay.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.sent: deque[float] = deque()
        self.in_flight = 0
        self._turn = asyncio.Lock()  # FIFO: a queued burst goes out in order

    def idle(self) -> bool:
        self._prune()
        return not self.sent and not self.in_flight

    def _prune(self) -> None:
        cutoff = time.monotonic() - self.seconds
        while self.sent and self.sent[0] <= cutoff:
            self.sent.popleft()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._turn:
            while True:
                self._prune()
                if len(self.sent) + self.in_flight < self.limit:
                    break
                wait = self.sent[0] + self.seconds - time.monotonic() if self.sent else 0.05
                await asyncio.sleep(max(wait, 0.01) + 0.01)
            self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.sent.append(time.monotonic())


def _posts_message(endpoint: str) -> bool:
    """Requests that post a message: what Telegram's flood limits count."""
    name = endpoint.lower()
    return name.startswith(("send", "copy", "forward")) and name != "sendchataction"


class ChatRateLimiter(BaseRateLimiter[dict]):
    """The bot's one outbound pacer: overall and per-group pace, per-chat 429 back-off."""

    def __init__(
        self,
        # Telegram allows about 30 messages a second; evenly spaced 29/s leaves room for the
        # odd request that reaches the server a little early.
        overall_per_second: float = 29.0,
        group_per_minute: int = 20,
        answer_deadline_seconds: float = 120.0,
    ) -> None:
        self.overall = PriorityPace(overall_per_second)
        self.group_per_minute = group_per_minute
        self.groups: dict[int | str, SlidingWindow] = {}
        self.paused: dict[int | str, float] = {}  # chat -> loop time until which it must wait
        self.answer_deadline = answer_deadline_seconds
        self.rate_limited = 0  # 429s met, for logs and benchmarks

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _group(self, chat_id: int | str) -> SlidingWindow:
        if len(self.groups) > 4096:  # forget idle groups so the map stays small
            for key, window in list(self.groups.items()):
                if window.idle():
                    del self.groups[key]
        window = self.groups.get(chat_id)
        if window is None:
            window = self.groups[chat_id] = SlidingWindow(self.group_per_minute, 60.0)
        return window

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await callback(*args, **kwargs)
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        is_push = bool(rate_limit_args and rate_limit_args.get("push"))
        is_group = (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
        paced = _posts_message(endpoint)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.answer_deadline
        while True:
            wait = self.paused.get(chat_id, 0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if not paced:
                    return await callback(*args, **kwargs)
                group = self._group(chat_id).slot() if is_group else contextlib.nullcontext()
                async with group:
                    await self.overall.acquire(PUSH if is_push else ANSWER)
                    return await callback(*args, **kwargs)
            except RetryAfter as e:
                self.rate_limited += 1
                seconds = retry_after_seconds(e)
                until = loop.time() + seconds + 0.05
                self.paused[chat_id] = max(self.paused.get(chat_id, 0), until)
                if is_push or until > deadline:
                    raise
                log.info("429 for a chat: retrying %s in %.1fs", endpoint, seconds)

    def prune_paused(self, now: float | None = None) -> int:
        """Forget chats whose 429 pause is over, so ``paused`` holds only paused chats.

        ``now`` is event-loop time (what ``paused`` stores); returns how many were forgotten.
        """
        if now is None:
            now = asyncio.get_running_loop().time()
        over = [chat for chat, until in self.paused.items() if until <= now]
        for chat in over:
            del self.paused[chat]
        return len(over)
