"""A curator's report (PDF, HTML, text, Markdown or DOCX) in a private chat → its candidate
figures as an XLSX to review (what `marketbot extract --xlsx` writes), and a short summary.

Nothing is stored here: the curator edits the XLSX and sends it back, and the CSV/XLSX upload
flow in curate.py previews and imports it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from ..curation import TELEGRAM_DOWNLOAD_LIMIT
from ..extract import ExtractError, Extraction, extract
from ..extract.reading import MAX_BYTES as REPORT_MAX_BYTES
from ..vocab import Vocabulary
from .curate import TEXT_MAX, admit_upload, curate_state
from .handlers import state

log = logging.getLogger("marketbot")

REPORT_EXTENSIONS = ("pdf", "html", "htm", "txt", "md", "markdown", "docx")
NEW_KEYS_LISTED = 5
NEXT_STEP = (
    "Next: check each row against its evidence, set accept to no for anything wrong, fix "
    "values or keys where needed, and send the file back to me. I will show a preview; "
    "nothing is stored until you press Import."
)


def report_documents() -> filters.BaseFilter:
    """Documents whose name ends in a report extension the extractor reads."""
    found = filters.Document.FileExtension(REPORT_EXTENSIONS[0])
    for ext in REPORT_EXTENSIONS[1:]:
        found = found | filters.Document.FileExtension(ext)
    return found


def report_limit() -> int:
    """Telegram's 20 MB download limit, or the extractor's own when smaller."""
    return min(TELEGRAM_DOWNLOAD_LIMIT, REPORT_MAX_BYTES)


def _extract(path: Path, vocab: Vocabulary, out: Path) -> tuple[Extraction, bytes | None]:
    """Run in a worker thread: the extraction, and the XLSX bytes when it found figures."""
    from ..extract.export import write_xlsx

    result = extract(path, vocab)
    if not result.candidates:
        return result, None
    write_xlsx(result, out)
    return result, out.read_bytes()


def summary(name: str, result: Extraction) -> str:
    """What the curator needs to know before opening the file, and what to do next."""
    report = result.report
    cands = result.candidates
    accepted = sum(c.accept for c in cands)
    new_keys = result.new_keys()
    lines = [
        f"{name}: {len(cands)} figure{'s' if len(cands) != 1 else ''} found, {accepted} "
        f"proposed to accept (accept = yes), {len(new_keys)} new key"
        f"{'s' if len(new_keys) != 1 else ''}.",
        f"Period: {report.period}"
        if report.period
        else "Period: not found in the report — fill the period column (e.g. 2019Q4).",
        "Source: "
        + " · ".join(
            x or "?" for x in (report.title, report.publisher, report.published or "no date found")
        ),
    ]
    for kind, key in list(new_keys)[:NEW_KEYS_LISTED]:
        mention = next(
            m
            for c in cands
            for m in (c.metric, c.segment, c.platform)
            if m is not None and (m.kind, m.key) == (kind, key)
        )
        names = " / ".join(n for n in (mention.en, mention.zh) if n)
        lines.append(f"New {kind}: {key}" + (f" — {names}" if names else ""))
    if len(new_keys) > NEW_KEYS_LISTED:
        lines.append(f"…and {len(new_keys) - NEW_KEYS_LISTED} more new keys in the file.")
    missing = [
        col
        for col, value in (
            ("source_title", report.title),
            ("source_publisher", report.publisher),
            ("source_published", report.published),
        )
        if not value
    ]
    if missing:
        lines.append(
            f"⚠ The report does not state its {', '.join(c.split('_')[1] for c in missing)}: "
            f"fill {', '.join(missing)} in every row before sending it back."
        )
    lines.append(NEXT_STEP)
    text = "\n".join(lines)
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


async def report_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A report file: refuse, or download it, extract its figures and send them as XLSX."""
    message = update.effective_message
    document = message.document
    await admit_upload(
        update,
        context,
        report_limit(),
        "Send a shorter part of the report, or run marketbot extract on the server.",
    )
    name = Path(document.file_name or "report").name
    suffix = Path(name).suffix.lower()
    await message.reply_text(f"Reading {name}… this can take a few seconds.")
    cs = curate_state(context)
    work = Path(tempfile.mkdtemp(prefix="report-", dir=cs.folder))
    path = work / f"report{suffix}"  # the file's own name may hold anything
    failure = None
    try:
        tg_file = await context.bot.get_file(document.file_id)
        await tg_file.download_to_drive(path)
        vocab = state(context).store.vocabulary
        async with cs.extracting:
            result, xlsx = await asyncio.to_thread(_extract, path, vocab, work / "figures.xlsx")
    except ExtractError as e:
        failure = str(e).replace(path.name, name)
        log.info("report refused: %s", failure)
    except TelegramError:
        raise  # the download failed: the error handler says so, as for CSV uploads
    except Exception:  # a bug must not leave the curator without an answer
        log.exception("extracting a report failed")
        failure = (
            f"{name}: I could not extract figures from it. Try marketbot extract on the "
            "server, or send the figures as CSV or XLSX."
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)  # before any reply: the report is not kept
    if failure is not None:
        await message.reply_text(failure)
    elif xlsx is None:
        await message.reply_text(
            f"{name}: no figures found in it — nothing to review, nothing stored."
        )
    else:
        await message.reply_document(
            document=xlsx,
            filename=f"{Path(name).stem}-figures.xlsx",
            caption=f"Figures from {name}, each with its evidence, to review.",
        )
        await message.reply_text(summary(name, result))
        log.info("report extracted: %d candidate(s)", len(result.candidates))
    raise ApplicationHandlerStop
