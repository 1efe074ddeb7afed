"""/subscribe, /unsubscribe and /subscriptions end to end: the real Application, the fake
Bot API server and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram.ext import Application

from bot import subscriptions
from bot.config import Settings
from bot.db import Store
from bot.telegram import chats
from bot.telegram.app import build_application
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, FakeBotApi, running_bot

ADMIN_ID = 222_222_222
MEMBER_ID = 333_333_333


def make_app(api: FakeBotApi, store: Store, monkeypatch: pytest.MonkeyPatch) -> Application:
    """The bot as `marketbot run` builds it, pointed at the fake server."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
    monkeypatch.delenv("MARKETBOT_ALLOWED_CHATS", raising=False)
    return build_application(Settings.from_env(store.path), store)


@pytest.fixture
async def bot(
    fake_api: FakeBotApi, fresh_db: Store, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeBotApi]:
    app = make_app(fake_api, fresh_db, monkeypatch)
    async with running_bot(app):
        yield fake_api
    fake_api.assert_no_rejections()


async def say(api: FakeBotApi, update: dict, method: str = "sendMessage") -> str:
    """Push an update and return the text of the bot's next reply to that chat."""
    chat_id = update["message"]["chat"]["id"]
    before = len(api.sent(method, chat_id))
    api.push_update(update)
    replies = await api.wait_for(method, before + 1, chat_id=chat_id, timeout=10)
    return replies[-1].params["text"]


def topics(store: Store, chat_id: int) -> list[str]:
    return [s.topic for s in subscriptions.subscriptions(store, chat_id)]


async def test_private_subscribe_list_unsubscribe(bot: FakeBotApi, fresh_db: Store) -> None:
    reply = await say(bot, bot.make_private_message("/subscribe"))
    assert "Subscribed to all markets" in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == ["*"]

    reply = await say(bot, bot.make_private_message("/subscribe ride code"))
    assert "Ride code" in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == ["*", "ride_code"]

    reply = await say(bot, bot.make_private_message("/subscriptions"))
    assert "all markets" in reply and "Ride code" in reply

    reply = await say(bot, bot.make_private_message("/unsubscribe ride code"))
    assert "Unsubscribed from Ride code" in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == ["*"]

    reply = await say(bot, bot.make_private_message("/unsubscribe"))
    assert "Unsubscribed from everything" in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == []
    reply = await say(bot, bot.make_private_message("/subscriptions"))
    assert reply.startswith("No subscriptions")


async def test_chinese_alias_subscribes_in_chinese(bot: FakeBotApi, fresh_db: Store) -> None:
    reply = await say(bot, bot.make_private_message("/subscribe 后市场"))
    assert reply.startswith("已订阅")
    [sub] = subscriptions.subscriptions(fresh_db, DEFAULT_USER_ID)
    assert (sub.topic, sub.lang) == ("aftermarket", "zh")

    reply = await say(bot, bot.make_private_message("/subscribe pan-auto"))
    assert "Pan-automotive" in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == ["aftermarket", "pan_auto"]


async def test_unknown_topic_lists_known_topics(bot: FakeBotApi, fresh_db: Store) -> None:
    reply = await say(bot, bot.make_private_message("/subscribe bananas"))
    assert "bananas" in reply
    for key in ("aftermarket", "pan_auto", "ride_code", "overseas_taxi"):
        assert key in reply
    assert topics(fresh_db, DEFAULT_USER_ID) == []


async def test_group_only_admins_change_anyone_lists(bot: FakeBotApi, fresh_db: Store) -> None:
    bot.set_chat_member(DEFAULT_GROUP_ID, ADMIN_ID, "administrator")
    bot.set_chat_member(DEFAULT_GROUP_ID, MEMBER_ID, "member")
    bot.add_user(ADMIN_ID, "Ada")
    bot.add_user(MEMBER_ID, "Bob")

    refused = await say(bot, bot.make_group_message("/subscribe aftermarket", user_id=MEMBER_ID))
    assert "only this group's administrators" in refused
    assert topics(fresh_db, DEFAULT_GROUP_ID) == []

    reply = await say(
        bot,
        bot.make_group_message("/subscribe aftermarket", user_id=ADMIN_ID, message_thread_id=77),
    )
    assert "Subscribed" in reply
    [sub] = subscriptions.subscriptions(fresh_db, DEFAULT_GROUP_ID)
    assert (sub.topic, sub.thread_id) == ("aftermarket", 77)
    # the reply went to the forum topic the command came from
    assert bot.sent("sendMessage", DEFAULT_GROUP_ID)[-1].params.get("message_thread_id") == 77

    listed = await say(bot, bot.make_group_message("/subscriptions", user_id=MEMBER_ID))
    assert "Automotive aftermarket" in listed

    refused = await say(bot, bot.make_group_message("/unsubscribe", user_id=MEMBER_ID))
    assert "only this group's administrators" in refused
    assert topics(fresh_db, DEFAULT_GROUP_ID) == ["aftermarket"]

    creator_id = 444_444_444
    bot.set_chat_member(DEFAULT_GROUP_ID, creator_id, "creator")
    reply = await say(bot, bot.make_group_message("/unsubscribe", user_id=creator_id))
    assert "Unsubscribed from everything" in reply
    assert topics(fresh_db, DEFAULT_GROUP_ID) == []


async def _migrate(bot: FakeBotApi, store: Store, updates: slice) -> None:
    old, new = -4_000_123, -1_009_000_000_123
    bot.set_chat_member(old, ADMIN_ID, "administrator")
    await say(
        bot, bot.make_group_message("/subscribe", chat_id=old, chat_type="group", user_id=ADMIN_ID)
    )
    assert topics(store, old) == ["*"]
    assert ("subscriptions", "chat_id") in chats.CHAT_TABLES
    for update in bot.make_migration_updates(old, new)[updates]:
        bot.push_update(update)
    for _ in range(50):
        if topics(store, new) == ["*"]:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # let every migration message be handled
    assert topics(store, new) == ["*"]
    assert topics(store, old) == []


async def test_group_migration_message_moves_subscriptions(
    bot: FakeBotApi, fresh_db: Store
) -> None:
    """The service message in the old group (migrate_to_chat_id) moves the subscription."""
    await _migrate(bot, fresh_db, slice(0, 1))


async def test_group_migration_both_messages_keep_subscriptions(
    bot: FakeBotApi, fresh_db: Store
) -> None:
    """Telegram sends both service messages; the subscription must survive the second."""
    await _migrate(bot, fresh_db, slice(0, 2))


async def test_blocking_the_bot_ends_subscriptions(bot: FakeBotApi, fresh_db: Store) -> None:
    await say(bot, bot.make_private_message("/subscribe"))
    bot.push_update(bot.make_my_chat_member(chat_type="private", new_status="kicked"))
    for _ in range(50):
        if not topics(fresh_db, DEFAULT_USER_ID):
            break
        await asyncio.sleep(0.1)
    assert topics(fresh_db, DEFAULT_USER_ID) == []
    [sub] = subscriptions.subscriptions(fresh_db, DEFAULT_USER_ID, active_only=False)
    assert sub.deactivated_reason == "bot kicked"
