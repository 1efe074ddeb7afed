"""Answers never wait on a write: with another connection holding SQLite's write lock the
running bot still answers (and follows up), and its writes land once the lock is released;
building a push summary does not stall answers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bot import subscriptions
from bot.telegram import delivery
from bot.telegram.writer import writer_for
from tests.fake_bot_api import DEFAULT_USER_ID, FakeBotApi
from tests.telegram.test_handlers import Running, start_bot, stop_bot, visible


@pytest.fixture
async def bot(fake_api: FakeBotApi, db_path: Path):
    running = await start_bot(fake_api, db_path)
    yield running
    await stop_bot(running)


def unanswered_rows(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            t for (t,) in conn.execute("SELECT text FROM unanswered WHERE chat_kind != 'warmup'")
        ]
    finally:
        conn.close()


async def test_answers_while_another_process_holds_the_write_lock(
    bot: Running, db_path: Path
) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as an ingest does, for as long as it writes
    try:
        [reply] = await bot.say(bot.api.make_private_message("bananas revenue Q3"), timeout=10)
        assert visible(reply.params["text"]).startswith("No figure for “bananas”")
        assert reply.params.get("reply_markup")  # did-you-mean buttons, ids known at once
        [reply] = await bot.say(bot.api.make_private_message("aftermarket DAU Q3"), timeout=10)
        assert "27,200" in visible(reply.params["text"])
        # the follow-up sees the question just asked although its write is still queued
        [reply] = await bot.say(bot.api.make_private_message("and Q2?"), timeout=10)
        assert "Q2 2019" in visible(reply.params["text"])
        assert holder.in_transaction  # all of it while the lock was held
        assert unanswered_rows(db_path) == []  # not written yet
    finally:
        holder.execute("COMMIT")
        holder.close()
    writer = writer_for(bot.store)
    assert await asyncio.to_thread(writer.flush, 40.0)
    assert unanswered_rows(db_path) == ["bananas revenue Q3"]
    row = bot.store.conn.execute(
        "SELECT query FROM chat_state WHERE chat_id = ?", (DEFAULT_USER_ID,)
    ).fetchone()
    assert row and "and Q2?" in row[0]  # the last answered question, written after all


async def test_a_slow_summary_does_not_stall_answers(
    bot: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    building = threading.Event()
    release = threading.Event()
    real = delivery.build_summary

    def slow_build(*args, **kwargs):  # a store with very many markets in the period
        building.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(delivery, "build_summary", slow_build)
    subscriptions.subscribe(bot.store, 4242, "*")
    subscriptions.queue_push(bot.store)
    bot.app.bot_data[delivery.OUTBOX_KEY].wake.set()
    assert await asyncio.to_thread(building.wait, 20)
    try:
        [reply] = await bot.say(bot.api.make_private_message("aftermarket DAU Q3"), timeout=10)
        assert "27,200" in visible(reply.params["text"])
        assert not release.is_set() and building.is_set()  # answered while it was building
        assert not bot.api.sent("sendPhoto", 4242) and not bot.api.sent("sendMessage", 4242)
    finally:
        release.set()
    await bot.api.wait_for(lambda r: r.params.get("chat_id") == 4242 and r.ok, timeout=30)
