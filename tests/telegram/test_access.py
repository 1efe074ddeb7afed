"""The access gate through every door: the real Application against the fake Bot API, a real
SQLite store, and `marketbot push --drain` as a real process for deliveries."""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot import subscriptions
from bot.config import Settings
from bot.db import Store
from bot.telegram import chats
from bot.telegram.access import GATE_KEY, TOLD_SECONDS, Gate
from bot.telegram.app import build_application
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, FakeBotApi, running_bot
from tests.telegram.test_run import env_for

BOT = "marketbot_test_bot"
LISTED_USER = 42
LISTED_GROUP = -1_009_000_000_042
OUTSIDER = DEFAULT_USER_ID  # neither the user nor…
UNLISTED_GROUP = DEFAULT_GROUP_ID  # …this group is on the list
FIGURE = "27,200"  # aftermarket DAU Q3
SOURCE = "Aladdin"


def settings_for(api: FakeBotApi, store: Store, **overrides) -> Settings:
    base = Settings(
        token=api.token,
        api_base_url=api.base_url,
        db_path=store.path,
        allowed_chats=frozenset({LISTED_USER, LISTED_GROUP}),
        log_level="INFO",
        webhook_secret=None,
        user_limit_per_minute=20,
        followup_ttl_seconds=1800,
    )
    return base._replace(**overrides)


@asynccontextmanager
async def bot_running(api: FakeBotApi, store: Store, **overrides) -> AsyncIterator[object]:
    app = build_application(settings_for(api, store, **overrides), store)
    async with running_bot(app):
        yield app
    api.assert_no_rejections()


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text or ""))


def texts_to(api: FakeBotApi, chat_id: int) -> list[str]:
    """Everything the bot sent to a chat: messages, captions."""
    out = [visible(r.params.get("text")) for r in api.sent("sendMessage", chat_id)]
    out += [visible(r.params.get("caption")) for r in api.sent("sendPhoto", chat_id)]
    return out


async def settle(api: FakeBotApi) -> None:
    """Let updates that get no reply be handled: a listed user's /help is answered after them."""
    since = time.monotonic()
    api.push_update(api.make_private_message("/help", user_id=LISTED_USER))
    await api.wait_for("sendMessage", chat_id=LISTED_USER, since=since, timeout=10)
    await asyncio.sleep(0.3)


async def test_outsider_gets_nothing_through_any_command(
    fake_api: FakeBotApi, fresh_db: Store
) -> None:
    async with bot_running(fake_api, fresh_db):
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("/sources"))
        [refusal] = await fake_api.wait_for("sendMessage", chat_id=OUTSIDER, since=since)
        assert "licensed" in refusal.params["text"]
        for text in ("/subscribe", "/metrics", "/help", "/start", "/ask aftermarket DAU Q3"):
            fake_api.push_update(fake_api.make_private_message(text))
        fake_api.push_update(fake_api.make_private_message("aftermarket DAU Q3"))
        fake_api.push_update(fake_api.make_sticker_message())
        await settle(fake_api)
        said = texts_to(fake_api, OUTSIDER)
        assert len(said) == 1  # told once, politely; then nothing
        assert not any(FIGURE in t or SOURCE in t or "Subscribed" in t for t in said)
        assert subscriptions.subscriptions(fresh_db, OUTSIDER) == []
        # The listed user is answered as before.
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("/sources", user_id=LISTED_USER))
        [sources] = await fake_api.wait_for("sendMessage", chat_id=LISTED_USER, since=since)
        assert SOURCE in sources.params["text"]


async def test_in_a_group_the_group_decides(fake_api: FakeBotApi, fresh_db: Store) -> None:
    async with bot_running(fake_api, fresh_db):
        # A listed user in an unlisted group: refused there, once, with the id to list.
        ask = fake_api.make_group_message(f"@{BOT} aftermarket DAU Q3", user_id=LISTED_USER)
        since = time.monotonic()
        fake_api.push_update(ask)
        [refusal] = await fake_api.wait_for("sendMessage", chat_id=UNLISTED_GROUP, since=since)
        assert str(UNLISTED_GROUP) in refusal.params["text"]
        assert refusal.params["reply_parameters"]["message_id"]  # quotes the asker
        for text in (f"/ask@{BOT} aftermarket DAU Q3", f"/subscribe@{BOT}", "/sources"):
            fake_api.push_update(
                fake_api.make_group_message(text, user_id=LISTED_USER, chat_id=UNLISTED_GROUP)
            )
        await settle(fake_api)
        said = texts_to(fake_api, UNLISTED_GROUP)
        assert len(said) == 1 and not any(FIGURE in t or SOURCE in t for t in said)
        assert subscriptions.subscriptions(fresh_db, UNLISTED_GROUP) == []

        # Anyone in a listed group may ask.
        since = time.monotonic()
        fake_api.push_update(
            fake_api.make_group_message(
                f"@{BOT} aftermarket DAU Q3", user_id=OUTSIDER, chat_id=LISTED_GROUP
            )
        )
        [answer] = await fake_api.wait_for("sendMessage", chat_id=LISTED_GROUP, since=since)
        assert FIGURE in visible(answer.params["text"])


async def test_inline_queries_only_for_listed_users_in_private(
    fake_api: FakeBotApi, fresh_db: Store
) -> None:
    async def inline(**kwargs) -> dict:
        since = time.monotonic()
        fake_api.push_update(fake_api.make_inline_query("aftermarket DAU Q3", **kwargs))
        [answer] = await fake_api.wait_for("answerInlineQuery", since=since)
        return answer.params

    async with bot_running(fake_api, fresh_db):
        refused = await inline(user_id=OUTSIDER)
        [article] = refused["results"]
        content = article["input_message_content"]["message_text"]
        assert article["title"] == "Not available" and not re.search(r"\d", content)
        # A listed user typing in a group: Telegram does not say which group, so no figures.
        in_group = await inline(user_id=LISTED_USER, chat_type="supergroup")
        [article] = in_group["results"]
        assert article["title"] == "Not available"
        assert FIGURE not in article["input_message_content"]["message_text"]
        # A listed user in a private chat gets the answer, cached for that user only.
        answered = await inline(user_id=LISTED_USER, chat_type="sender")
        [article] = answered["results"]
        assert FIGURE in visible(article["input_message_content"]["message_text"])
        assert answered["is_personal"] is True


async def test_button_press_from_an_unlisted_chat_gets_an_alert(
    fake_api: FakeBotApi, fresh_db: Store
) -> None:
    chats.ensure_schema(fresh_db)
    data = f"q:{chats.button_id(fresh_db, 'aftermarket DAU Q3')}"
    async with bot_running(fake_api, fresh_db):
        since = time.monotonic()
        fake_api.push_update(fake_api.make_callback_query(data, user_id=LISTED_USER))
        await fake_api.wait_for("sendMessage", chat_id=LISTED_USER, since=since)

        since = time.monotonic()
        press = fake_api.make_callback_query(data, user_id=LISTED_USER, chat_id=UNLISTED_GROUP)
        fake_api.push_update(press)
        [ack] = await fake_api.wait_for(
            lambda r: (
                r.method == "answerCallbackQuery"
                and r.params["callback_query_id"] == press["callback_query"]["id"]
            ),
            since=since,
        )
        assert ack.params["show_alert"] is True and "Not available" in ack.params["text"]
        await settle(fake_api)
        assert texts_to(fake_api, UNLISTED_GROUP) == []


async def test_added_to_an_unlisted_group_says_so_once(
    fake_api: FakeBotApi, fresh_db: Store
) -> None:
    subscriptions.subscribe(fresh_db, UNLISTED_GROUP, "*")  # from before the list was set
    async with bot_running(fake_api, fresh_db):
        since = time.monotonic()
        fake_api.push_update(fake_api.make_my_chat_member(UNLISTED_GROUP))
        [note] = await fake_api.wait_for("sendMessage", chat_id=UNLISTED_GROUP, since=since)
        assert str(UNLISTED_GROUP) in note.params["text"] and "reply_markup" not in note.params
        fake_api.push_update(  # promoted, then asked: still the one note
            fake_api.make_my_chat_member(
                UNLISTED_GROUP, old_status="member", new_status="administrator"
            )
        )
        fake_api.push_update(fake_api.make_group_message(f"@{BOT} aftermarket DAU Q3"))
        await settle(fake_api)
        assert len(texts_to(fake_api, UNLISTED_GROUP)) == 1
        # Removed: the gate lets it through, so what the group had subscribed stops.
        fake_api.push_update(
            fake_api.make_my_chat_member(UNLISTED_GROUP, old_status="member", new_status="left")
        )
        await settle(fake_api)
        assert subscriptions.subscriptions(fresh_db, UNLISTED_GROUP) == []
        # A listed group gets the usual hello with example buttons.
        since = time.monotonic()
        fake_api.push_update(fake_api.make_my_chat_member(LISTED_GROUP))
        [hello] = await fake_api.wait_for("sendMessage", chat_id=LISTED_GROUP, since=since)
        assert hello.params["text"].startswith("Hello") and hello.params["reply_markup"]


async def test_user_limit_counts_commands_buttons_and_inline(
    fake_api: FakeBotApi, fresh_db: Store
) -> None:
    chats.ensure_schema(fresh_db)
    data = f"q:{chats.button_id(fresh_db, 'aftermarket DAU Q3')}"
    async with bot_running(fake_api, fresh_db, user_limit_per_minute=3, allowed_chats=None):
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("/help"))
        fake_api.push_update(fake_api.make_inline_query("aftermarket DAU Q3"))
        fake_api.push_update(fake_api.make_callback_query(data))
        await fake_api.wait_for("sendMessage", count=2, chat_id=OUTSIDER, since=since)
        await fake_api.wait_for("answerInlineQuery", since=since)
        # Three requests made: the fourth of any kind is over the limit.
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("aftermarket MAU Q3"))
        [slow] = await fake_api.wait_for("sendMessage", chat_id=OUTSIDER, since=since)
        assert "faster than I can answer" in slow.params["text"]
        since = time.monotonic()
        fake_api.push_update(fake_api.make_inline_query("aftermarket MAU Q3"))
        [empty] = await fake_api.wait_for("answerInlineQuery", since=since)
        assert empty.params["results"] == []
        press = fake_api.make_callback_query(data)
        since = time.monotonic()
        fake_api.push_update(press)
        [ack] = await fake_api.wait_for(
            lambda r: (
                r.method == "answerCallbackQuery"
                and r.params["callback_query_id"] == press["callback_query"]["id"]
            ),
            since=since,
        )
        assert "wait a minute" in ack.params["text"]
        await asyncio.sleep(0.3)
        assert not any("401,000" in t for t in texts_to(fake_api, OUTSIDER))  # MAU: not answered


async def test_per_user_state_is_pruned(fake_api: FakeBotApi, fresh_db: Store) -> None:
    now = [time.monotonic()]
    async with bot_running(
        fake_api, fresh_db, user_limit_per_minute=1, allowed_chats=frozenset({LISTED_USER})
    ) as app:
        gate: Gate = app.bot_data[GATE_KEY]
        gate.clock = gate.limit.clock = lambda: now[0]
        limiter = app.bot.rate_limiter
        limiter.paused[777] = asyncio.get_running_loop().time() - 1  # a 429 pause, over

        async def wave(first_id: int, n: int, allowed: bool) -> None:
            since = time.monotonic()
            for i in range(n):
                user = first_id + i
                fake_api.push_update(fake_api.make_private_message("/help", user_id=user))
            if allowed:
                await fake_api.wait_for("sendMessage", count=n, since=since, timeout=60)
            else:
                await fake_api.wait_for(
                    lambda r: r.method == "sendMessage" and r.params["chat_id"] >= first_id,
                    count=n,
                    since=since,
                    timeout=60,
                )

        gate.allowed = None  # everyone: 100 users each over their limit once
        await wave(10_000, 100, allowed=True)
        await wave(10_000, 100, allowed=True)  # the slow-down notes
        assert len(gate.limit.recent) == 100 and len(gate.limit.warned) == 100
        gate.allowed = frozenset({LISTED_USER})  # 100 outsiders told once
        await wave(20_000, 100, allowed=False)
        assert len(gate.told) == 100

        now[0] += 61  # a minute later 100 new users: the old ones are forgotten
        gate.allowed = None
        await wave(30_000, 100, allowed=True)
        assert len(gate.limit.recent) == 100 and min(gate.limit.recent) == 30_000
        assert gate.limit.warned == {}
        assert 777 not in limiter.paused

        now[0] += TOLD_SECONDS  # a day later, one more refusal: the old ones are forgotten
        gate.allowed = frozenset({LISTED_USER})
        await wave(40_000, 1, allowed=False)
        assert list(gate.told) == [40_000]


def test_queue_push_leaves_out_chats_not_allowed(fresh_db: Store) -> None:
    for chat in (LISTED_USER, OUTSIDER):
        subscriptions.subscribe(fresh_db, chat, "*")
    push_id, queued = subscriptions.queue_push(fresh_db, "2019Q3", allowed={LISTED_USER})
    rows = fresh_db.conn.execute(
        "SELECT chat_id FROM outbox WHERE push_id = ?", (push_id,)
    ).fetchall()
    assert queued == 1 and rows == [(LISTED_USER,)]
    _, everyone = subscriptions.queue_push(fresh_db, "2019Q3")
    assert everyone == 2


async def test_drain_skips_a_chat_taken_off_the_list(
    fake_api: FakeBotApi, fresh_db: Store, db_path: Path
) -> None:
    for chat in (LISTED_USER, OUTSIDER):
        subscriptions.subscribe(fresh_db, chat, "*")
    subscriptions.queue_push(fresh_db, "2019Q3")  # queued while both were allowed
    fresh_db.conn.commit()
    env = env_for(fake_api, db_path, MARKETBOT_ALLOWED_CHATS=str(LISTED_USER))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "push",
        "--drain",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "sent 1, failed 1" in out.decode()
    assert texts_to(fake_api, LISTED_USER) and texts_to(fake_api, OUTSIDER) == []
    with sqlite3.connect(db_path) as conn:
        rows = dict(conn.execute("SELECT chat_id, state || ' ' || last_error FROM outbox"))
    assert rows[OUTSIDER] == "failed not allowed"
