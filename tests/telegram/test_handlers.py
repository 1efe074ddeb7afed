"""The real python-telegram-bot Application, polling a fake Bot API server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db import open_store
from bot.telegram.app import build_application, post_init
from bot.telegram.handlers import split_html
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, FakeBotApi

BOT = "marketbot_test_bot"


@dataclass
class Running:
    api: FakeBotApi
    app: object
    store: object

    async def say(
        self,
        update: dict,
        method: str = "sendMessage",
        count: int = 1,
        chat_id: int | None = None,
        timeout: float = 8.0,
    ):
        """Push one update and wait for the bot's reply request(s) that follow it."""
        import time

        since = time.monotonic()
        self.api.push_update(update)
        return await self.api.wait_for(
            method, count=count, chat_id=chat_id, since=since, timeout=timeout
        )


def settings_for(api: FakeBotApi, db: Path, **overrides) -> Settings:
    base = Settings(
        token=api.token,
        api_base_url=api.base_url,
        db_path=db,
        allowed_chats=None,
        log_level="INFO",
        webhook_secret=None,
        user_limit_per_minute=20,
        followup_ttl_seconds=1800,
    )
    return base._replace(**overrides)


async def start_bot(api: FakeBotApi, db: Path, **overrides) -> Running:
    store = open_store(db)
    app = build_application(settings_for(api, db, **overrides), store)
    await app.initialize()
    await post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await _deliverer_registered(db)
    return Running(api, app, store)


async def _deliverer_registered(db: Path, timeout: float = 15.0) -> None:
    """Wait until the bot's push deliverer has registered in the store (its one start-up
    write), so a test that compares the store's bytes sees only what the test itself did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            try:
                found = conn.execute(
                    "SELECT count(*) FROM deliverers WHERE pid = ?", (os.getpid(),)
                ).fetchone()[0]
            except sqlite3.OperationalError:  # the table is made by the deliverer itself
                found = 0
        if found:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot's push deliverer did not start")


async def stop_bot(running: Running) -> None:
    await running.app.updater.stop()
    await running.app.stop()
    await running.app.shutdown()
    running.store.close()


@pytest.fixture
async def bot(fake_api: FakeBotApi, db_path: Path) -> AsyncIterator[Running]:
    running = await start_bot(fake_api, db_path)
    yield running
    await stop_bot(running)
    fake_api.assert_no_rejections()


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


# -- start-up -------------------------------------------------------------------------------


async def test_startup_registers_commands_in_two_languages(bot: Running) -> None:
    calls = bot.api.sent("setMyCommands")
    assert len(calls) == 2
    langs = {c.params.get("language_code") for c in calls}
    assert langs == {None, "zh"}
    names = {cmd["command"] for cmd in calls[0].params["commands"]}
    assert {"ask", "metrics", "sources", "help", "start"} <= names


# -- private chats --------------------------------------------------------------------------


async def test_private_text_is_answered_with_source(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("aftermarket DAU Q3"))
    text = visible(reply.params["text"])
    assert "27,200" in text and "Q3 2019" in text and "Aladdin Research Institute" in text
    assert reply.params["parse_mode"] == "HTML"
    assert reply.params["chat_id"] == DEFAULT_USER_ID


async def test_comparison_is_sent_as_one_photo_with_caption(bot: Running) -> None:
    [photo] = await bot.say(bot.api.make_private_message("pan-car users Q2 vs Q3"), "sendPhoto")
    assert "+42.2%" in visible(photo.params["caption"])
    assert photo.files and next(iter(photo.files.values())).data.startswith(b"\x89PNG")
    actions = bot.api.sent("sendChatAction")
    assert actions and actions[-1].params["action"] == "upload_photo"
    assert not bot.api.sent("sendMessage")  # one photo, no separate text


async def test_ask_command_and_empty_ask(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("/ask car code cities Alipay"))
    assert "over 200 cities" in visible(reply.params["text"])
    [hint] = await bot.say(bot.api.make_private_message("/ask"))
    assert "/ask aftermarket DAU Q3" in hint.params["text"]


async def test_start_help_metrics_sources(bot: Running) -> None:
    [start] = await bot.say(bot.api.make_private_message("/start"))
    buttons = [b for row in start.params["reply_markup"]["inline_keyboard"] for b in row]
    assert len(buttons) >= 3 and all(1 <= len(b["callback_data"].encode()) <= 64 for b in buttons)
    [helped] = await bot.say(bot.api.make_private_message("/help"))
    assert "How to ask" in helped.params["text"]
    [metrics] = await bot.say(bot.api.make_private_message("/metrics"))
    assert "DAU" in metrics.params["text"] and "2019Q2" in metrics.params["text"]
    [sources] = await bot.say(bot.api.make_private_message("/sources"))
    assert "Aladdin Research Institute" in sources.params["text"]


async def test_html_in_question_is_escaped(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("<b>revenue</b> & aftermarket <i"))
    assert reply.ok, reply.description
    [reply] = await bot.say(bot.api.make_private_message("aftermarket <b>DAU</b> & Q3"))
    assert reply.ok and "27,200" in visible(reply.params["text"])


async def test_not_found_offers_buttons_that_answer(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("aftermarket revenue Q3"))
    assert "No figure" in reply.params["text"]
    buttons = [b for row in reply.params["reply_markup"]["inline_keyboard"] for b in row]
    target = next(b for b in buttons if "DAU" in b["text"])
    assert len(target["callback_data"].encode()) <= 64
    press = bot.api.make_callback_query(target["callback_data"], message=reply.result)
    [answer] = await bot.say(press)
    assert "27,200" in visible(answer.params["text"])
    acks = await bot.api.wait_for("answerCallbackQuery")
    assert acks[-1].params["callback_query_id"] == press["callback_query"]["id"]


async def test_followups_reuse_the_chat_question(bot: Running) -> None:
    await bot.say(bot.api.make_private_message("aftermarket DAU Q3"))
    [q2] = await bot.say(bot.api.make_private_message("and Q2?"))
    assert "28,500" in visible(q2.params["text"])
    [zh] = await bot.say(bot.api.make_private_message("in Chinese"))
    assert "2.85万" in visible(zh.params["text"])
    await bot.say(bot.api.make_private_message("ride code users wechat"))
    [vs] = await bot.say(bot.api.make_private_message("vs Alipay"), "sendPhoto")
    caption = visible(vs.params["caption"])
    assert "WeChat" in caption and "Alipay" in caption


async def test_long_reply_is_split_below_the_limit() -> None:
    line = "<b>" + "x" * 90 + "</b> &amp; y"
    parts = split_html("\n".join([line] * 200))
    assert len(parts) > 1
    for part in parts:
        assert len(part) < 4096
        assert part.count("<b>") == part.count("</b>")
    huge = split_html("a &amp; " * 2000)
    assert all(len(p) < 4096 and not re.search(r"&[a-z]*$", p) for p in huge)


async def test_bad_updates_never_crash(bot: Running) -> None:
    api = bot.api
    api.push_update(api.make_edited_message("aftermarket DAU Q3"))
    api.push_update(api.make_channel_post("aftermarket DAU Q3"))
    [reply] = await bot.say(api.make_sticker_message())
    assert "text questions" in reply.params["text"]
    [after] = await bot.say(api.make_private_message("aftermarket MAU Q3"))
    assert "401,000" in visible(after.params["text"])
    # the edited message and channel post got no answer
    assert len(api.sent("sendMessage")) == 2


async def test_user_limit_answers_excess_politely(fake_api: FakeBotApi, db_path: Path) -> None:
    running = await start_bot(fake_api, db_path, user_limit_per_minute=3)
    try:
        for _ in range(6):
            fake_api.push_update(fake_api.make_private_message("aftermarket DAU Q3"))
        await fake_api.wait_for("sendMessage", count=4)
        await asyncio.sleep(0.3)
        texts = [visible(r.params["text"]) for r in fake_api.sent("sendMessage")]
        assert sum("27,200" in t for t in texts) == 3
        assert sum("faster than I can answer" in t for t in texts) == 1
    finally:
        await stop_bot(running)


async def test_allowlist_refuses_politely(fake_api: FakeBotApi, db_path: Path) -> None:
    running = await start_bot(fake_api, db_path, allowed_chats=frozenset({42}))
    try:
        [reply] = await running.say(fake_api.make_private_message("aftermarket DAU Q3"))
        assert "licensed" in reply.params["text"] and "27,200" not in reply.params["text"]
        [ok] = await running.say(fake_api.make_private_message("aftermarket DAU Q3", user_id=42))
        assert "27,200" in visible(ok.params["text"])
    finally:
        await stop_bot(running)


# -- groups -----------------------------------------------------------------------------------


async def test_group_answers_only_when_addressed(bot: Running) -> None:
    api = bot.api
    api.push_update(api.make_group_message("aftermarket DAU Q3 is interesting"))
    [reply] = await bot.say(api.make_group_message(f"@{BOT} aftermarket DAU Q3"))
    assert "27,200" in visible(reply.params["text"])
    assert reply.params["chat_id"] == DEFAULT_GROUP_ID
    assert reply.params["reply_parameters"]["message_id"]  # quotes the asking message
    [cmd] = await bot.say(api.make_group_message(f"/ask@{BOT} aftermarket MAU Q3"))
    assert "401,000" in visible(cmd.params["text"])
    [by_reply] = await bot.say(api.make_group_message("and Q2?", reply_to_message=reply.result))
    assert "431,300" in visible(by_reply.params["text"])  # the chat's last question was MAU
    assert len(api.sent("sendMessage")) == 3  # the unaddressed message got nothing


async def test_forum_topic_reply_stays_in_topic(bot: Running) -> None:
    [reply] = await bot.say(
        bot.api.make_group_message(f"@{BOT} aftermarket DAU Q3", message_thread_id=77)
    )
    assert reply.params["message_thread_id"] == 77


async def test_hello_when_added_to_group(bot: Running) -> None:
    [hello] = await bot.say(bot.api.make_my_chat_member())
    assert "Hello" in hello.params["text"] and hello.params["chat_id"] == DEFAULT_GROUP_ID


async def test_group_migration_moves_follow_up_state(bot: Running) -> None:
    api = bot.api
    old, new = -4001, -1004001
    await bot.say(
        api.make_group_message(f"@{BOT} aftermarket DAU Q3", chat_id=old, chat_type="group")
    )
    api.push_updates(api.make_migration_updates(old, new))
    for _ in range(100):  # both service messages handled: the state now lives under `new`
        rows = bot.store.conn.execute("SELECT chat_id FROM chat_state").fetchall()
        if rows == [(new,)]:
            break
        await asyncio.sleep(0.05)
    assert rows == [(new,)]
    [reply] = await bot.say(api.make_group_message(f"@{BOT} and Q2?", chat_id=new))
    assert "28,500" in visible(reply.params["text"])


async def test_group_burst_is_queued_not_dropped(bot: Running) -> None:
    api = bot.api
    for i in range(5):
        api.push_update(api.make_group_message(f"@{BOT} aftermarket DAU Q3 #{i}"))
    replies = await api.wait_for("sendMessage", count=5)
    assert len(replies) == 5 and all(r.ok for r in replies)


# -- inline, errors, limits -----------------------------------------------------------------


async def test_inline_query_offers_an_article(bot: Running) -> None:
    [answer] = await bot.say(bot.api.make_inline_query("aftermarket DAU"), "answerInlineQuery")
    [result] = answer.params["results"]
    assert result["type"] == "article"
    content = visible(result["input_message_content"]["message_text"])
    assert "27,200" in content and "Source" in content
    # half-typed inline text arrives at every keystroke: it is not logged as unanswered
    await bot.say(bot.api.make_inline_query("aftermarket rev"), "answerInlineQuery")
    assert bot.store.unanswered() == []


async def test_retry_after_delays_only_that_chat(bot: Running) -> None:
    api = bot.api
    api.flood(chat_id=DEFAULT_USER_ID, times=1, retry_after=2)
    api.push_update(api.make_private_message("aftermarket DAU Q3"))
    other = api.make_private_message("aftermarket MAU Q3", user_id=555)
    [fast] = await bot.say(other, chat_id=555)
    assert fast.ok and "401,000" in visible(fast.params["text"])
    assert not api.sent("sendMessage", chat_id=DEFAULT_USER_ID, ok=True)  # still waiting
    [late] = await api.wait_for(
        lambda r: r.method == "sendMessage" and r.ok and r.params.get("chat_id") == DEFAULT_USER_ID,
        timeout=6,
    )
    assert "27,200" in visible(late.params["text"])


async def test_handler_failure_tells_the_user(bot: Running, monkeypatch) -> None:
    import bot.telegram.handlers as tb

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tb, "ask", broken)
    [reply] = await bot.say(bot.api.make_private_message("aftermarket DAU Q3"))
    assert "something went wrong" in reply.params["text"]


async def test_blocked_user_does_not_stop_others(bot: Running) -> None:
    api = bot.api
    api.block(DEFAULT_USER_ID)
    api.push_update(api.make_private_message("aftermarket DAU Q3"))
    [refused] = await api.wait_for(lambda r: r.method == "sendMessage" and not r.ok)
    assert refused.status == 403
    [other] = await bot.say(
        api.make_private_message("aftermarket MAU Q3", user_id=777), chat_id=777
    )
    assert other.ok and "401,000" in visible(other.params["text"])


async def test_reply_to_a_migrated_group_moves_its_state(bot: Running) -> None:
    api = bot.api
    old, new = -5001, -1005001
    await bot.say(
        api.make_group_message(f"@{BOT} aftermarket DAU Q3", chat_id=old, chat_type="group")
    )
    api.migrate(old, new)  # the next reply to the old id answers 400 "upgraded to a supergroup"
    api.push_update(
        api.make_group_message(f"@{BOT} aftermarket MAU Q3", chat_id=old, chat_type="group")
    )
    [moved] = await api.wait_for(lambda r: r.method == "sendMessage" and r.status == 400)
    assert "upgraded" in moved.description
    [answered] = await api.wait_for(
        lambda r: r.method == "sendMessage" and r.ok and r.params["chat_id"] == new
    )
    assert "401,000" in visible(answered.params["text"])  # the answer reaches the new id
    for _ in range(100):
        rows = bot.store.conn.execute("SELECT chat_id FROM chat_state").fetchall()
        if rows == [(new,)]:
            break
        await asyncio.sleep(0.05)
    assert rows == [(new,)]
