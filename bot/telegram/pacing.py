"""Pacing of outgoing requests below Telegram's limits, per chat.

PTB's AIORateLimiter pauses *every* request on a 429; here a RetryAfter only holds back the
chat it was about, group chats keep to ~20 messages a minute (bursts are queued, not dropped),
and broadcast messages (marked ``rate_limit_args={"push": True}``) share a slower overall pace
so that interactive answers never wait behind a push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


class ChatRateLimiter(BaseRateLimiter[dict]):
    """Per-chat limits and per-chat 429 back-off; pushes paced separately from answers."""

    def __init__(
        self,
        # A ceiling, above the outbox's own pace of 25 deliveries a second: sends to chats
        # that blocked the bot (403, nothing delivered) give their pace slot back there.
        push_per_second: float = 28,
        group_per_minute: float = 20,
        max_retries: int = 3,
    ) -> None:
        self.push = AsyncLimiter(push_per_second, 1)
        self.group_per_minute = group_per_minute
        self.groups: dict[int | str, AsyncLimiter] = {}
        self.paused: dict[int | str, float] = {}  # chat -> loop time until which it must wait
        self.max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _group(self, chat_id: int | str) -> AsyncLimiter:
        if len(self.groups) > 4096:  # forget idle groups so the map stays small
            for key, limiter in list(self.groups.items()):
                if limiter.has_capacity(limiter.max_rate):
                    del self.groups[key]
        limiter = self.groups.get(chat_id)
        if limiter is None:
            limiter = self.groups[chat_id] = AsyncLimiter(self.group_per_minute, 60)
        return limiter

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
        is_push = bool(rate_limit_args and rate_limit_args.get("push"))
        retries = 0 if is_push else self.max_retries
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        is_group = (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
        attempt = 0
        while True:
            if chat_id is not None:
                wait = self.paused.get(chat_id, 0) - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                if chat_id is None:
                    return await callback(*args, **kwargs)
                group = self._group(chat_id) if is_group else contextlib.nullcontext()
                pace = self.push if is_push else contextlib.nullcontext()
                # Answers skip the overall queue: pushes stay at ~25/s, leaving Telegram's
                # ~30/s headroom to interactive replies, which therefore never wait behind them.
                async with group, pace:
                    return await callback(*args, **kwargs)
            except RetryAfter as e:
                delay = e.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
                if chat_id is not None:
                    until = asyncio.get_running_loop().time() + seconds + 0.05
                    self.paused[chat_id] = max(self.paused.get(chat_id, 0), until)
                if attempt >= retries:
                    raise
                attempt += 1
                log.info("429 for chat %s: retrying %s in %.1fs", chat_id, endpoint, seconds)

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
