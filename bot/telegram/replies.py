"""Small Telegram reply helpers shared by the bot's handler modules."""

from __future__ import annotations

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode


def in_group(update: Update) -> bool:
    """Replies in groups quote the message they answer; in private chats they need not."""
    chat = update.effective_chat
    return chat is not None and chat.type != ChatType.PRIVATE


def topic_thread(message: Message) -> int | None:
    """The forum topic a message was written in, so a reply or push stays there."""
    return message.message_thread_id if message.is_topic_message else None


async def reply_html(update: Update, text: str, **kwargs) -> Message:
    """Reply with HTML text (already escaped by the caller), quoting in groups."""
    return await update.effective_message.reply_text(
        text, parse_mode=ParseMode.HTML, do_quote=in_group(update), **kwargs
    )
