"""Handlers for questions: private chats, groups, buttons, inline mode, and the bot's own
membership; one typed ``async def`` per job. They call the answer pipeline
(parse → answer → format → chart); `bot.telegram.app` registers them."""

from __future__ import annotations

import contextlib
import html
import logging
import re
import time
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageLimit, ParseMode
from telegram.error import ChatMigrated, Forbidden, TelegramError
from telegram.ext import (
    ContextTypes,
)

from ..answer import ask
from ..chart_draw import render_chart_async
from ..chart_spec import has_chart
from ..config import Settings
from ..db import Store
from ..format import catalogue_line, render_text
from ..models import Answer
from ..vocab import normalize
from . import chats
from .access import addressed_to
from .replies import in_group, reply_html, topic_thread

log = logging.getLogger("marketbot")

CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
CONCURRENT_UPDATES = 32
EXAMPLES = [
    "aftermarket DAU Q3",
    "pan-car users Q2 vs Q3",
    "car code cities Alipay",
    "泛汽车小程序用户 三季度",
]


@dataclass
class BotState:
    """What the handlers share: the store and the settings (access and pacing: `access`)."""

    store: Store
    settings: Settings


def state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.application.bot_data["state"]


# -- replies ------------------------------------------------------------------------------


def split_html(text: str, limit: int = TEXT_LIMIT - 96) -> list[str]:
    """Cut a reply into messages below Telegram's limit at line ends, never inside a tag.

    Every line the formatter writes has balanced tags, so line ends are safe places to cut; a
    single line that is still too long loses its markup and is cut between entities.
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        if len(line) > limit:
            plain = html.escape(html.unescape(re.sub(r"<[^>]+>", "", line)), quote=False)
            pieces = []
            while plain:
                cut = limit
                amp = plain.rfind("&", 0, cut)
                if amp != -1 and plain.find(";", amp) >= cut:
                    cut = amp  # do not split "&amp;" in two
                pieces.append(plain[:cut])
                plain = plain[cut:]
        else:
            pieces = [line]
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) > limit and current:
                parts.append(current)
                current = piece
            else:
                current = candidate
    if current.strip():
        parts.append(current)
    return parts or ["…"]


def suggestion_keyboard(store: Store, suggestions: list[str]) -> InlineKeyboardMarkup | None:
    if not suggestions:
        return None
    rows = [
        [InlineKeyboardButton(s[:64], callback_data=f"q:{chats.button_id(store, s)}")]
        for s in suggestions[:4]
    ]
    return InlineKeyboardMarkup(rows)


async def send_answer(message: Message, answer: Answer, st: BotState, *, quote: bool) -> None:
    """Send one answer: a photo with caption when it has a chart, else text (split if long)."""
    text = render_text(answer, st.store.vocabulary, html=True)
    markup = suggestion_keyboard(st.store, answer.suggestions)
    if answer.status == "answered" and has_chart(answer):
        await message.chat.send_action(
            ChatAction.UPLOAD_PHOTO, message_thread_id=topic_thread(message)
        )
        png = await render_chart_async(answer, labels=st.store.vocabulary.label)
        if png:
            if len(_visible(text)) <= CAPTION_LIMIT:
                await message.reply_photo(
                    png,
                    caption=text,
                    parse_mode=ParseMode.HTML,
                    do_quote=quote,
                    reply_markup=markup,
                )
                return
            await message.reply_photo(png, do_quote=quote)
            quote = False
    chunks = split_html(text)
    for i, chunk in enumerate(chunks):
        await message.reply_text(
            chunk,
            parse_mode=ParseMode.HTML,
            do_quote=quote and i == 0,
            reply_markup=markup if i == len(chunks) - 1 else None,
            disable_web_page_preview=True,
        )


def waited_since_sent(update: Update) -> float:
    """Seconds since the user sent the message: queued time included, whole seconds only
    (Telegram dates messages to the second); 0 for a button press (its message is older)."""
    if update.message is None:
        return 0.0
    return max(0.0, time.time() - update.message.date.timestamp())


def _visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """The one path every question takes: follow-up, answer, reply.

    Who may ask, and how often, was decided before any handler ran (`bot.telegram.access`).
    """
    st = state(context)
    message = update.effective_message
    chat = update.effective_chat
    started = time.perf_counter()
    quote = in_group(update)
    previous = chats.previous_query(st.store, chat.id, st.settings.followup_ttl_seconds)
    # Writes go to the background writer: the reply never waits for SQLite's write lock.
    answer = ask(text, st.store, chat_kind=str(chat.type), previous=previous, record=False)
    if answer.status == "answered":
        chats.remember_query(st.store, chat.id, answer.query)
    elif answer.query.error != "empty":
        norm = normalize(text)[:500]
        chats.record_unanswered(st.store, text, norm, answer.status, str(chat.type))
    try:
        await send_answer(message, answer, st, quote=quote)
    except ChatMigrated as e:  # the group became a supergroup: answer there, keep its state
        chats.migrate_chat_later(st.store, chat.id, e.new_chat_id)
        for chunk in split_html(render_text(answer, st.store.vocabulary, html=True)):
            await context.bot.send_message(e.new_chat_id, chunk, parse_mode=ParseMode.HTML)
    handled = time.perf_counter() - started
    log.info(
        "update chat_type=%s status=%s latency_ms=%.1f handler_ms=%.1f",
        chat.type,
        answer.status,
        max(waited_since_sent(update), handled) * 1000,  # includes time spent queued
        handled * 1000,
    )


# -- handlers -----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with what the bot knows and a few example questions as buttons."""
    st = state(context)
    sources = st.store.sources()
    known = ", ".join(html.escape(s.title) for s in sources[:3]) or "no reports yet"
    text = (
        "<b>marketbot</b> answers market questions with exact figures from research reports, "
        "each with its period, qualifier and source.\n"
        f"Reports: {known}.\n\nAsk in English or Chinese, e.g.:"
    )
    await reply_html(update, text, reply_markup=suggestion_keyboard(st.store, EXAMPLES))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask."""
    text = (
        "<b>How to ask</b>\n"
        "Name a metric (users, MAU, DAU, cities…), a market (pan-auto, aftermarket, ride code, "
        "overseas taxi), optionally a platform (WeChat, Alipay) and a period (Q3, 2019Q3, "
        "三季度, September 2019). Compare with “Q2 vs Q3”, “change” or “WeChat vs Alipay”.\n"
        "Follow up with “and Q2?”, “vs Alipay” or “in Chinese”.\n"
        "In groups, use /ask, mention me or reply to my message.\n"
        "/metrics lists what I can answer, /sources the reports.\n"
        "/subscribe [topic] sends each new quarter's summary here (in groups: admins only); "
        "/unsubscribe, /subscriptions."
    )
    await reply_html(update, text)


async def metrics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List what the store can answer."""
    st = state(context)
    v = st.store.vocabulary
    lines = ["<b>What I can answer</b>"]
    for row in st.store.catalogue():
        lines.append(html.escape("• " + catalogue_line(row, v)))
    for chunk in split_html("\n".join(lines)):
        await reply_html(update, chunk)


async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the reports behind the figures."""
    st = state(context)
    lines = ["<b>Sources</b>"]
    for s in st.store.sources():
        lines.append(html.escape(f"• {s.title} — {s.publisher}, released {s.published}"))
        if s.article:
            lines.append(html.escape(f"  {s.article}"))
    await reply_html(update, "\n".join(lines))


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /ask <question>."""
    question = " ".join(context.args or [])
    if not question.strip():
        await reply_html(update, "Add your question after /ask, e.g. /ask aftermarket DAU Q3")
        return
    await answer_question(update, context, question)


async def private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat any text is a question."""
    await answer_question(update, context, update.effective_message.text)


async def group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group answer only a mention of the bot or a reply to one of its messages."""
    message = update.effective_message
    if not addressed_to(message, context.bot):
        return  # ordinary group talk
    mention = f"@{context.bot.username}"
    question = re.sub(re.escape(mention), " ", message.text or "", flags=re.IGNORECASE).strip()
    await answer_question(update, context, question)


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A sticker, photo or voice note in a private chat: say what works instead of silence."""
    await update.effective_message.reply_text(
        "I answer text questions, e.g. “aftermarket DAU Q3”.",
    )


async def suggestion_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A did-you-mean or example button: answer that question."""
    query = update.callback_query
    st = state(context)
    text = None
    if query.data and query.data.startswith("q:") and query.data[2:].isdigit():
        text = chats.button_text(st.store, int(query.data[2:]))
    if text is None:
        await query.answer("That button has expired — please ask again.")
        return
    await query.answer()
    if query.message is None or not hasattr(query.message, "reply_text"):
        return
    await answer_question(update, context, text)


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the answer as an article result in any chat."""
    st = state(context)
    question = update.inline_query.query.strip()
    if not question:
        await update.inline_query.answer([], cache_time=5)
        return
    answer = ask(question, st.store, chat_kind="inline", record=False)
    text = split_html(render_text(answer, st.store.vocabulary, html=True))[0]
    title = _visible(text).split("\n", 1)[0][:120] or question[:120]
    lines = [ln for ln in _visible(text).split("\n") if ln.strip()]
    description = lines[1][:200] if len(lines) > 1 else ""
    result = InlineQueryResultArticle(
        id=str(abs(hash(text)) % 10**12),
        title=title,
        description=description,
        input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML),
    )
    # Personal: the gate let this user in; another user's identical query may be refused.
    await update.inline_query.answer([result], cache_time=30, is_personal=True)


async def bot_added(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say a short hello with examples when added to a group."""
    change = update.my_chat_member
    if change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    was = change.old_chat_member.status
    now = change.new_chat_member.status
    joined = now in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR) and was in (
        ChatMemberStatus.LEFT,
        ChatMemberStatus.BANNED,
    )
    if not joined:
        return
    st = state(context)
    me = context.bot.username
    await context.bot.send_message(
        change.chat.id,
        f"Hello! I answer market questions with sourced figures. Ask with /ask or mention "
        f"@{html.escape(me)}, e.g. “@{html.escape(me)} aftermarket DAU Q3”.",
        parse_mode=ParseMode.HTML,
        reply_markup=suggestion_keyboard(st.store, EXAMPLES),
    )


async def group_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Move what the bot keeps for a group to its new supergroup id."""
    message = update.effective_message
    old, new = (
        (message.chat.id, message.migrate_to_chat_id)
        if message.migrate_to_chat_id
        else (message.migrate_from_chat_id, message.chat.id)
    )
    chats.migrate_chat_later(state(context).store, old, new)
    context.application.migrate_chat_data(old_chat_id=old, new_chat_id=new)
    log.info("chat migrated to a supergroup")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the user, briefly; never let it stop the bot."""
    error = context.error
    if isinstance(error, ChatMigrated) and isinstance(update, Update) and update.effective_chat:
        chats.migrate_chat_later(state(context).store, update.effective_chat.id, error.new_chat_id)
        log.info("chat migrated while replying")
        return
    if isinstance(error, Forbidden):
        log.info("blocked by a chat: %s", error.message)
        return
    log.error("error handling an update", exc_info=error)
    if isinstance(update, Update) and update.effective_chat:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id,
                "Sorry, something went wrong answering that. Please try again.",
                message_thread_id=(
                    update.effective_message.message_thread_id
                    if update.effective_message and update.effective_message.is_topic_message
                    else None
                ),
            )
