"""Curators in a private chat: a report file → preview → Import / Import and announce / Cancel,
and /teach, /forget and /unanswered (whose buttons teach a word). Reports to extract figures
from (PDF, HTML, text, DOCX) are handled in reports.py, registered here.

Curators are the Telegram user ids in `MARKETBOT_CURATORS`. Pending previews live in memory
and in a temporary folder only: a restart forgets them (their buttons then say "expired"), and
each file is deleted on import, cancel or expiry.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from ..curation import Preview, import_file, max_upload_bytes, preview_file
from ..errors import IngestError
from ..parse import parse_question
from ..teaching import TEACHABLE_KINDS, TeachError, forget, teach
from ..vocab import Term
from .handlers import state

log = logging.getLogger("marketbot")

PREVIEW_TTL_SECONDS = 15 * 60
TEXT_MAX = 4000  # below Telegram's 4096, with room for the status line
UNANSWERED_QUESTIONS = 10
UNANSWERED_WORDS = 3
KEY_CHOICES = 3
EXTRACTIONS_AT_ONCE = 2  # each holds a CPU for seconds; the other core keeps answering

NOT_CURATOR = (
    "Sorry, only the team's curators can add reports or teach me words. "
    "Ask one of them, or ask me a market question."
)


@dataclass
class Pending:
    """An uploaded file waiting for its curator's Import or Cancel."""

    ident: str
    user_id: int
    path: Path
    file_name: str
    created: float
    preview: Preview


@dataclass
class CurateState:
    ttl: float = PREVIEW_TTL_SECONDS
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="marketbot-up-")))
    pending: dict[str, Pending] = field(default_factory=dict)  # preview id -> upload
    by_user: dict[int, str] = field(default_factory=dict)  # curator -> their preview id
    # /unanswered buttons: token -> (curator, word, kind, key); key "" is Skip
    choices: dict[str, tuple[int, str, str, str]] = field(default_factory=dict)
    extracting: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(EXTRACTIONS_AT_ONCE)
    )

    def drop(self, ident: str) -> Pending | None:
        found = self.pending.pop(ident, None)
        if found is not None:
            found.path.unlink(missing_ok=True)
            found.preview.discard()  # its staged rows too
            if self.by_user.get(found.user_id) == ident:
                del self.by_user[found.user_id]
        return found

    def sweep(self) -> None:
        now = time.monotonic()
        for ident, p in list(self.pending.items()):
            if now - p.created >= self.ttl:
                self.drop(ident)

    def live(self, ident: str) -> Pending | None:
        self.sweep()
        return self.pending.get(ident)


def curate_state(context: ContextTypes.DEFAULT_TYPE) -> CurateState:
    return context.application.bot_data["curate"]


def _is_curator(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    return user is not None and user.id in state(context).settings.curators


def _who(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "telegram"
    return f"telegram:{user.id}" + (f" @{user.username}" if user.username else "")


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == "private"


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


# -- uploads ------------------------------------------------------------------------------


async def admit_upload(
    update: Update, context: ContextTypes.DEFAULT_TYPE, limit: int, too_big_hint: str
) -> None:
    """Refuse (and stop) a file sent in a group, by a non-curator or over ``limit`` bytes.

    Called before anything is downloaded, so a refused file is never fetched.
    """
    message = update.effective_message
    document = message.document
    if not _private(update):
        await message.reply_text("Please send report files to me in a private chat.", do_quote=True)
        raise ApplicationHandlerStop
    if not _is_curator(update, context):
        await message.reply_text(NOT_CURATOR)
        log.info("upload refused: not a curator")
        raise ApplicationHandlerStop
    if document.file_size and document.file_size > limit:
        await message.reply_text(
            f"{document.file_name}: {document.file_size / 2**20:.1f} MB is over the "
            f"{limit / 2**20:.0f} MB limit for files sent to a bot. {too_big_hint}"
        )
        raise ApplicationHandlerStop


async def document_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A .csv/.xlsx file: refuse, or download, validate and show the preview with buttons."""
    message = update.effective_message
    document = message.document
    await admit_upload(
        update,
        context,
        max_upload_bytes(),
        "Split the file, or ingest it on the server with marketbot ingest.",
    )
    cs = curate_state(context)
    cs.sweep()
    user_id = update.effective_user.id
    old = cs.by_user.get(user_id)
    if old:
        cs.drop(old)  # a second upload replaces the pending preview
    ident = secrets.token_urlsafe(9)
    suffix = Path(document.file_name or "").suffix.lower()
    path = cs.folder / f"{ident}{suffix}"
    name = Path(document.file_name or f"upload{suffix}").name
    try:
        tg_file = await context.bot.get_file(document.file_id)
        await tg_file.download_to_drive(path)
        preview = await asyncio.to_thread(preview_file, state(context).store, path, name)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if not preview.ok:
        path.unlink(missing_ok=True)
        await message.reply_text(_cut(preview.report()))
        log.info("upload refused: %d problem(s)", len(preview.errors))
        raise ApplicationHandlerStop
    cs.pending[ident] = Pending(ident, user_id, path, name, time.monotonic(), preview)
    cs.by_user[user_id] = ident
    if context.job_queue is not None:
        context.job_queue.run_once(_expire, cs.ttl + 0.05, data=ident, name=f"preview-{ident}")
    minutes = max(1, round(cs.ttl / 60))
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Import", callback_data=f"cu:i:{ident}")],
            [InlineKeyboardButton("Import and announce", callback_data=f"cu:a:{ident}")],
            [InlineKeyboardButton("Cancel", callback_data=f"cu:c:{ident}")],
        ]
    )
    await message.reply_text(
        _cut(f"Preview — nothing is stored yet (expires in {minutes} min):\n{preview.text()}"),
        reply_markup=keyboard,
    )
    raise ApplicationHandlerStop


async def _expire(context: CallbackContext) -> None:
    """Job: forget a preview nobody answered, and delete its file."""
    curate_state(context).sweep()


async def preview_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Import, Import and announce, or Cancel on a preview."""
    query = update.callback_query
    action, _, ident = query.data[3:].partition(":")
    cs = curate_state(context)
    pending = cs.live(ident)
    if pending is None:
        await query.answer("This preview has expired — send the file again.", show_alert=True)
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(None)
        raise ApplicationHandlerStop
    if pending.user_id != query.from_user.id or not _is_curator(update, context):
        await query.answer("This preview belongs to another curator.", show_alert=True)
        raise ApplicationHandlerStop
    if action == "c":
        cs.drop(ident)
        await query.answer("Cancelled")
        await _edit(query, f"{pending.file_name}: cancelled — nothing was imported.")
        raise ApplicationHandlerStop
    # Taken out of the pending set before the import, so a second press cannot import twice.
    cs.pending.pop(ident, None)
    cs.by_user.pop(pending.user_id, None)
    await query.answer("Importing…")
    store = state(context).store
    try:
        imported = await asyncio.to_thread(
            import_file,
            store,
            pending.path,
            who=_who(update),
            file_name=pending.file_name,
            preview=pending.preview,
        )
    except IngestError as e:
        await _edit(query, _cut(e.report()))
        raise ApplicationHandlerStop from None
    finally:
        pending.path.unlink(missing_ok=True)
    lines = [f"Imported {imported.summary()}"]
    lines.extend(f"⚠ {w}" for w in imported.result.warnings)
    if action == "a":
        lines.append(await _announce(store, imported.result.new_periods))
    log.info("import by a curator: %d rows", imported.result.rows)
    await _edit(query, _cut("\n".join(lines)))
    raise ApplicationHandlerStop


async def _announce(store, periods: list[str]) -> str:
    """Queue the quarterly summary push for each new period, as `ingest --announce` does."""
    if not periods:
        return "No new period, so nothing was announced."
    from ..subscriptions import queue_push

    out = []
    for period in periods:
        try:
            push_id, chats = await asyncio.to_thread(queue_push, store, period=period)
        except ValueError as e:
            out.append(f"{period}: not announced ({e})")
            continue
        out.append(f"Announced {period}: push {push_id} queued to {chats} chat(s).")
    return "\n".join(out)


async def _edit(query, text: str) -> None:
    """Replace the preview message (and its buttons) with the outcome."""
    try:
        await query.edit_message_text(text, reply_markup=None)
    except TelegramError:  # too old to edit: say it in a new message instead
        await query.message.reply_text(text)


# -- teaching -----------------------------------------------------------------------------


async def teach_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/teach PHRASE = KEY."""
    message = update.effective_message
    if not _is_curator(update, context):
        await message.reply_text(NOT_CURATOR, do_quote=not _private(update))
        raise ApplicationHandlerStop
    text = (message.text or "").split(maxsplit=1)
    phrase, sep, key = (text[1] if len(text) > 1 else "").replace("＝", "=").rpartition("=")
    if not sep or not phrase.strip() or not key.strip():
        await message.reply_text(
            "Write /teach PHRASE = KEY, e.g. /teach 车后 = aftermarket "
            "(KEY as in /metrics: users, mau, pan_auto, aftermarket, wechat…; kind:key when "
            "a name is used by several kinds)."
        )
        raise ApplicationHandlerStop
    try:
        taught = await asyncio.to_thread(
            teach, state(context).store, phrase.strip(), key.strip(), _who(update)
        )
        reply = taught.message
    except TeachError as e:
        reply = f"Not taught: {e}"
    await message.reply_text(reply)
    raise ApplicationHandlerStop


async def forget_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget PHRASE."""
    message = update.effective_message
    if not _is_curator(update, context):
        await message.reply_text(NOT_CURATOR, do_quote=not _private(update))
        raise ApplicationHandlerStop
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) < 2:
        await message.reply_text("Write /forget PHRASE, e.g. /forget 车后")
        raise ApplicationHandlerStop
    try:
        reply = await asyncio.to_thread(forget, state(context).store, parts[1], _who(update))
    except TeachError as e:
        reply = f"Not changed: {e}"
    await message.reply_text(reply)
    raise ApplicationHandlerStop


def closest_keys(store, word: str, limit: int = KEY_CHOICES) -> list[Term]:
    """The keys whose phrases and names look most like ``word`` (rapidfuzz)."""
    vocab = store.vocabulary
    choices: dict[str, Term] = {}
    for words, term in vocab.words.items():
        choices.setdefault(" ".join(words), term)
    for phrase, term in vocab.cjk.items():
        choices.setdefault(phrase, term)
    for (kind, key), names in vocab.labels.items():
        for name in (names.get("en"), names.get("zh")):
            if name:
                choices.setdefault(name.lower(), Term(kind, key))
    choices = {p: t for p, t in choices.items() if t.kind in TEACHABLE_KINDS and t.key}
    picked: list[Term] = []
    for _phrase, _score, _ in process.extract(
        word.lower(), list(choices), scorer=fuzz.WRatio, limit=60
    ):
        term = choices[_phrase]
        if term not in picked:
            picked.append(term)
        if len(picked) == limit:
            break
    return picked


async def unanswered_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unanswered: the most frequent unanswered questions, and buttons to teach their words."""
    message = update.effective_message
    if not _is_curator(update, context):
        await message.reply_text(NOT_CURATOR, do_quote=not _private(update))
        raise ApplicationHandlerStop
    store = state(context).store
    rows = await asyncio.to_thread(store.unanswered, 50)
    if not rows:
        await message.reply_text("No unanswered questions recorded.")
        raise ApplicationHandlerStop
    vocab = store.vocabulary
    counts: dict[str, int] = {}
    lines = ["Most frequent unanswered questions:"]
    for r in rows:
        unknown = parse_question(r["question"], vocab).unknown
        for w in unknown:
            counts[w] = counts.get(w, 0) + r["count"]
        if len(lines) <= UNANSWERED_QUESTIONS:
            tail = f" — unknown: {', '.join(unknown)}" if unknown else ""
            lines.append(f"{r['count']}× {r['question']}{tail}")
    await message.reply_text(_cut("\n".join(lines)))
    cs = curate_state(context)
    user_id = update.effective_user.id
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:UNANSWERED_WORDS]
    for word, n in top:
        buttons = []
        for term in closest_keys(store, word):
            token = secrets.token_urlsafe(6)
            cs.choices[token] = (user_id, word, term.kind, term.key)
            label = vocab.label(term.kind, term.key, "zh" if _cjk(word) else "en", short=True)
            buttons.append(
                [InlineKeyboardButton(f"{term.key} ({label})"[:60], callback_data=f"cu:t:{token}")]
            )
        skip = secrets.token_urlsafe(6)
        cs.choices[skip] = (user_id, word, "", "")
        buttons.append([InlineKeyboardButton("Skip", callback_data=f"cu:t:{skip}")])
        await message.reply_text(
            f"“{word}” ({n}×): which key does it mean?",
            reply_markup=InlineKeyboardMarkup(buttons),
        )
    raise ApplicationHandlerStop


def _cjk(word: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in word)


async def key_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A key button under an unknown word: teach it (Skip: leave it)."""
    query = update.callback_query
    cs = curate_state(context)
    token = query.data[5:]
    choice = cs.choices.get(token)
    if choice is None:
        await query.answer("These buttons have expired — send /unanswered again.", show_alert=True)
        raise ApplicationHandlerStop
    user_id, word, kind, key = choice
    if user_id != query.from_user.id or not _is_curator(update, context):
        await query.answer("These buttons belong to another curator.", show_alert=True)
        raise ApplicationHandlerStop
    # One answer per word: every button offered for it is spent.
    for t in [t for t, c in cs.choices.items() if c[0] == user_id and c[1] == word]:
        del cs.choices[t]
    if not key:
        await query.answer("Skipped")
        await _edit(query, f"“{word}”: skipped.")
        raise ApplicationHandlerStop
    try:
        taught = await asyncio.to_thread(
            teach, state(context).store, word, f"{kind}:{key}", _who(update)
        )
        reply = taught.message
    except TeachError as e:
        reply = f"Not taught: {e}"
    await query.answer()
    await _edit(query, reply)
    raise ApplicationHandlerStop


async def preview_or_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    data = update.callback_query.data or ""
    if data.startswith("cu:t:"):
        await key_pressed(update, context)
    await preview_pressed(update, context)


# -- registration -------------------------------------------------------------------------


def add_curator_handlers(application: Application) -> None:
    """Register uploads, /teach, /forget, /unanswered and their buttons (before questions)."""
    from .reports import report_documents, report_received  # reports builds on this module

    cs = CurateState()
    atexit.register(shutil.rmtree, cs.folder, ignore_errors=True)
    application.bot_data["curate"] = cs
    reports = filters.Document.FileExtension("csv") | filters.Document.FileExtension("xlsx")
    message = filters.UpdateType.MESSAGE
    handlers = [
        MessageHandler(message & reports, document_received),
        MessageHandler(message & report_documents(), report_received),
        CommandHandler("teach", teach_command, filters=message),
        CommandHandler("forget", forget_command, filters=message),
        CommandHandler("unanswered", unanswered_command, filters=message),
        CallbackQueryHandler(preview_or_key, pattern=r"^cu:[iact]:"),
    ]
    # First in group 0, whatever order app.py registers things in: the first matching handler
    # of a group wins, and group 0's "I answer text questions" and did-you-mean button
    # handlers would otherwise take every document and every button.
    for handler in handlers:
        application.add_handler(handler, group=0)
    group = application.handlers[0]
    for handler in reversed(handlers):
        group.remove(handler)
        group.insert(0, handler)
