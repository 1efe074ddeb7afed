"""Tests of the fake Telegram Bot API server, raw over HTTP and with a real PTB Application."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResultArticle, Update
from telegram import InputTextMessageContent as TgInputTextMessageContent
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from tests.fake_bot_api import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    SPEC_ENV_VAR,
    BotApiSpec,
    FakeBotApi,
    default_spec_path,
    parse_html,
    running_bot,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: FakeBotApi,
    method: str,
    payload: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    body: str = "json",
) -> tuple[int, dict[str, Any]]:
    """Call the fake server like a client would: body "json", "form" or "query" (GET)."""
    url = f"{api.base_url}{token or api.token}/{method}"
    payload = payload or {}
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
    if body == "json":
        request = http.post(url, json=payload)
    elif body == "form":
        request = http.post(url, data=encoded)
    else:
        request = http.get(url, params=encoded)
    async with request as resp:
        data = await resp.json()
        assert resp.status == (200 if data["ok"] else data["error_code"])
        return resp.status, data


def keyboard(data: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "Press", "callback_data": data}]]}


# ---------------------------------------------------------------------------- raw HTTP


async def test_unknown_method_is_404_like_telegram(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    status, data = await call(http, fake_api, "sendMesage", {"chat_id": 1, "text": "x"})
    assert (status, data) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert [r.status for r in fake_api.rejections] == [404]


async def test_wrong_token_is_401(fake_api: FakeBotApi, http: aiohttp.ClientSession) -> None:
    status, data = await call(http, fake_api, "getMe", token="123:wrong")
    assert (status, data) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


async def test_get_me_and_case_insensitive_method_names(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    _, me = await call(http, fake_api, "GETME")
    assert me["result"]["is_bot"] is True
    assert me["result"]["username"] == "marketbot_test_bot"
    assert me["result"]["supports_inline_queries"] is True
    assert me["result"]["id"] == fake_api.bot_id
    status, _ = await call(http, fake_api, "sendmessage", {"chat_id": 7, "text": "hi"})
    assert status == 200
    assert [r.method for r in fake_api.sent()] == ["getMe", "sendMessage"]


@pytest.mark.parametrize(
    ("method", "payload", "description"),
    [
        ("sendMessage", {"text": "x"}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": 1}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": ""}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "  \n "}, "Bad Request: text must be non-empty"),
        ("getChatMember", {"chat_id": 1}, "Bad Request: invalid user_id specified"),
        ("sendPhoto", {"chat_id": 1}, "Bad Request: there is no photo in the request"),
        (
            "answerCallbackQuery",
            {},
            'Bad Request: parameter "callback_query_id" is required',
        ),
        (
            "editMessageText",
            {"chat_id": 1, "text": "x"},
            "Bad Request: message identifier is not specified",
        ),
    ],
)
async def test_missing_required_fields(
    fake_api: FakeBotApi,
    http: aiohttp.ClientSession,
    method: str,
    payload: dict[str, Any],
    description: str,
) -> None:
    status, data = await call(http, fake_api, method, payload)
    assert (status, data["description"]) == (400, description)
    assert fake_api.rejections[-1].description == description


@pytest.mark.parametrize("body", ["json", "form", "query"])
async def test_every_body_encoding_is_read_and_typed(
    fake_api: FakeBotApi, http: aiohttp.ClientSession, body: str
) -> None:
    payload = {
        "chat_id": 42,
        "text": "hi",
        "disable_notification": True,
        "reply_markup": keyboard("k"),
    }
    status, data = await call(http, fake_api, "sendMessage", payload, body=body)
    assert status == 200
    [record] = fake_api.sent("sendMessage")
    assert record.params == payload
    assert data["result"]["reply_markup"] == keyboard("k")
    assert data["result"]["chat"] == {"id": 42, "type": "private", "first_name": "User42"}


@pytest.mark.parametrize(
    ("payload", "description"),
    [
        ({"disable_notification": "perhaps"}, 'parameter "disable_notification" must be'),
        ({"message_thread_id": "abc"}, 'parameter "message_thread_id" must be of type Integer'),
        ({"reply_markup": "{not json"}, "can't parse reply keyboard markup JSON object"),
        (
            {"reply_markup": {"inline_keyboard": [[{"callback_data": "x"}]]}},
            "can't parse inline keyboard button: Can't find field \"text\"",
        ),
        (
            {"reply_markup": {"inline_keyboard": [[{"text": "no action"}]]}},
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"reply_markup": {"inline_keyboard": [[{"text": "x", "url": "not-a-url"}]]}},
            "inline keyboard button URL 'not-a-url' is invalid: Wrong HTTP URL",
        ),
        (
            {"entities": [{"type": "bold", "offset": 0, "length": 100}]},
            "entity beginning at UTF-16 offset 0 ends after the end of the text",
        ),
        (
            {"entities": [{"type": "invalid_type", "offset": 0, "length": 1}]},
            "can't parse MessageEntity: Unsupported type specified",
        ),
        ({"parse_mode": "INVALID"}, "unsupported parse_mode"),
        ({"reply_parameters": {"message_id": 999999}}, "message to be replied not found"),
    ],
)
async def test_type_and_object_checks(
    fake_api: FakeBotApi,
    http: aiohttp.ClientSession,
    payload: dict[str, Any],
    description: str,
) -> None:
    for body in ("json", "form"):
        status, data = await call(
            http, fake_api, "sendMessage", {"chat_id": 5, "text": "hello", **payload}, body=body
        )
        assert status == 400
        assert data["description"].startswith("Bad Request: ")
        assert description in data["description"]


async def test_text_length_counts_visible_characters(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    ok = {"chat_id": 5, "text": "x" * 4096}
    assert (await call(http, fake_api, "sendMessage", ok))[0] == 200
    status, data = await call(http, fake_api, "sendMessage", {"chat_id": 5, "text": "x" * 4097})
    assert (status, data["description"]) == (400, "Bad Request: message is too long")
    # Tags and entities do not count: 4096 visible characters pass, 4097 do not.
    html = {"chat_id": 5, "parse_mode": "HTML", "text": "<b>" + "&lt;" * 4096 + "</b>"}
    status, data = await call(http, fake_api, "sendMessage", html)
    assert status == 200
    assert data["result"]["text"] == "<" * 4096
    assert data["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 4096}]
    html["text"] = "<i>" + "y" * 4097 + "</i>"
    assert (await call(http, fake_api, "sendMessage", html))[0] == 400
    # editMessageText has the same limit.
    sent_id = data["result"]["message_id"]
    edit = {"chat_id": 5, "message_id": sent_id, "text": "z" * 4097}
    status, data = await call(http, fake_api, "editMessageText", edit)
    assert (status, data["description"]) == (400, "Bad Request: message is too long")


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b><i>test</b></i>", 'Unmatched end tag at byte offset 10, expected "</i>"'),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("S&P 500", 'Character "&" at byte offset 1 is not part of an HTML entity'),
    ],
)
async def test_invalid_html_is_rejected_like_telegram(
    fake_api: FakeBotApi, http: aiohttp.ClientSession, html: str, error: str
) -> None:
    payload = {"chat_id": 5, "text": html, "parse_mode": "HTML"}
    status, data = await call(http, fake_api, "sendMessage", payload)
    assert status == 400
    assert data["description"].startswith(f"Bad Request: can't parse entities: {error}")


@pytest.mark.parametrize(
    ("html", "text", "entity_types"),
    [
        ("&lt;b&gt;", "<b>", []),
        ("a &amp; b &quot;q&quot; &#65;&#x42;", 'a & b "q" AB', []),
        (
            "<b>bold</b> <i>it</i> <u>u</u> <s>s</s>",
            "bold it u s",
            ["bold", "italic", "underline", "strikethrough"],
        ),
        ('<a href="https://example.com/?a=1&b=2">link</a>', "link", ["text_link"]),
        (
            '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>',
            "xy",
            ["spoiler", "spoiler"],
        ),
        ("<blockquote expandable>quote</blockquote>", "quote", ["expandable_blockquote"]),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", ["pre"]),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", ["custom_emoji"]),
        ("<B>caps</B>", "caps", ["bold"]),
    ],
)
async def test_valid_html_is_accepted_with_entities(
    fake_api: FakeBotApi, http: aiohttp.ClientSession, html: str, text: str, entity_types: list[str]
) -> None:
    payload = {"chat_id": 5, "text": html, "parse_mode": "html"}
    status, data = await call(http, fake_api, "sendMessage", payload)
    assert status == 200, data
    assert data["result"]["text"] == text
    assert [e["type"] for e in data["result"].get("entities", [])] == entity_types
    fake_api.assert_no_rejections()


def test_html_parser_entity_offsets_are_utf16() -> None:
    text, entities = parse_html("🏟 <b>x</b>")
    assert text == "🏟 x"
    assert entities == [{"type": "bold", "offset": 3, "length": 1}]


async def test_bare_ampersand_is_accepted_without_strict_mode(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeBotApi(strict_html_entities=False) as api:
        payload = {"chat_id": 5, "text": "S&P &laquo;500&raquo;", "parse_mode": "HTML"}
        status, data = await call(http, api, "sendMessage", payload)
    assert status == 200
    assert data["result"]["text"] == "S&P &laquo;500&raquo;"


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        ("x" * 64, True),
        ("x" * 65, False),
        ("é" * 32, True),  # 32 characters, 64 bytes
        ("é" * 32 + "x", False),  # 33 characters, 65 bytes
    ],
)
async def test_callback_data_is_limited_to_64_bytes(
    fake_api: FakeBotApi, http: aiohttp.ClientSession, data: str, accepted: bool
) -> None:
    payload = {"chat_id": 5, "text": "pick", "reply_markup": keyboard(data)}
    status, answer = await call(http, fake_api, "sendMessage", payload, body="form")
    if accepted:
        assert status == 200
        assert answer["result"]["reply_markup"] == keyboard(data)
    else:
        assert (status, answer["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_send_photo_multipart_and_caption_limit(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    async def send(caption: str, parse_mode: str | None = None) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("chat_id", "5")
        form.add_field("caption", caption)
        if parse_mode:
            form.add_field("parse_mode", parse_mode)
        form.add_field("photo", b"\x89PNG fake", filename="chart.png", content_type="image/png")
        async with http.post(f"{fake_api.api_url}/sendPhoto", data=form) as resp:
            return resp.status, await resp.json()

    status, data = await send("c" * 1024)
    assert status == 200
    message = data["result"]
    assert message["caption"] == "c" * 1024
    assert [p["width"] for p in message["photo"]] == [90, 320, 800]
    [record] = fake_api.sent("sendPhoto")
    assert record.files["photo"].data == b"\x89PNG fake"
    assert record.files["photo"].filename == "chart.png"

    status, data = await send("c" * 1025)
    assert (status, data["description"]) == (400, "Bad Request: message caption is too long")
    status, data = await send("<b>" + "c" * 1024 + "</b>", "HTML")
    assert status == 200
    status, data = await send("<b>c", "HTML")
    assert status == 400
    assert "can't parse entities" in data["description"]


async def test_answer_callback_query_text_limit(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    ok = {"callback_query_id": "1", "text": "t" * 200}
    assert (await call(http, fake_api, "answerCallbackQuery", ok))[0] == 200
    status, data = await call(
        http, fake_api, "answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 201}
    )
    assert (status, data["description"]) == (400, "Bad Request: MESSAGE_TOO_LONG")


def article(result_id: str = "1", text: str = "answer", **extra: Any) -> dict[str, Any]:
    return {
        "type": "article",
        "id": result_id,
        "title": "Result",
        "input_message_content": {"message_text": text, **extra},
    }


@pytest.mark.parametrize(
    ("results", "description"),
    [
        ([article(text="x" * 4097)], "message is too long"),
        ([article(text="")], "message text is empty"),
        ([article(text="<b>x", parse_mode="HTML")], "can't parse entities"),
        ([{**article(), "reply_markup": keyboard("y" * 65)}], "BUTTON_DATA_INVALID"),
        ([article("1"), article("1")], "RESULT_ID_DUPLICATE"),
        (
            [{"type": "article", "id": "1", "title": "t"}],
            'Can\'t find field "input_message_content"',
        ),
    ],
)
async def test_answer_inline_query_results_are_validated(
    fake_api: FakeBotApi,
    http: aiohttp.ClientSession,
    results: list[dict[str, Any]],
    description: str,
) -> None:
    payload = {"inline_query_id": "77", "results": results}
    status, data = await call(http, fake_api, "answerInlineQuery", payload, body="form")
    assert status == 400
    assert description in data["description"]


async def test_answer_inline_query_accepts_valid_results(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    results = [
        article("1", "<b>Market</b> size: $4.2bn", parse_mode="HTML"),
        {**article("2", "x" * 4096), "reply_markup": keyboard("z" * 64)},
    ]
    status, data = await call(
        http, fake_api, "answerInlineQuery", {"inline_query_id": "77", "results": results}
    )
    assert (status, data) == (200, {"ok": True, "result": True})


async def test_every_spec_method_answers_without_server_errors(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    """Each of the spec's methods, called bare, is answered 200 or 400 - never 404/500."""
    statuses = {}
    for method in fake_api.spec.methods:
        if method in ("getUpdates", "close", "logOut"):
            continue
        async with http.post(f"{fake_api.api_url}/{method}") as resp:
            statuses[method] = resp.status
            assert (await resp.json())["ok"] is (resp.status == 200)
    assert set(statuses.values()) <= {200, 400}, statuses
    assert statuses["getWebhookInfo"] == statuses["getMyCommands"] == 200


async def test_get_updates_long_poll_wakes_when_an_update_is_pushed(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(call(http, fake_api, "getUpdates", {"timeout": 10}))
    await asyncio.sleep(0.1)
    assert not poll.done()
    pushed = fake_api.push_update(fake_api.make_private_message("hello"))
    _, data = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 2
    assert data["result"] == [pushed]


async def test_get_updates_offset_limit_and_allowed_updates(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    first, second, third = fake_api.push_updates(
        fake_api.make_private_message(f"m{i}") for i in range(3)
    )
    assert second["update_id"] == first["update_id"] + 1

    _, data = await call(http, fake_api, "getUpdates", {"limit": 2})
    assert [u["update_id"] for u in data["result"]] == [first["update_id"], second["update_id"]]
    # Not confirmed yet: asked again, the same come back.
    _, data = await call(http, fake_api, "getUpdates", {"limit": 2})
    assert data["result"][0]["update_id"] == first["update_id"]
    # offset confirms everything before it.
    _, data = await call(http, fake_api, "getUpdates", {"offset": third["update_id"]})
    assert [u["update_id"] for u in data["result"]] == [third["update_id"]]
    assert [u["update_id"] for u in fake_api.pending_updates] == [third["update_id"]]
    # A negative offset keeps only the last ones.
    fake_api.push_updates(fake_api.make_private_message(f"n{i}") for i in range(3))
    _, data = await call(http, fake_api, "getUpdates", {"offset": -1})
    assert [u["message"]["text"] for u in data["result"]] == ["n2"]

    # allowed_updates: other kinds are not delivered; chat_member only when asked for.
    fake_api.push_update(fake_api.make_inline_query("q"))
    fake_api.push_update({"chat_member": {"chat": {"id": 1, "type": "private"}}})
    _, data = await call(http, fake_api, "getUpdates", {"allowed_updates": ["inline_query"]})
    assert [next(k for k in u if k != "update_id") for u in data["result"]] == ["inline_query"]


async def test_get_updates_timeout_expires_with_empty_result(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    _, data = await call(http, fake_api, "getUpdates", {"timeout": 1})
    elapsed = time.monotonic() - started
    assert data["result"] == []
    assert 0.9 <= elapsed < 3


async def test_second_get_updates_terminates_the_first_with_409(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(call(http, fake_api, "getUpdates", {"timeout": 5}))
    await asyncio.sleep(0.1)
    _, second = await call(http, fake_api, "getUpdates", {"timeout": 0})
    status, data = await asyncio.wait_for(first, 2)
    assert second["ok"] is True
    assert status == 409
    assert data["description"].startswith("Conflict: terminated by other getUpdates request")


async def test_fault_injection(fake_api: FakeBotApi, http: aiohttp.ClientSession) -> None:
    fake_api.block(42)
    status, data = await call(http, fake_api, "sendMessage", {"chat_id": 42, "text": "x"})
    assert (status, data["description"]) == (403, "Forbidden: bot was blocked by the user")

    fake_api.migrate(-4001, -1004001)
    status, data = await call(http, fake_api, "sendMessage", {"chat_id": -4001, "text": "x"})
    assert status == 400
    assert data["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert data["parameters"] == {"migrate_to_chat_id": -1004001}
    status, data = await call(http, fake_api, "sendMessage", {"chat_id": -1004001, "text": "x"})
    assert data["result"]["chat"]["type"] == "supergroup"

    fake_api.flood(None, times=2, retry_after=3)
    for _ in range(2):
        status, data = await call(http, fake_api, "sendMessage", {"chat_id": 7, "text": "x"})
        assert (status, data["description"]) == (429, "Too Many Requests: retry after 3")
        assert data["parameters"] == {"retry_after": 3}
    assert (await call(http, fake_api, "sendMessage", {"chat_id": 7, "text": "x"}))[0] == 200

    fake_api.fail(7, times=1, code=502)
    status, data = await call(http, fake_api, "sendMessage", {"chat_id": 7, "text": "x"})
    assert (status, data["description"]) == (502, "Bad Gateway")
    assert (await call(http, fake_api, "sendMessage", {"chat_id": 8, "text": "x"}))[0] == 200

    assert fake_api.too_many_requests == 2
    fake_api.assert_no_rejections()  # injected faults are not rejections


async def test_delay_seconds_slows_answers(
    fake_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    fake_api.delay_seconds = 0.3
    started = time.monotonic()
    await call(http, fake_api, "sendMessage", {"chat_id": 7, "text": "x"})
    assert time.monotonic() - started >= 0.3


async def test_enforced_rate_limits(http: aiohttp.ClientSession) -> None:
    async def send(api: FakeBotApi, chat_id: int) -> tuple[int, dict[str, Any]]:
        return await call(http, api, "sendMessage", {"chat_id": chat_id, "text": "x"})

    async with FakeBotApi(enforce_limits=True, private_burst=3) as api:
        statuses = [(await send(api, 5))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert api.rate_limited[0].response["parameters"] == {"retry_after": 1}
        assert (await send(api, 6))[0] == 200  # another private chat has its own budget
        with pytest.raises(AssertionError, match="hit a rate limit"):
            api.assert_no_rate_limit_hits()
    async with FakeBotApi(enforce_limits=True) as api:
        statuses = [(await send(api, DEFAULT_GROUP_ID))[0] for _ in range(21)]
        assert statuses == [200] * 20 + [429]
        assert 1 < api.rate_limited[0].response["parameters"]["retry_after"] <= 60
    async with FakeBotApi(enforce_limits=True) as api:
        statuses = [(await send(api, 1000 + i))[0] for i in range(31)]
        assert statuses == [200] * 30 + [429]
        assert api.too_many_requests == len(api.rate_limited) == 1
        api.assert_no_rejections()
    async with FakeBotApi() as api:  # off by default
        assert {(await send(api, 5))[0] for _ in range(40)} == {200}


async def test_recording_helpers(fake_api: FakeBotApi, http: aiohttp.ClientSession) -> None:
    await call(http, fake_api, "sendMessage", {"chat_id": 1, "text": "a"})
    await call(http, fake_api, "sendMessage", {"chat_id": 2, "text": "b"})
    await call(http, fake_api, "sendChatAction", {"chat_id": 2, "action": "typing"})
    await call(http, fake_api, "sendChatAction", {"chat_id": 2, "action": "dancing"})
    assert [r.text for r in fake_api.sent("sendMessage")] == ["a", "b"]
    assert [r.method for r in fake_api.sent(chat_id=2, ok=True)] == [
        "sendMessage",
        "sendChatAction",
    ]
    found = await fake_api.wait_for(lambda r: r.text == "b", timeout=1)
    assert found[0].result["text"] == "b"
    assert found[0].received_at <= found[0].completed_at  # type: ignore[operator]

    with pytest.raises(TimeoutError, match="sendPhoto"):
        await fake_api.wait_for("sendPhoto", timeout=0.2)
    with pytest.raises(AssertionError, match="wrong parameter action in request"):
        fake_api.assert_no_rejections()


async def test_stop_answers_pending_polls_and_frees_the_port(http: aiohttp.ClientSession) -> None:
    api = await FakeBotApi().start()
    port = api.port
    poll = asyncio.create_task(call(http, api, "getUpdates", {"timeout": 30}))
    for _ in range(500):  # until the long poll is held by the server
        if any(r.method == "getUpdates" for r in api.requests):
            break
        await asyncio.sleep(0.01)
    await api.stop()
    # answered at once rather than after its 30 s timeout (10 s only guards against a hang)
    _, data = await asyncio.wait_for(poll, 10)
    assert data["result"] == []
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_spec_is_vendored_in_the_repo_and_overridable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SPEC_ENV_VAR, raising=False)
    default = default_spec_path()
    assert default == Path(__file__).resolve().parent / "botapi" / "api.json"
    assert default.is_file()  # a bare clone has it: nothing outside the repository is needed
    copied = tmp_path / "api.json"
    shutil.copy(default, copied)
    monkeypatch.setenv(SPEC_ENV_VAR, str(copied))
    assert default_spec_path() == copied
    spec = BotApiSpec.load()
    assert spec.method_name("SENDMESSAGE") == "sendMessage"
    assert spec.version.startswith("Bot API")
    monkeypatch.setenv(SPEC_ENV_VAR, str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match=SPEC_ENV_VAR):
        BotApiSpec.load()


# ---------------------------------------------------------------------------- with PTB


async def test_ptb_echo_bot_in_polling_mode(fake_api: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Welcome!")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    app = fake_api.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with running_bot(app):
        fake_api.push_update(fake_api.make_private_message("/start"))
        [welcome] = await fake_api.wait_for("sendMessage")
        fake_api.push_update(fake_api.make_private_message("market size of EVs?"))
        replies = await fake_api.wait_for("sendMessage", count=2)
    assert [r.params["text"] for r in replies] == ["Welcome!", "market size of EVs?"]
    assert {r.params["chat_id"] for r in replies} == {DEFAULT_USER_ID}
    assert welcome.result["from"]["username"] == "marketbot_test_bot"
    assert [r.method for r in fake_api.sent()][:2] == ["getMe", "deleteWebhook"]
    assert fake_api.pending_updates == []  # PTB confirmed both
    fake_api.assert_no_rejections()


async def test_ptb_replies_in_the_forum_topic(fake_api: FakeBotApi) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("in topic")

    app = fake_api.application_builder().build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with running_bot(app):
        fake_api.push_update(fake_api.make_group_message("price?", message_thread_id=77))
        [reply] = await fake_api.wait_for("sendMessage")
    assert reply.params["chat_id"] == DEFAULT_GROUP_ID
    assert reply.params["message_thread_id"] == 77
    assert reply.result["is_topic_message"] is True
    assert reply.result["chat"]["type"] == "supergroup"
    fake_api.assert_no_rejections()


async def test_ptb_callback_query_answer_and_edit(fake_api: FakeBotApi) -> None:
    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Loading…")
        await query.edit_message_text(f"You chose {query.data}")

    app = fake_api.application_builder().build()
    app.add_handler(CallbackQueryHandler(on_press))
    async with running_bot(app):
        sent = await app.bot.send_message(
            5,
            "Pick a market",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("EV", callback_data="ev")]]),
        )
        [record] = fake_api.sent("sendMessage")
        fake_api.push_update(fake_api.make_callback_query("ev", message=record.result))
        [edit] = await fake_api.wait_for("editMessageText")
        [answer] = fake_api.sent("answerCallbackQuery")
        # Telegram refuses an edit that changes nothing.
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await app.bot.edit_message_text("You chose ev", chat_id=5, message_id=sent.message_id)
    assert answer.params["text"] == "Loading…"
    assert edit.ok
    assert edit.params["message_id"] == sent.message_id
    assert edit.result["text"] == "You chose ev"
    assert "reply_markup" not in edit.result  # an edit without markup removes the keyboard
    assert [r.description for r in fake_api.rejections] == [
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    ]


async def test_ptb_inline_query(fake_api: FakeBotApi) -> None:
    async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        assert query is not None
        await query.answer(
            [
                InlineQueryResultArticle(
                    id="1",
                    title="EV market",
                    input_message_content=TgInputTextMessageContent(
                        f"<b>{query.query}</b>: $1.2tn", parse_mode=ParseMode.HTML
                    ),
                )
            ]
        )

    app = fake_api.application_builder().build()
    app.add_handler(InlineQueryHandler(inline))
    async with running_bot(app):
        fake_api.push_update(fake_api.make_inline_query("ev"))
        [answer] = await fake_api.wait_for("answerInlineQuery")
    assert answer.ok
    [result] = answer.params["results"]
    assert result["input_message_content"]["message_text"] == "<b>ev</b>: $1.2tn"
    fake_api.assert_no_rejections()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_ptb_sees_telegram_errors(fake_api: FakeBotApi) -> None:
    app = fake_api.application_builder().build()
    async with app:
        fake_api.block(42)
        with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
            await app.bot.send_message(42, "hello")
        fake_api.migrate(-4001, -1004001)
        with pytest.raises(ChatMigrated) as migrated:
            await app.bot.send_message(-4001, "hello")
        assert migrated.value.new_chat_id == -1004001
        fake_api.flood(7, times=1, retry_after=2)
        with pytest.raises(RetryAfter, match="Retry in 2 seconds"):
            await app.bot.send_message(7, "hello")
        assert (await app.bot.send_message(7, "hello")).text == "hello"
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unclosed start tag"):
            await app.bot.send_message(7, "1 <2", parse_mode=ParseMode.HTML)
        # A user who blocks the bot sends my_chat_member(kicked): sends fail from then on.
        fake_api.push_update(
            fake_api.make_my_chat_member(
                chat_type="private", new_status="kicked", old_status="member", user_id=99
            )
        )
        with pytest.raises(Forbidden):
            await app.bot.send_message(99, "still there?")
    assert len(fake_api.rejections) == 1  # only the bad HTML


async def test_ptb_send_photo_and_download(fake_api: FakeBotApi) -> None:
    app = fake_api.application_builder().build()
    async with app:
        message = await app.bot.send_photo(
            5, photo=b"\x89PNG chart bytes", caption="<b>EV</b> sales", parse_mode="HTML"
        )
        assert message.caption == "EV sales"
        assert message.photo[-1].width == 800
        file = await app.bot.get_file(message.photo[-1].file_id)
        assert await file.download_as_bytearray() == bytearray(b"\x89PNG chart bytes")
    [record] = fake_api.sent("sendPhoto")
    assert record.files["photo"].data == b"\x89PNG chart bytes"
    fake_api.assert_no_rejections()


async def test_ptb_parses_every_update_builder(fake_api: FakeBotApi) -> None:
    received: list[Update] = []
    all_received = asyncio.Event()

    async def collect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        received.append(update)
        if len(received) == len(updates):
            all_received.set()

    fake_api.add_chat(-1005555, "supergroup", title="Topics", is_forum=True)
    updates = [
        fake_api.make_private_message("/price@marketbot_test_bot EV, ask @analyst_bot"),
        fake_api.make_group_message("hi", chat_id=-1005555, message_thread_id=3),
        fake_api.make_group_message("plain", chat_id=-4002, chat_type="group"),
        fake_api.make_callback_query("ev"),
        fake_api.make_inline_query("ev"),
        fake_api.make_edited_message("edited"),
        fake_api.make_sticker_message(),
        fake_api.make_photo_message("chart"),
        fake_api.make_channel_post("news"),
        fake_api.make_my_chat_member(),
        *fake_api.make_migration_updates(-4003, -1004003),
    ]
    app = fake_api.application_builder().build()
    app.add_handler(TypeHandler(Update, collect))
    async with running_bot(app, allowed_updates=Update.ALL_TYPES):
        fake_api.push_updates(updates)
        await asyncio.wait_for(all_received.wait(), 5)
    assert len(received) == len(updates)
    command, topic, group, press, inline, edited, sticker, photo, post, member, old, new = received
    assert command.message is not None
    assert [(e.type, command.message.parse_entity(e)) for e in command.message.entities] == [
        ("bot_command", "/price@marketbot_test_bot"),
        ("mention", "@analyst_bot"),
    ]
    assert topic.message is not None
    assert topic.message.is_topic_message and topic.message.message_thread_id == 3
    assert topic.effective_chat is not None and topic.effective_chat.is_forum
    assert group.effective_chat is not None and group.effective_chat.type == "group"
    assert press.callback_query is not None and press.callback_query.data == "ev"
    assert press.callback_query.message is not None
    assert inline.inline_query is not None and inline.inline_query.query == "ev"
    assert edited.edited_message is not None and edited.edited_message.edit_date is not None
    assert sticker.message is not None and sticker.message.sticker is not None
    assert photo.message is not None and photo.message.caption == "chart"
    assert post.channel_post is not None and post.channel_post.sender_chat is not None
    assert member.my_chat_member is not None
    assert member.my_chat_member.new_chat_member.status == "member"
    assert member.my_chat_member.new_chat_member.user.id == fake_api.bot_id
    assert old.message is not None and old.message.migrate_to_chat_id == -1004003
    assert new.message is not None and new.message.migrate_from_chat_id == -4003
    fake_api.assert_no_rejections()
