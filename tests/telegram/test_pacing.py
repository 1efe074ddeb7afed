"""The one outbound pacer, against the fake Bot API with Telegram's limits enforced: a burst
meets no 429, a reply is never dropped for a 429, answers go before pushes, and the log line
counts the time an update spent queued."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.telegram.pacing import ANSWER, PUSH, PriorityPace
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, FakeBotApi
from tests.telegram.test_handlers import BOT, start_bot, stop_bot, visible

FIRST_USER = 800_000_000


@pytest.fixture
async def strict_api():
    async with FakeBotApi(enforce_limits=True) as api:
        yield api


async def test_burst_of_private_chats_and_group_mentions_meets_no_429(
    strict_api: FakeBotApi, db_path: Path
) -> None:
    running = await start_bot(strict_api, db_path)
    try:
        since = time.monotonic()
        for i in range(90):
            strict_api.push_update(
                strict_api.make_private_message("aftermarket DAU Q3", user_id=FIRST_USER + i)
            )
        for i in range(8):
            strict_api.push_update(
                strict_api.make_group_message(f"@{BOT} aftermarket DAU Q{1 + i % 3}", user_id=5 + i)
            )
        replies = await strict_api.wait_for(
            lambda r: r.method == "sendMessage" and r.ok, count=98, since=since, timeout=60
        )
    finally:
        await stop_bot(running)
    assert {int(r.params["chat_id"]) for r in replies} == {
        *range(FIRST_USER, FIRST_USER + 90),
        DEFAULT_GROUP_ID,
    }
    strict_api.assert_no_rate_limit_hits()


async def test_a_reply_is_never_dropped_for_429(fake_api: FakeBotApi, db_path: Path) -> None:
    running = await start_bot(fake_api, db_path)
    try:
        fake_api.flood(DEFAULT_USER_ID, times=6, retry_after=1)  # more than any retry budget
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("aftermarket DAU Q3"))
        replies = await fake_api.wait_for(
            lambda r: r.method == "sendMessage" and r.ok, since=since, timeout=30
        )
    finally:
        await stop_bot(running)
    assert "27,200" in visible(replies[0].params["text"])
    assert not any("went wrong" in (r.params.get("text") or "") for r in fake_api.requests)


async def test_many_subscribes_at_once_are_all_confirmed(
    strict_api: FakeBotApi, db_path: Path
) -> None:
    running = await start_bot(strict_api, db_path)
    n = 150
    try:
        since = time.monotonic()
        for i in range(n):
            strict_api.push_update(
                strict_api.make_private_message("/subscribe", user_id=FIRST_USER + i)
            )
        replies = await strict_api.wait_for(
            lambda r: r.method == "sendMessage" and r.ok, count=n, since=since, timeout=60
        )
    finally:
        await stop_bot(running)
    assert len({int(r.params["chat_id"]) for r in replies}) == n
    assert not any("went wrong" in (r.params.get("text") or "") for r in strict_api.requests)
    strict_api.assert_no_rate_limit_hits()


async def test_answers_take_the_next_slots_before_pushes_waiting_longer() -> None:
    pace = PriorityPace(20)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await pace.acquire(priority)
        order.append(name)

    pushes = [asyncio.create_task(take(f"push{i}", PUSH)) for i in range(6)]
    await asyncio.sleep(0.01)  # the pushes queue first
    answers = [asyncio.create_task(take(f"answer{i}", ANSWER)) for i in range(3)]
    await asyncio.gather(*pushes, *answers)
    # the first push had the free slot; every answer goes before the pushes still waiting
    assert order[:4] == ["push0", "answer0", "answer1", "answer2"]
    assert order[4:] == [f"push{i}" for i in range(1, 6)]


async def test_log_line_counts_time_spent_queued(
    fake_api: FakeBotApi, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_bot(fake_api, db_path)
    try:
        update = fake_api.make_private_message("aftermarket DAU Q3")
        update["message"]["date"] -= 7  # sent 7 s ago: it waited in a queue before us
        with caplog.at_level(logging.INFO, logger="marketbot"):
            await running.say(update)
            await asyncio.sleep(0.1)
    finally:
        await stop_bot(running)
    [line] = [r.getMessage() for r in caplog.records if "status=answered" in r.getMessage()]
    latency = float(line.split("latency_ms=")[1].split()[0])
    handler = float(line.split("handler_ms=")[1].split()[0])
    assert latency >= 6000 and handler < latency
