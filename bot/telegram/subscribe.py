"""Telegram handlers for /subscribe, /unsubscribe and /subscriptions.

Anyone may subscribe a private chat. In a group only its administrators may change the group's
subscriptions (asked of Telegram with getChatMember); anyone may list them. A group
subscription is delivered where it was made: the forum topic's thread is stored with it.
"""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from .. import subscriptions
from ..db import Store
from .replies import reply_html, topic_thread

log = logging.getLogger("marketbot.subscriptions")

ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
HANDLER_GROUP = 1  # for the my_chat_member watcher: group 0 has the bot's own greeting


def _store(context: ContextTypes.DEFAULT_TYPE) -> Store:
    return context.application.bot_data["state"].store


def _lang(update: Update, words: str) -> str:
    """Chinese when the command is written in Chinese (or, bare, from a Chinese client)."""
    user = update.effective_user
    fallback = "zh" if user and (user.language_code or "").lower().startswith("zh") else "en"
    return subscriptions.text_lang(words, fallback if not words.strip() else "en")  # type: ignore[arg-type]


async def _may_change(update: Update, context: ContextTypes.DEFAULT_TYPE, lang: str) -> bool:
    """Private chats: yes. Groups: only administrators (refuses politely otherwise)."""
    chat = update.effective_chat
    message = update.effective_message
    if chat.type == ChatType.PRIVATE:
        return True
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous administrator posting as the group
    user = update.effective_user
    status = None
    if user is not None:
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
            status = member.status
        except TelegramError as e:
            log.info("could not check admin status: %s", e.message)
    if status in ADMIN_STATUSES:
        return True
    await reply_html(
        update,
        subscriptions.lang_text(
            lang,
            "Sorry, only this group's administrators can change its subscriptions. "
            "Anyone can see them with /subscriptions.",
            "抱歉，只有群管理员可以更改本群的订阅。任何人都可以用 /subscriptions 查看。",
        ),
    )
    return False


def _topics_line(store: Store, lang: str) -> str:
    labels = [
        f"{subscriptions.topic_label(store, t, lang)} (<code>{html.escape(t)}</code>)"
        for t in subscriptions.known_topics(store)
    ]
    sep = "、" if lang == "zh" else ", "
    return sep.join(labels)


def _unknown_topic(store: Store, words: str, lang: str) -> str:
    return subscriptions.lang_text(
        lang,
        f"I don't know the topic “{html.escape(words)}”. Topics: {_topics_line(store, lang)}. "
        "Or /subscribe alone for everything.",
        f"不认识主题“{html.escape(words)}”。可订阅：{_topics_line(store, lang)}。"
        "只发 /subscribe 则订阅全部。",
    )


async def subscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe this chat to quarterly summaries: /subscribe [topic]."""
    store = _store(context)
    words = " ".join(context.args or [])
    lang = _lang(update, words)
    topics = subscriptions.resolve_topics(store, words)
    if topics is None:
        await reply_html(update, _unknown_topic(store, words, lang))
        return
    if not await _may_change(update, context, lang):
        return
    chat_id = update.effective_chat.id
    thread = topic_thread(update.effective_message)
    for topic in topics:
        subscriptions.subscribe(store, chat_id, topic, thread_id=thread, lang=lang)
    names = ", ".join(subscriptions.topic_label(store, t, lang) for t in topics)
    await reply_html(
        update,
        subscriptions.lang_text(
            lang,
            f"Subscribed to {html.escape(names)}: you'll get a short summary with a chart "
            "when a new quarter's figures arrive. /unsubscribe to stop.",
            f"已订阅{html.escape(names)}：新季度数据发布时会收到一份带图表的简报。"
            "发送 /unsubscribe 取消。",
        ),
    )


async def unsubscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop summaries: /unsubscribe (everything) or /unsubscribe <topic>."""
    store = _store(context)
    words = " ".join(context.args or [])
    lang = _lang(update, words)
    topics = subscriptions.resolve_topics(store, words) if words.strip() else None
    if words.strip() and topics is None:
        await reply_html(update, _unknown_topic(store, words, lang))
        return
    if not await _may_change(update, context, lang):
        return
    chat_id = update.effective_chat.id
    if topics is None or topics == [subscriptions.TOPIC_ALL]:
        ended = subscriptions.unsubscribe(store, chat_id)
        text = (
            subscriptions.lang_text(lang, "Unsubscribed from everything.", "已取消全部订阅。")
            if ended
            else subscriptions.lang_text(
                lang, "This chat had no subscriptions.", "本聊天没有订阅。"
            )
        )
        await reply_html(update, text)
        return
    ended = sum(subscriptions.unsubscribe(store, chat_id, t) for t in topics)
    names = html.escape(", ".join(subscriptions.topic_label(store, t, lang) for t in topics))
    if ended:
        text = subscriptions.lang_text(lang, f"Unsubscribed from {names}.", f"已取消订阅{names}。")
    elif any(
        s.topic == subscriptions.TOPIC_ALL for s in subscriptions.subscriptions(store, chat_id)
    ):
        text = subscriptions.lang_text(
            lang,
            f"This chat is subscribed to all markets, not to {names} alone. "
            "Send /unsubscribe to stop everything.",
            f"本聊天订阅的是全部市场，而不是单独的{names}。发送 /unsubscribe 取消全部。",
        )
    else:
        text = subscriptions.lang_text(
            lang, f"This chat was not subscribed to {names}.", f"本聊天没有订阅{names}。"
        )
    await reply_html(update, text)


async def subscriptions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List this chat's subscriptions."""
    store = _store(context)
    words = " ".join(context.args or [])
    lang = _lang(update, words)
    subs = subscriptions.subscriptions(store, update.effective_chat.id)
    if not subs:
        await reply_html(
            update,
            subscriptions.lang_text(
                lang,
                f"No subscriptions. /subscribe for everything, or /subscribe &lt;topic&gt;. "
                f"Topics: {_topics_line(store, lang)}.",
                f"没有订阅。发送 /subscribe 订阅全部，或 /subscribe 主题。"
                f"可订阅：{_topics_line(store, lang)}。",
            ),
        )
        return
    lines = [f"<b>{subscriptions.lang_text(lang, 'Subscriptions', '订阅')}</b>"]
    for s in subs:
        since = s.created_at[:10]
        lines.append(
            html.escape(
                f"• {subscriptions.topic_label(store, s.topic, lang)} "
                + subscriptions.lang_text(lang, f"(since {since})", f"（自{since}）")
            )
        )
    await reply_html(update, "\n".join(lines))


async def bot_removed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was blocked, kicked or left: stop the chat's subscriptions."""
    change = update.my_chat_member
    if change is None:
        return
    if change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        subscriptions.deactivate_chat(
            _store(context), change.chat.id, f"bot {change.new_chat_member.status}"
        )


def add_subscription_handlers(application: Application) -> None:
    """Register /subscribe, /unsubscribe, /subscriptions and the removal watcher."""
    subscriptions.ensure_schema(application.bot_data["state"].store)
    only_messages = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("subscribe", subscribe_command, filters=only_messages))
    application.add_handler(
        CommandHandler("unsubscribe", unsubscribe_command, filters=only_messages)
    )
    application.add_handler(
        CommandHandler("subscriptions", subscriptions_command, filters=only_messages)
    )
    application.add_handler(
        ChatMemberHandler(bot_removed, ChatMemberHandler.MY_CHAT_MEMBER), group=HANDLER_GROUP
    )
