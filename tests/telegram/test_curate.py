"""Curators feed and teach the bot from the chat: the real Application against the fake Bot API.

Uploads (preview → Import / Import and announce / Cancel, expiry, refusals), /teach, /forget,
/unanswered, and words taught elsewhere reaching the running bot without a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.db import VOCAB_RECHECK_SECONDS
from bot.history import entries
from tests.fake_bot_api import DEFAULT_GROUP_ID, FakeBotApi
from tests.telegram.test_handlers import Running, start_bot, stop_bot, visible

CURATOR = 424_242
OTHER_CURATOR = 515_151
MEMBER = 777_001
REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "data" / "sample-ingest.csv").read_bytes()

USED_CAR_CSV = (
    "metric,segment,platform,period,value,qualifier,unit,source,segment_en,segment_zh,"
    "source_title,source_publisher,source_published\n"
    "users,used_car,,2019Q4,52000000,>,users,usedcar-2019q4,used-car mini programs,二手车,"
    "Used Car Mini Program Report Q4 2019,Sample Research,2020-02-10\n"
).encode()


@pytest.fixture
async def bot(fake_api: FakeBotApi, db_path: Path) -> AsyncIterator[Running]:
    running = await start_bot(fake_api, db_path, curators=frozenset({CURATOR, OTHER_CURATOR}))
    yield running
    await stop_bot(running)
    fake_api.assert_no_rejections()


def store_bytes(db: Path) -> bytes:
    """The store file's bytes after moving every committed change out of the WAL into it."""
    conn = sqlite3.connect(db)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()
    return db.read_bytes()


async def ask(bot: Running, text: str, user_id: int = MEMBER) -> str:
    [reply] = await bot.say(bot.api.make_private_message(text, user_id=user_id))
    return visible(reply.params["text"])


async def upload(bot: Running, data: bytes, name: str, user_id: int = CURATOR, **kw):
    [reply] = await bot.say(bot.api.make_document_message(data, name, user_id=user_id, **kw))
    return reply


async def press(bot: Running, reply, label: str, user_id: int = CURATOR):
    """Press the button called ``label`` under the bot's message ``reply``."""
    buttons = [b for row in reply.params["reply_markup"]["inline_keyboard"] for b in row]
    [data] = [b["callback_data"] for b in buttons if b["text"] == label]
    since = time.monotonic()
    bot.api.push_update(bot.api.make_callback_query(data, message=reply.result, user_id=user_id))
    [answered] = await bot.api.wait_for("answerCallbackQuery", since=since, timeout=15)
    return answered


async def edited_text(bot: Running, since: float) -> str:
    [edit] = await bot.api.wait_for("editMessageText", since=since, timeout=15)
    return edit.params["text"]


async def test_upload_preview_import_then_answer(bot: Running, db_path: Path) -> None:
    before = await ask(bot, "aftermarket DAU Q4 2019")
    assert "26,900" not in before
    preview = await upload(bot, SAMPLE, "sample-ingest.csv")
    text = preview.params["text"]
    assert "sample-ingest.csv: 3 rows — 3 added, 0 updated, 0 unchanged" in text
    assert "2019Q4" in text and "new: 2019Q4" in text
    assert "26,900 users" in text  # a figure as the bot will answer it
    labels = [b["text"] for row in preview.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Import", "Import and announce", "Cancel"]
    assert bot.api.sent("getFile") and bot.api.downloads

    since = time.monotonic()
    await press(bot, preview, "Import")
    outcome = await edited_text(bot, since)
    assert "Imported sample-ingest.csv: 3 rows — 3 added" in outcome
    assert "26,900" in await ask(bot, "aftermarket DAU Q4 2019")
    [entry] = [e for e in entries(bot.store) if e["action"] == "import"]
    assert entry["who"] == f"telegram:{CURATOR}" and "sample-ingest.csv" in entry["what"]
    assert not list(bot.app.bot_data["curate"].folder.iterdir())  # temp file deleted


async def test_import_and_announce_queues_the_push(bot: Running) -> None:
    [subscribed] = await bot.say(bot.api.make_private_message("/subscribe", user_id=MEMBER))
    assert "ubscribed" in subscribed.params["text"]
    preview = await upload(bot, SAMPLE, "sample-ingest.csv")
    since = time.monotonic()
    await press(bot, preview, "Import and announce")
    outcome = await edited_text(bot, since)
    assert "Announced 2019Q4: push" in outcome and "queued to 1 chat(s)" in outcome
    from bot.subscriptions import push_status

    assert [r["period"] for r in push_status(bot.store)] == ["2019Q4"]


async def test_cancel_leaves_the_store_byte_identical(bot: Running, db_path: Path) -> None:
    before = store_bytes(db_path)
    preview = await upload(bot, SAMPLE, "sample-ingest.csv")
    since = time.monotonic()
    await press(bot, preview, "Cancel")
    assert "cancelled — nothing was imported" in await edited_text(bot, since)
    assert store_bytes(db_path) == before
    assert not list(bot.app.bot_data["curate"].folder.iterdir())
    # The spent buttons do nothing any more.
    late = await press(bot, preview, "Import")
    assert "expired" in late.params["text"]
    assert store_bytes(db_path) == before


async def test_expired_preview_imports_nothing(bot: Running, db_path: Path) -> None:
    bot.app.bot_data["curate"].ttl = 0.5
    before = store_bytes(db_path)
    preview = await upload(bot, SAMPLE, "sample-ingest.csv")
    folder = bot.app.bot_data["curate"].folder
    for _ in range(100):  # the expiry job deletes the file
        if not list(folder.iterdir()):
            break
        await asyncio.sleep(0.05)
    assert not list(folder.iterdir())
    answered = await press(bot, preview, "Import")
    assert "expired" in answered.params["text"]
    assert store_bytes(db_path) == before
    assert "26,900" not in await ask(bot, "aftermarket DAU Q4 2019")


async def test_second_upload_replaces_and_curators_are_kept_apart(bot: Running) -> None:
    first = await upload(bot, SAMPLE, "sample-ingest.csv")
    second = await upload(bot, SAMPLE, "sample-ingest-again.csv")
    assert "expired" in (await press(bot, first, "Import")).params["text"]
    other = await press(bot, second, "Import", user_id=OTHER_CURATOR)
    assert "another curator" in other.params["text"]
    assert "26,900" not in await ask(bot, "aftermarket DAU Q4 2019")
    since = time.monotonic()
    await press(bot, second, "Import")
    assert "Imported sample-ingest-again.csv" in await edited_text(bot, since)


async def test_non_curator_upload_is_refused_without_download(bot: Running) -> None:
    reply = await upload(bot, SAMPLE, "sample-ingest.csv", user_id=MEMBER)
    assert "only the team's curators" in reply.params["text"]
    [group] = await bot.say(
        bot.api.make_document_message(
            SAMPLE, "sample-ingest.csv", user_id=CURATOR, chat_id=DEFAULT_GROUP_ID
        )
    )
    assert "private chat" in group.params["text"]
    assert not bot.api.sent("getFile") and not bot.api.downloads


async def test_too_big_is_refused_before_download(bot: Running) -> None:
    reply = await upload(bot, SAMPLE, "big.csv", file_size=40 * 2**20)
    assert "over the 20 MB limit" in reply.params["text"]
    assert not bot.api.sent("getFile") and not bot.api.downloads


async def test_bad_file_gets_row_numbered_reasons(bot: Running, db_path: Path) -> None:
    before = store_bytes(db_path)
    bad = SAMPLE.replace(b"2019Q4,26900", b"2019Q9,26900").replace(b"398000", b"lots")
    reply = await upload(bot, bad, "bad.csv")
    text = reply.params["text"]
    assert "bad.csv: 2 problems; nothing was changed" in text
    assert "row 3: bad period '2019Q9'" in text
    assert "row 4: value is not a number: 'lots'" in text
    assert "reply_markup" not in reply.params
    assert store_bytes(db_path) == before


async def test_declared_segment_answers_in_chinese(bot: Running) -> None:
    preview = await upload(bot, USED_CAR_CSV, "used-car.csv")
    assert "New segment: used_car — used-car mini programs / 二手车" in preview.params["text"]
    before = visible(await ask(bot, "二手车 用户 2019年第四季度"))
    assert before.startswith("没有“二手车”的数据") and "5200万" not in before  # unknown yet
    since = time.monotonic()
    await press(bot, preview, "Import")
    await edited_text(bot, since)
    answer = await ask(bot, "二手车 用户 2019年第四季度")
    assert "二手车" in answer and "5200万" in answer


async def test_teach_then_chinese_question_answers(bot: Running) -> None:
    assert "2.83亿" not in await ask(bot, "车圈 用户 三季度")
    [reply] = await bot.say(bot.api.make_private_message("/teach 车圈 = pan_auto", user_id=CURATOR))
    assert "Learned: “车圈” now means segment pan_auto" in reply.params["text"]
    answer = await ask(bot, "车圈 用户 三季度")
    assert "2.83亿" in answer
    [refused] = await bot.say(
        bot.api.make_private_message("/teach 后市场 = pan_auto", user_id=CURATOR)
    )
    assert "already means segment aftermarket" in refused.params["text"]
    [gone] = await bot.say(bot.api.make_private_message("/forget 车圈", user_id=CURATOR))
    assert "Forgotten" in gone.params["text"]
    assert "2.83亿" not in await ask(bot, "车圈 用户 三季度")


async def test_non_curator_teach_is_refused(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("/teach 车圈 = pan_auto", user_id=MEMBER))
    assert "only the team's curators" in reply.params["text"]
    assert "2.83亿" not in await ask(bot, "车圈 用户 三季度")
    assert not bot.store.conn.execute("SELECT 1 FROM synonyms WHERE origin = 'taught'").fetchall()


async def test_cli_taught_word_answers_in_running_bot(bot: Running, db_path: Path) -> None:
    assert "2.83亿" not in await ask(bot, "车圈 用户 三季度")
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["teach", "车圈", "pan_auto", "--db", str(db_path)]
    )
    assert result.exit_code == 0, result.output
    await asyncio.sleep(VOCAB_RECHECK_SECONDS)  # the longest another process's word may wait
    assert "2.83亿" in await ask(bot, "车圈 用户 三季度")


async def test_unanswered_buttons_teach_a_word(bot: Running) -> None:
    for _ in range(2):
        await ask(bot, "车圈 用户 三季度")
    since = time.monotonic()
    bot.api.push_update(bot.api.make_private_message("/unanswered", user_id=CURATOR))
    listing, offer = await bot.api.wait_for("sendMessage", count=2, since=since, timeout=15)
    assert "2× 车圈 用户 三季度 — unknown: 车圈" in listing.params["text"]
    assert "“车圈” (2×)" in offer.params["text"]
    labels = [b["text"] for row in offer.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[-1] == "Skip" and len(labels) == 4
    [choice] = [label for label in labels if label.startswith("pan_auto ")]
    not_yours = await press(bot, offer, choice, user_id=OTHER_CURATOR)
    assert "another curator" in not_yours.params["text"]
    since = time.monotonic()
    await press(bot, offer, choice)
    assert "Learned: “车圈”" in await edited_text(bot, since)
    assert "2.83亿" in await ask(bot, "车圈 用户 三季度")
    [member] = await bot.say(bot.api.make_private_message("/unanswered", user_id=MEMBER))
    assert "only the team's curators" in member.params["text"]


async def test_xlsx_upload_previews_and_imports(bot: Running, tmp_path: Path) -> None:
    import pandas as pd

    book = tmp_path / "q4.xlsx"
    pd.read_csv(REPO / "data" / "sample-ingest.csv", dtype=str, keep_default_na=False).to_excel(
        book, sheet_name="facts", index=False
    )
    preview = await upload(
        bot,
        book.read_bytes(),
        "q4.xlsx",
        mime_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert "q4.xlsx: 3 rows — 3 added" in preview.params["text"]
    since = time.monotonic()
    await press(bot, preview, "Import")
    assert "Imported q4.xlsx" in await edited_text(bot, since)
    assert "26,900" in await ask(bot, "aftermarket DAU Q4 2019")


def test_file_url_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import Settings

    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://10.0.0.5:8081/bot")
    monkeypatch.delenv("TELEGRAM_API_FILE_URL", raising=False)
    monkeypatch.setenv("MARKETBOT_CURATORS", "42, 43")
    settings = Settings.from_env()
    assert settings.base_file_url == "http://10.0.0.5:8081/file/bot"
    assert settings.curators == frozenset({42, 43})
    monkeypatch.setenv("TELEGRAM_API_FILE_URL", "http://files.example/file/bot")
    assert Settings.from_env().base_file_url == "http://files.example/file/bot"
