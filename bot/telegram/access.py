"""Who may use the bot, decided once for every update: the access gate and the per-user limit.

The gate is a PTB ``TypeHandler(Update)`` in handler group -2, ahead of every other handler
(the push meter is in -1, the answers in 0 and up). It raises ``ApplicationHandlerStop`` for an
update that must go no further, so a handler added later (a new command, file uploads) is
guarded without having to remember a filter.

The rules, with ``MARKETBOT_ALLOWED_CHATS`` set:

* **The chat decides.** A message, command or button press is allowed when its *chat* is listed:
  in a private chat that is the user, in a group the group (a listed user in an unlisted group
  is refused there; anyone in a listed group may ask).
* **Inline queries** carry no chat id, so they are answered only for a listed user typing in a
  private chat; from a group or channel they get a "not available" article.
* A refused chat is told politely **once** (remembered for a day, per chat, bounded); a refused
  button press gets a short alert; a refused inline query an article that says nothing about
  any figure. Being added to an unlisted group: one note with the group's id, and the bot stays
  (so listing the id and restarting is enough; no re-invitation).
* **Every entry point counts against the per-user limit** (``MARKETBOT_USER_LIMIT`` a minute):
  messages, commands, button presses and inline queries.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Collection

from telegram import (
    Bot,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

log = logging.getLogger("marketbot.access")

GATE_GROUP = -2  # before the push meter (-1) and every handler (0 and up)
GATE_KEY = "access_gate"
WINDOW_SECONDS = 60.0
TOLD_SECONDS = 24 * 3600.0  # a refused chat is told again at most once a day
TOLD_MAX = 10_000  # chats remembered as told; the oldest are forgotten first

REFUSAL = (
    "Sorry, this bot answers only the teams it is licensed to. Ask its owner to add this chat."
)
REFUSAL_GROUP = (
    "Sorry, this bot answers only the teams it is licensed to, and this group is not one of "
    "them. Ask the bot's owner to add this group (id {chat_id})."
)
REFUSAL_BUTTON = "Not available in this chat."
SLOW_DOWN = "You are asking faster than I can answer well — please wait a minute."
SLOW_DOWN_BUTTON = "Too many questions — please wait a minute."
INLINE_REFUSED = "marketbot is limited to its licensed teams."
INLINE_IN_GROUPS = (
    "Inline answers are available in private chats only; in a group, ask with /ask "
    "(the group must be on the bot's list)."
)


def chat_allowed(allowed: Collection[int] | None, chat_id: int) -> bool:
    """Whether ``chat_id`` may get answers and pushes (``allowed`` None: everyone)."""
    return allowed is None or chat_id in allowed


class UserLimit:
    """A sliding one-minute window of requests per user, pruned so it forgets idle users.

    ``recent`` maps a user to the times of their requests within the window, ``warned`` to
    when they were last told to slow down. Entries older than the window are dropped at most
    once a window, so both hold only the users active in the last two minutes.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self.recent: dict[int, deque[float]] = {}
        self.warned: dict[int, float] = {}
        self._pruned_at = clock()

    def over(self, user_id: int) -> bool:
        """Count one request; True when the user already made ``per_minute`` in the window."""
        now = self.clock()
        self.prune(now)
        times = self.recent.setdefault(user_id, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        if len(times) >= self.per_minute:
            return True
        times.append(now)
        return False

    def should_warn(self, user_id: int) -> bool:
        """True at most once a window per user (the rest of the excess gets silence)."""
        now = self.clock()
        if now - self.warned.get(user_id, -self.window - 1) > self.window:
            self.warned[user_id] = now
            return True
        return False

    def prune(self, now: float, *, force: bool = False) -> bool:
        """Forget users idle for a whole window; runs at most once a window unless forced."""
        if not force and now - self._pruned_at < self.window:
            return False
        self._pruned_at = now
        cutoff = now - self.window
        for user_id in [u for u, times in self.recent.items() if not times or times[-1] < cutoff]:
            del self.recent[user_id]
        for user_id in [u for u, at in self.warned.items() if at < cutoff]:
            del self.warned[user_id]
        return True


class Gate:
    """The access decision and the per-user limit for every update (see the module doc)."""

    def __init__(
        self,
        allowed: Collection[int] | None,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed = frozenset(allowed) if allowed is not None else None
        self.limit = UserLimit(per_minute, clock=clock)
        self.clock = clock
        self.told: dict[int, float] = {}  # refused chat -> when it was told (oldest first)

    # -- the decision

    def chat_allowed(self, chat_id: int) -> bool:
        return chat_allowed(self.allowed, chat_id)

    def inline_allowed(self, update: Update) -> bool:
        """A listed user, typing in a private chat (Telegram gives no chat id for inline)."""
        if self.allowed is None:
            return True
        query = update.inline_query
        if query is None or query.from_user.id not in self.allowed:
            return False
        # None: a secret chat, which is one-to-one like a private chat.
        return query.chat_type in (None, ChatType.SENDER, ChatType.PRIVATE)

    # -- remembering who was told

    def first_refusal(self, chat_id: int) -> bool:
        """True the first time a refused chat is seen (again after a day, or once forgotten)."""
        now = self.clock()
        at = self.told.get(chat_id)
        if at is not None and now - at < TOLD_SECONDS:
            return False
        self.told.pop(chat_id, None)
        self.told[chat_id] = now  # re-inserted: the dict stays in order of telling
        self._prune_told(now)
        return True

    def _prune_told(self, now: float) -> None:
        while self.told:
            oldest, at = next(iter(self.told.items()))
            if len(self.told) <= TOLD_MAX and now - at < TOLD_SECONDS:
                break
            del self.told[oldest]

    # -- the handler

    async def __call__(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The TypeHandler callback: return to let the update through, or stop it."""
        if not isinstance(update, Update):
            raise ApplicationHandlerStop
        self._prune_pacing(context)
        if update.inline_query is not None:
            await self._inline(update)
            return
        if update.callback_query is not None:
            await self._callback(update)
            return
        if update.my_chat_member is not None:
            await self._membership(update, context)
            return
        chat = update.effective_chat
        message = update.message or update.channel_post
        if chat is None or message is None:
            # Edits, reactions, polls, payments…: nothing the bot answers. Listed chats pass
            # (a handler may want them); from anyone else they stop here.
            if chat is not None and self.chat_allowed(chat.id):
                return
            raise ApplicationHandlerStop
        if _is_migration(message):
            return  # moving a group's state to its supergroup id gives nothing away
        asks = _asks_the_bot(message, context.bot)
        if not self.chat_allowed(chat.id):
            if asks and self.first_refusal(chat.id):
                await self._refuse_message(message)
            log.info("update chat_type=%s outcome=refused", chat.type)
            raise ApplicationHandlerStop
        if asks and self._over_limit(update, chat.id):
            if self.limit.should_warn(_user_key(update, chat.id)):
                await _quietly(message.reply_text(SLOW_DOWN, do_quote=_in_group(message)))
            log.info("update chat_type=%s outcome=rate_limited", chat.type)
            raise ApplicationHandlerStop

    def _over_limit(self, update: Update, chat_id: int) -> bool:
        return self.limit.over(_user_key(update, chat_id))

    async def _refuse_message(self, message: Message) -> None:
        if message.chat.type == ChatType.PRIVATE:
            text = REFUSAL
        else:
            text = REFUSAL_GROUP.format(chat_id=message.chat.id)
        await _quietly(message.reply_text(text, do_quote=_in_group(message)))

    async def _inline(self, update: Update) -> None:
        query = update.inline_query
        if not self.inline_allowed(update):
            in_group = self.allowed is not None and query.from_user.id in self.allowed
            result = InlineQueryResultArticle(
                id="refused",
                title="Not available",
                description=INLINE_IN_GROUPS if in_group else INLINE_REFUSED,
                input_message_content=InputTextMessageContent(INLINE_REFUSED),
            )
            await _quietly(query.answer([result], cache_time=60, is_personal=True))
            log.info("update chat_type=inline outcome=refused")
            raise ApplicationHandlerStop
        if query.query.strip() and self.limit.over(query.from_user.id):
            await _quietly(query.answer([], cache_time=0, is_personal=True))
            log.info("update chat_type=inline outcome=rate_limited")
            raise ApplicationHandlerStop

    async def _callback(self, update: Update) -> None:
        query = update.callback_query
        chat = update.effective_chat  # the chat of the message the button is on
        allowed = (
            self.chat_allowed(chat.id)
            if chat is not None
            else self.allowed is None or query.from_user.id in self.allowed
        )
        if not allowed:
            await _quietly(query.answer(REFUSAL_BUTTON, show_alert=True))
            log.info("update chat_type=callback outcome=refused")
            raise ApplicationHandlerStop
        if self.limit.over(query.from_user.id):
            await _quietly(query.answer(SLOW_DOWN_BUTTON, show_alert=True))
            log.info("update chat_type=callback outcome=rate_limited")
            raise ApplicationHandlerStop

    async def _membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if self.chat_allowed(change.chat.id):
            return
        now = change.new_chat_member.status
        if now in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            return  # removed: let the subscription watcher stop what is left of the chat's
        joined = now in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
        is_group = change.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        if joined and is_group and self.first_refusal(change.chat.id):
            await _quietly(
                context.bot.send_message(
                    change.chat.id, REFUSAL_GROUP.format(chat_id=change.chat.id)
                )
            )
            log.info("added to an unlisted group: told once")
        raise ApplicationHandlerStop

    def _prune_pacing(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Forget idle users, and chats whose 429 pause is over, at most once a minute."""
        if self.limit.prune(self.clock()):
            limiter = getattr(context.bot, "rate_limiter", None)
            prune = getattr(limiter, "prune_paused", None)
            if prune is not None:
                prune()


def _user_key(update: Update, chat_id: int) -> int:
    """Who a request counts against: the user, else (a channel, an anonymous admin) the chat."""
    return update.effective_user.id if update.effective_user else chat_id


def _in_group(message: Message) -> bool:
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def _is_migration(message: Message) -> bool:
    return bool(message.migrate_to_chat_id or message.migrate_from_chat_id)


def addressed_to(message: Message, bot: Bot) -> bool:
    """A group message meant for the bot: its @mention or a reply to one of its messages."""
    mention = f"@{bot.username}".lower() if bot.username else ""
    if mention and mention in (message.text or message.caption or "").lower():
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot.id)


def _asks_the_bot(message: Message, bot: Bot) -> bool:
    """Whether a message wants something from the bot (what is refused or counted).

    Private chats: any message but service messages. Groups: a command (not one addressed to
    another bot), a mention of the bot, or a reply to it; ordinary group talk is neither
    answered nor refused.
    """
    if message.chat.type == ChatType.PRIVATE:
        return bool(message.text or message.effective_attachment or message.caption)
    for entity in message.entities or ():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            command = message.parse_entity(entity)
            _, _, target = command.partition("@")
            return not target or target.lower() == (bot.username or "").lower()
    return addressed_to(message, bot)


async def _quietly(request) -> None:  # type: ignore[no-untyped-def]
    """Send a refusal or a note; a chat that blocked the bot is no reason to fail the update."""
    try:
        await request
    except TelegramError as e:
        log.info("could not tell a chat it is refused: %s", e.message)


def add_gate(application: Application, gate: Gate) -> None:
    """Register the gate ahead of every other handler."""
    application.bot_data[GATE_KEY] = gate
    application.add_handler(TypeHandler(Update, gate), group=GATE_GROUP)
