"""Ingested text with markup (`R&D <Q4> "Report"`) reaches Telegram escaped, everywhere:
replies, photo captions, inline results, /sources and pushes. Real PTB against the fake Bot API.

The parser strips < > & from questions, so only ingested titles, publishers and notes can carry
markup into a reply; each test fails if any of those renderers stops escaping.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import subscriptions
from bot.db import open_store
from bot.ingest import ingest_file
from bot.telegram import delivery
from tests.fake_bot_api import FakeBotApi
from tests.telegram.test_handlers import Running, start_bot, stop_bot

TITLE = 'R&D <Q4> "Report"'
PUBLISHER = "A&B <Research>"
NOTE = "<b>net</b> & gross"
CSV = (
    "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh,"
    "source_title,source_publisher,source_published\n"
    f'users,pan_auto,,2019Q4,301000000,=,users,rd,,"{NOTE}",,"R&D <Q4> ""Report""",'
    f'"{PUBLISHER}",2020-02-01\n'
    f'users,ride_code,alipay,2019Q4,210000000,>,users,rd,,"{NOTE}",,"R&D <Q4> ""Report""",'
    f'"{PUBLISHER}",2020-02-01\n'
)
ALLOWED_TAGS = {"<b>", "</b>", "<i>", "</i>"}


def check_html(text: str) -> str:
    """Only our own tags, every & an entity, and the ingested strings shown as text."""
    tags = set(re.findall(r"<[^>]*>", text))
    assert tags <= ALLOWED_TAGS, tags
    assert not re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", text), text
    shown = html.unescape(re.sub(r"<[^>]+>", "", text))
    return shown


@pytest.fixture
async def bot(fake_api: FakeBotApi, db_path: Path, tmp_path: Path) -> AsyncIterator[Running]:
    csv = tmp_path / "rd.csv"
    csv.write_text(CSV, encoding="utf-8")
    store = open_store(db_path)
    ingest_file(store, csv)
    store.close()
    running = await start_bot(fake_api, db_path)
    yield running
    await stop_bot(running)
    fake_api.assert_no_rejections()


async def test_reply_escapes_title_publisher_and_note(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("pan-auto users Q4 2019"))
    assert reply.ok, reply.description
    shown = check_html(reply.params["text"])
    assert TITLE in shown and PUBLISHER in shown and NOTE in shown
    assert "301 million" in shown


async def test_caption_escapes_title_and_note(bot: Running) -> None:
    [photo] = await bot.say(
        bot.api.make_private_message("pan-auto users Q3 vs Q4 2019"), "sendPhoto"
    )
    assert photo.ok, photo.description
    shown = check_html(photo.params["caption"])
    assert TITLE in shown and NOTE in shown


async def test_inline_result_escapes_title(bot: Running) -> None:
    [answer] = await bot.say(
        bot.api.make_inline_query("pan-auto users Q4 2019"), "answerInlineQuery"
    )
    assert answer.ok, answer.description
    [result] = answer.params["results"]
    shown = check_html(result["input_message_content"]["message_text"])
    assert TITLE in shown and NOTE in shown


async def test_sources_command_escapes_title_and_publisher(bot: Running) -> None:
    [reply] = await bot.say(bot.api.make_private_message("/sources"))
    assert reply.ok, reply.description
    shown = check_html(reply.params["text"])
    assert TITLE in shown and PUBLISHER in shown


async def test_push_escapes_title_and_note_and_keeps_lower_bounds(
    fake_api: FakeBotApi, bot: Running
) -> None:
    store = bot.store
    subscriptions.ensure_schema(store)
    subscriptions.subscribe(store, 7001, "*", lang="en")
    subscriptions.queue_push(store, period="2019Q4")
    bot.app.bot_data[delivery.OUTBOX_KEY].wake.set()  # the running bot delivers it
    sent = None
    for _ in range(200):
        sent = next(
            (
                r
                for r in fake_api.requests
                if r.method in ("sendPhoto", "sendMessage")
                and r.ok
                and int(r.params["chat_id"]) == 7001
            ),
            None,
        )
        if sent is not None:
            break
        await asyncio.sleep(0.05)
    assert sent is not None, "the push was not delivered"
    shown = check_html(sent.params.get("caption") or sent.params.get("text"))
    assert TITLE in shown
    assert "over 210 million" in shown  # the lower bound travels into the push
