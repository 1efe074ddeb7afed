"""The one place the Telegram `Application` is put together and run: handlers, limits,
command menus, the push drainer and the webhook or long polling."""

from __future__ import annotations

import asyncio
import logging
import secrets
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from ..answer import ask
from ..chart_draw import render_chart_async, shutdown_renderer
from ..config import Settings
from ..db import Store
from . import chats
from .access import Gate, add_gate
from .curate import add_curator_handlers
from .delivery import start_outbox
from .failures import BotApiFailure, explain
from .handlers import (
    BotState,
    ask_command,
    bot_added,
    group_migrated,
    group_text,
    help_command,
    inline_query,
    metrics_command,
    not_text,
    on_error,
    private_text,
    sources_command,
    start,
    suggestion_pressed,
)
from .pacing import ChatRateLimiter
from .subscribe import add_subscription_handlers
from .writer import close_writer

log = logging.getLogger("marketbot")

CONCURRENT_UPDATES = 32
COMMANDS_EN = [
    BotCommand("ask", "Ask a market question, e.g. /ask aftermarket DAU Q3"),
    BotCommand("metrics", "What I can answer"),
    BotCommand("sources", "The reports behind the figures"),
    BotCommand("subscribe", "Get each new quarter's summary (optionally one topic)"),
    BotCommand("unsubscribe", "Stop the quarterly summaries"),
    BotCommand("subscriptions", "What this chat is subscribed to"),
    BotCommand("help", "How to ask"),
    BotCommand("start", "Welcome and examples"),
]
COMMANDS_ZH = [
    BotCommand("ask", "提问市场数据，例如 /ask 后市场 日活 三季度"),
    BotCommand("metrics", "可查询的数据"),
    BotCommand("sources", "数据来源报告"),
    BotCommand("subscribe", "订阅每季度新数据摘要（可指定主题）"),
    BotCommand("unsubscribe", "取消订阅"),
    BotCommand("subscriptions", "本聊天的订阅"),
    BotCommand("help", "使用说明"),
    BotCommand("start", "欢迎与示例"),
]


async def post_init(application: Application) -> None:
    """Register the command menu and warm what would make the first answer slow."""
    st: BotState = application.bot_data["state"]
    await application.bot.set_my_commands(COMMANDS_EN)
    await application.bot.set_my_commands(COMMANDS_ZH, language_code="zh")
    ask("aftermarket DAU Q3", st.store, chat_kind="warmup")
    warm = ask("pan-car users Q2 vs Q3", st.store, chat_kind="warmup")
    await render_chart_async(warm, labels=st.store.vocabulary.label)
    log.info(
        "ready: %d figures, newest period %s", st.store.count_facts(), st.store.newest_period()
    )
    start_outbox(application)


def build_application(settings: Settings, store: Store) -> Application:
    """Put the Application together: one place for handlers, limits and settings."""
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    chats.ensure_schema(store)
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.base_file_url)
        # 32 updates at a time (PTB's default is 256): on loopback the bot answered ~25% more
        # per second, as httpcore scans its whole connection pool for every request.
        # Telegram's own limits (~30 messages/s) are far below what 32 can carry.
        .concurrent_updates(CONCURRENT_UPDATES)
        .connection_pool_size(CONCURRENT_UPDATES + 16)  # + room for pushes and chat actions
        .rate_limiter(ChatRateLimiter())
        .post_init(post_init)
        .post_shutdown(_stop_renderer)
        .build()
    )
    application.bot_data["state"] = BotState(store, settings)
    # One gate ahead of every handler decides who may use the bot, through any door.
    add_gate(application, Gate(settings.allowed_chats, settings.user_limit_per_minute))
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    groups = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("start", start, filters=filters.UpdateType.MESSAGE))
    application.add_handler(
        CommandHandler("help", help_command, filters=filters.UpdateType.MESSAGE)
    )
    application.add_handler(
        CommandHandler("metrics", metrics_command, filters=filters.UpdateType.MESSAGE)
    )
    application.add_handler(
        CommandHandler("sources", sources_command, filters=filters.UpdateType.MESSAGE)
    )
    application.add_handler(CommandHandler("ask", ask_command, filters=filters.UpdateType.MESSAGE))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, group_migrated))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, private_text))
    application.add_handler(MessageHandler(groups & filters.TEXT & ~filters.COMMAND, group_text))
    application.add_handler(
        MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text)
    )
    application.add_handler(CallbackQueryHandler(suggestion_pressed))
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_handler(ChatMemberHandler(bot_added, ChatMemberHandler.MY_CHAT_MEMBER))
    add_subscription_handlers(application)
    add_curator_handlers(application)
    application.add_error_handler(on_error)
    return application


async def _stop_renderer(application: Application) -> None:
    """Stop the chart process with the bot, and apply the writes still queued."""
    shutdown_renderer()
    await asyncio.to_thread(close_writer, application.bot_data["state"].store)


def run(
    settings: Settings,
    store: Store,
    *,
    webhook_url: str | None = None,
    listen: str = "127.0.0.1",
    port: int = 8443,
) -> None:
    """Run until SIGINT/SIGTERM: long polling, or a webhook that checks the secret token.

    Raises BotApiFailure (one printable line, no token) when the bot cannot start or stops
    on an error: a rejected token, a wrong API URL, no network, a refused webhook.
    """
    application = build_application(settings, store)
    if settings.allowed_chats is None:
        log.warning("MARKETBOT_ALLOWED_CHATS is not set: answering everyone")
    else:
        log.info("answering %d allowed chat(s)/user(s) only", len(settings.allowed_chats))

    try:
        if webhook_url:
            application.run_webhook(**webhook_options(settings, webhook_url, listen, port))
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except Exception as e:
        log.debug("the bot stopped on an error", exc_info=e)  # DEBUG only, and redacted
        failure = explain(e, settings.api_base_url, webhook=bool(webhook_url))
        raise BotApiFailure(failure) from None


def webhook_options(settings: Settings, webhook_url: str, listen: str, port: int) -> dict:
    """Arguments for PTB's webhook server: the URL's path, and a secret token always set.

    Telegram echoes the secret in the X-Telegram-Bot-Api-Secret-Token header and PTB answers
    403 to a request without it; with no MARKETBOT_WEBHOOK_SECRET a random one is made.
    """
    path = urlsplit(webhook_url).path.strip("/")
    return {
        "listen": listen,
        "port": port,
        "url_path": path,
        "webhook_url": webhook_url,
        "secret_token": settings.webhook_secret or secrets.token_urlsafe(32),
        "allowed_updates": Update.ALL_TYPES,
    }
