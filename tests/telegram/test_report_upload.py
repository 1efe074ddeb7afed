"""A curator sends a report (txt, pdf…) in a private chat and gets its figures back as an XLSX
to review; the edited XLSX sent back goes through the preview → Import flow, and the new
figures answer. The real Application against the fake Bot API; the store is a real file."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest

from bot.extract.export import COLUMNS
from bot.telegram.writer import writer_for
from tests.fake_bot_api import DEFAULT_GROUP_ID, FakeBotApi
from tests.telegram.test_curate import (
    CURATOR,
    MEMBER,
    OTHER_CURATOR,
    ask,
    edited_text,
    press,
    store_bytes,
    upload,
)
from tests.telegram.test_handlers import Running, start_bot, stop_bot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A Chinese quarterly report in the style of the seed: 亿/万, 约/近/超过, a growth rate, a date,
# a new segment (新能源汽车充电) and a survey size that is no market figure.
CHINESE = """2019年第四季度泛汽车小程序报告

星图研究院 2020年2月18日发布

截至2019年第四季度，泛汽车小程序用户规模达到３.０１亿，环比增长6.4%。汽车后市场小程序月活跃用户约39.8万，日活跃用户近2.7万。

新能源汽车充电小程序用户超过三百万。微信乘车码覆盖200多个城市。

本次调研共访问了1,200名车主。
"""


@pytest.fixture
async def bot(fake_api: FakeBotApi, db_path: Path) -> AsyncIterator[Running]:
    running = await start_bot(fake_api, db_path, curators=frozenset({CURATOR, OTHER_CURATOR}))
    yield running
    await stop_bot(running)
    fake_api.assert_no_rejections()


async def send_report(bot: Running, data: bytes, name: str, mime: str, user_id: int = CURATOR):
    """Send a report; return (the XLSX document request, the summary text, every message)."""
    since = time.monotonic()
    bot.api.push_update(bot.api.make_document_message(data, name, mime_type=mime, user_id=user_id))
    [document] = await bot.api.wait_for("sendDocument", since=since, timeout=60)
    texts = await bot.api.wait_for("sendMessage", count=2, since=since, timeout=15)
    return document, texts[-1].params["text"], [t.params["text"] for t in texts]


def sheet_rows(data: bytes) -> tuple[list[str], list[dict]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book["facts"]
    values = list(ws.iter_rows(values_only=True))
    header = list(values[0])
    return header, [dict(zip(header, row, strict=True)) for row in values[1:]]


def edited_book(data: bytes, edit) -> bytes:
    """The bot's workbook after ``edit(header_index, worksheet_row, row_dict)`` on each row."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book["facts"]
    header = [c.value for c in ws[1]]
    col = {h: i + 1 for i, h in enumerate(header)}
    for r in range(2, ws.max_row + 1):
        row = {h: ws.cell(r, col[h]).value for h in header}
        edit(lambda name, value, r=r: ws.cell(r, col[name], value), row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_txt_report_to_xlsx_edit_send_back_import_and_ask(bot: Running, db_path: Path):
    assert "3.01亿" not in await ask(bot, "泛汽车 用户 2019年第四季度")
    # the question's follow-up state and unanswered record are written in the background
    assert await asyncio.to_thread(writer_for(bot.store).flush, 10.0)
    before = store_bytes(db_path)

    document, text, messages = await send_report(
        bot, CHINESE.encode(), "星图-2019Q4.txt", "text/plain"
    )
    assert messages[0].startswith("Reading 星图-2019Q4.txt…")
    # The summary: counts, period, source, what to do next.
    assert "星图-2019Q4.txt: 5 figures found, 5 proposed to accept (accept = yes), 1 new key." in (
        text
    )
    assert "Period: 2019Q4" in text
    assert "Source: 2019年第四季度泛汽车小程序报告 · ? · 2020-02-18" in text
    assert (
        "New segment: new_energy_vehicle_charging — new energy vehicle charging / 新能源汽车充电"
        in text
    )
    assert "fill source_publisher in every row" in text
    assert "set accept to no for anything wrong" in text and "send the file back" in text

    received = document.files["document"]
    assert received.filename == "星图-2019Q4-figures.xlsx"
    header, rows = sheet_rows(received.data)
    assert header == COLUMNS
    by_value = {r["value"]: r for r in rows}
    assert set(by_value) == {301000000, 398000, 27000, 3000000, 200}
    pan = by_value[301000000]
    assert (pan["metric"], pan["segment"], pan["period"], pan["accept"]) == (
        "users",
        "pan_auto",
        "2019Q4",
        "yes",
    )
    assert "[３.０１亿]" in pan["evidence"]  # the sentence, the number marked
    assert all(r["evidence"] for r in rows)
    assert by_value[3000000]["segment_zh"] == "新能源汽车充电"
    # Nothing stored, nothing left behind.
    assert store_bytes(db_path) == before
    assert not list(bot.app.bot_data["curate"].folder.iterdir())

    # The curator reviews: the DAU row is rejected, the pan-auto figure corrected (a typo in
    # the report: 3.02亿), the publisher filled in.
    def review(set_cell, row) -> None:
        set_cell("source_publisher", "星图研究院")
        if row["value"] == 27000:
            set_cell("accept", "no")
        if row["value"] == 301000000:
            set_cell("value", 302000000)

    edited = edited_book(received.data, review)
    preview = await upload(bot, edited, "星图-2019Q4-figures.xlsx", mime_type=XLSX)
    shown = preview.params["text"]
    assert "星图-2019Q4-figures.xlsx: 4 rows — 4 added, 0 updated, 0 unchanged, 1 skipped" in shown
    assert "new: 2019Q4" in shown
    assert "New segment: new_energy_vehicle_charging" in shown
    assert store_bytes(db_path) == before  # still nothing stored before Import

    since = time.monotonic()
    await press(bot, preview, "Import")
    assert "Imported 星图-2019Q4-figures.xlsx: 4 rows — 4 added" in await edited_text(bot, since)
    assert store_bytes(db_path) != before

    answer = await ask(bot, "泛汽车 用户 2019年第四季度")
    assert "3.02亿" in answer and "星图研究院" in answer
    assert "302 million" in await ask(bot, "pan-auto users Q4 2019")
    charging = await ask(bot, "新能源汽车充电 用户 2019年第四季度")
    assert "新能源汽车充电" in charging and "300万" in charging
    rejected = await ask(bot, "aftermarket DAU Q4 2019")  # accept = no: not stored
    assert "27,000" not in rejected and "2.7万" not in rejected


def small_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Q4 2019 Mini Program Report\nPublished by Yunshan Data on 2020-01-20.")
    pdf.add_page()
    pdf.multi_cell(
        0,
        6,
        "As of the fourth quarter of 2019, pan-car mini program users reached 305 million, "
        "up 7.8% from the third quarter. Aftermarket mini programs had about 415,000 monthly "
        "active users.",
    )
    return bytes(pdf.output())


async def test_pdf_report_round_trip_answers(bot: Running, db_path: Path) -> None:
    before = store_bytes(db_path)
    document, text, _ = await send_report(bot, small_pdf(), "q4.pdf", "application/pdf")
    assert "q4.pdf: 2 figures found, 2 proposed to accept" in text
    assert "Period: 2019Q4" in text
    assert "Source: Q4 2019 Mini Program Report · Yunshan Data · 2020-01-20" in text
    received = document.files["document"]
    assert received.filename == "q4-figures.xlsx"
    _, rows = sheet_rows(received.data)
    by_value = {r["value"]: r for r in rows}
    assert by_value[305000000]["evidence_page"] == 2
    assert by_value[305000000]["stated_pct"] == 7.8
    assert (by_value[415000]["qualifier"], by_value[415000]["metric"]) == ("~", "mau")
    assert store_bytes(db_path) == before

    preview = await upload(bot, received.data, received.filename, mime_type=XLSX)
    assert "q4-figures.xlsx: 2 rows — 2 added, 0 updated, 0 unchanged" in preview.params["text"]
    since = time.monotonic()
    await press(bot, preview, "Import")
    assert "Imported q4-figures.xlsx" in await edited_text(bot, since)
    answer = await ask(bot, "aftermarket MAU Q4 2019")
    assert "about 415,000" in answer and "Yunshan Data" in answer
    assert "约41.5万" in await ask(bot, "后市场 月活 2019年第四季度")


async def test_non_curator_and_group_reports_are_refused_without_download(bot: Running) -> None:
    reply = await upload(bot, CHINESE.encode(), "r.txt", user_id=MEMBER, mime_type="text/plain")
    assert "only the team's curators" in reply.params["text"]
    [group] = await bot.say(
        bot.api.make_document_message(
            small_pdf(), "r.pdf", mime_type="application/pdf", chat_id=DEFAULT_GROUP_ID
        )
    )
    assert "send report files to me in a private chat" in group.params["text"]
    assert not bot.api.sent("getFile") and not bot.api.downloads
    assert not bot.api.sent("sendDocument")


async def test_too_big_report_is_refused_before_download(bot: Running) -> None:
    reply = await upload(
        bot, b"%PDF-1.4", "huge.pdf", file_size=25 * 2**20, mime_type="application/pdf"
    )
    assert "huge.pdf: 25.0 MB is over the 20 MB limit" in reply.params["text"]
    assert not bot.api.sent("getFile") and not bot.api.downloads


@pytest.mark.parametrize(
    ("name", "data", "mime", "says"),
    [
        (
            "broken.pdf",
            b"%PDF-1.4 this is not really a pdf",
            "application/pdf",
            "cannot read it as PDF",
        ),
        ("broken.docx", b"not a zip", "application/octet-stream", "cannot read it as DOCX"),
        ("blank.txt", b"  \n\n ", "text/plain", "no text found"),
    ],
)
async def test_unreadable_report_gets_one_line_and_nothing_stored(
    bot: Running, db_path: Path, name: str, data: bytes, mime: str, says: str
) -> None:
    before = store_bytes(db_path)
    since = time.monotonic()
    bot.api.push_update(bot.api.make_document_message(data, name, mime_type=mime, user_id=CURATOR))
    reading, refusal = await bot.api.wait_for("sendMessage", count=2, since=since, timeout=30)
    assert reading.params["text"].startswith(f"Reading {name}")
    text = refusal.params["text"]
    assert text.startswith(f"{name}: ") and says in text
    assert len(text.splitlines()) == 1 and "Traceback" not in text and "report." not in text
    assert not bot.api.sent("sendDocument")
    assert store_bytes(db_path) == before
    assert not list(bot.app.bot_data["curate"].folder.iterdir())


async def test_report_without_figures_says_so(bot: Running) -> None:
    prose = "Notes from the quarterly meeting\n\nThe team discussed the market and next steps.\n"
    since = time.monotonic()
    bot.api.push_update(
        bot.api.make_document_message(
            prose.encode(), "notes.md", mime_type="text/markdown", user_id=CURATOR
        )
    )
    _, reply = await bot.api.wait_for("sendMessage", count=2, since=since, timeout=30)
    assert (
        reply.params["text"]
        == "notes.md: no figures found in it — nothing to review, nothing stored."
    )
    assert not bot.api.sent("sendDocument")


async def test_questions_are_answered_while_a_report_is_read(
    bot: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extractor runs in a worker thread: a member's question is answered meanwhile."""
    import bot.telegram.reports as reports

    started, release = threading.Event(), threading.Event()
    real = reports.extract

    def slow_extract(*args, **kwargs):  # the real extractor, held until the question is answered
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(reports, "extract", slow_extract)
    since = time.monotonic()
    bot.api.push_update(
        bot.api.make_document_message(
            CHINESE.encode(), "r.txt", mime_type="text/plain", user_id=CURATOR
        )
    )
    assert await asyncio.to_thread(started.wait, 30)
    try:
        assert "27,200" in await ask(bot, "aftermarket DAU Q3")
    finally:
        release.set()
    [document] = await bot.api.wait_for("sendDocument", since=since, timeout=60)
    assert document.files["document"].filename == "r-figures.xlsx"
