"""A fake Telegram Bot API server for end-to-end tests and benchmarks.

The bot under test is the real python-telegram-bot ``Application`` in polling mode, pointed at this
server on loopback::

    async with FakeBotApi() as api:
        app = api.application_builder().build()          # token, base_url, base_file_url set
        app.add_handler(...)
        async with running_bot(app):                     # initialize/start/start_polling ... stop
            api.push_update(api.make_private_message("/start"))
            [reply] = await api.wait_for("sendMessage")
            assert reply.params["text"] == "Hello"
        api.assert_no_rejections()

From a benchmark script (same event loop as the bot; call push_update from that loop only)::

    import asyncio, time
    from tests.fake_bot_api import FakeBotApi, running_bot

    async def main() -> None:
        async with FakeBotApi(enforce_limits=True) as api:
            app = build_my_app(api.application_builder())      # or ApplicationBuilder()...
            async with running_bot(app):
                t0 = time.monotonic()
                for i in range(500):
                    api.push_update(api.make_private_message(f"q{i}", user_id=1000 + i))
                replies = await api.wait_for("sendMessage", count=500, timeout=120)
            print(500 / (time.monotonic() - t0), "replies/s", api.stats())
            # per update: api.update_pushed_at[update_id], api.update_delivered_at[update_id],
            # and each reply's RecordedRequest.received_at / completed_at (time.monotonic()).

    asyncio.run(main())

What it does:

* ``/bot<token>/<method>`` for every method of the Bot API spec in ``api.json`` (GET or POST;
  query string, form-urlencoded, JSON or multipart bodies; method names case-insensitive).
* Rejects what Telegram rejects, with Telegram's status codes and descriptions: wrong token (401),
  unknown method (404), missing required parameters, parameters of the wrong type, objects that do
  not parse, text 1-4096 and captions 0-1024 characters after entity parsing, HTML that Telegram's
  parser refuses (a port of TDLib's ``parse_html``), ``callback_data`` of 1-64 bytes, inline query
  results, answerCallbackQuery text up to 200 characters, bot commands, chat actions, edits of
  unknown or unchanged messages, replies to unknown messages.  Every such rejection is kept in
  :attr:`FakeBotApi.rejections`; :meth:`FakeBotApi.assert_no_rejections` fails a test on any.
* Realistic results (Message dicts with increasing ``message_id``, photo sizes, ChatMember,
  ChatFullInfo, WebhookInfo, File and downloads under ``/file/bot<token>/<path>``).
* ``getUpdates`` with ``offset``, ``limit``, ``timeout`` (long poll woken at once by
  :meth:`FakeBotApi.push_update`) and ``allowed_updates``; a second concurrent ``getUpdates``
  terminates the first with 409 like Telegram does.
* Fault injection per chat (:meth:`~FakeBotApi.block`, :meth:`~FakeBotApi.migrate`,
  :meth:`~FakeBotApi.flood`, :meth:`~FakeBotApi.fail`, ``delay_seconds``) and, with
  ``enforce_limits=True``, Telegram's documented flood limits answered with 429.

Known differences from Telegram (deliberate, documented):

* ``strict_html_entities=True`` (default) refuses a bare ``&`` in HTML text that does not start
  ``&lt;``/``&gt;``/``&amp;``/``&quot;`` or a numeric reference.  Telegram itself keeps such an
  ``&`` literally; pass ``strict_html_entities=False`` for Telegram's exact behaviour.
* Type checks of top-level parameters are stricter than Telegram (which reads ``"abc"`` as 0 for
  an Integer); the descriptions of those errors are in Telegram's style but this server's words.
* Markdown/MarkdownV2 are not parsed; their length limits use a lower bound of the visible text,
  so they never reject a valid message.
* Unknown numeric chats are accepted (``strict_chats=False``): a positive id is a private chat, an
  id below -10**12 a supergroup, another negative id a basic group, unless registered with
  :meth:`FakeBotApi.add_chat` or seen in a pushed update.

The spec is the Bot API 10.1 copy vendored in ``tests/botapi/api.json`` (MIT; see the README
there), or the file named by the environment variable ``MARKETBOT_BOT_API_SPEC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import math
import os
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

if TYPE_CHECKING:
    from telegram.ext import Application, ApplicationBuilder

__all__ = [
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_GROUP_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "SPEC_ENV_VAR",
    "ApiError",
    "BotApiSpec",
    "EntityParseError",
    "FakeBotApi",
    "ReceivedFile",
    "RecordedRequest",
    "Rejection",
    "default_spec_path",
    "detect_entities",
    "parse_html",
    "running_bot",
    "utf16_len",
]

SPEC_ENV_VAR = "MARKETBOT_BOT_API_SPEC"
DEFAULT_TOKEN = "7000000001:AAFakeTokenForMarketbotTests_0123456789"
DEFAULT_USER_ID = 111_111_111
DEFAULT_GROUP_ID = -1_001_234_567_890
DEFAULT_CHANNEL_ID = -1_009_876_543_210

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_DATA_MAX_BYTES = 64
CALLBACK_ANSWER_MAX = 200
INLINE_RESULTS_MAX = 50
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types that are only delivered when asked for explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MESSAGE_UPDATE_KEYS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
)

_SCALARS = frozenset({"Integer", "Float", "Boolean", "True", "String", "InputFile"})
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"(?<![\w/<>])/[a-zA-Z0-9_]{1,64}(?:@[a-zA-Z0-9_]{3,32})?(?![\w/<>])")
_MENTION_RE = re.compile(r"(?<!\w)@[a-zA-Z0-9_]{2,32}(?!\w)")
_DISCRIMINATOR_RE = re.compile(r"(?:must be|always)\s+[\"“]?([A-Za-z0-9_]+)[\"”]?")


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


def default_spec_path() -> Path:
    """Where ``api.json`` is: ``$MARKETBOT_BOT_API_SPEC``, else the copy vendored in ``tests/botapi/``."""
    override = os.environ.get(SPEC_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent / "botapi" / "api.json"


class BotApiSpec:
    """The Bot API spec (methods and types with their fields) read from ``api.json``."""

    _cache: ClassVar[dict[Path, BotApiSpec]] = {}  # one per process and path

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("version", ""))
        self.methods: dict[str, dict[str, Any]] = dict(data["methods"])
        self.types: dict[str, dict[str, Any]] = dict(data["types"])
        self._by_lower = {name.lower(): name for name in self.methods}
        self._discriminators: dict[str, list[tuple[str, str, str]]] = {}
        for name, spec in self.types.items():
            for sub in spec.get("subtypes") or []:
                for fld in (self.types.get(sub) or {}).get("fields") or []:
                    if fld["name"] in ("type", "status", "source"):
                        match = _DISCRIMINATOR_RE.search(fld.get("description", ""))
                        if match:
                            self._discriminators.setdefault(name, []).append(
                                (sub, fld["name"], match.group(1))
                            )
                        break

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> BotApiSpec:
        """Read (once per process and path) the spec from ``path`` or :func:`default_spec_path`."""
        resolved = Path(path) if path is not None else default_spec_path()
        resolved = resolved.resolve()
        if resolved not in cls._cache:
            if not resolved.is_file():
                raise FileNotFoundError(
                    f"Bot API spec not found at {resolved}; set {SPEC_ENV_VAR} to api.json"
                )
            cls._cache[resolved] = cls(json.loads(resolved.read_text(encoding="utf-8")))
        return cls._cache[resolved]

    def method_name(self, name: str) -> str | None:
        """The canonical spelling of a method name (Telegram's lookup is case-insensitive)."""
        return self._by_lower.get(name.lower())

    def fields(self, name: str) -> list[dict[str, Any]]:
        """Fields of a method or a type (empty list if none)."""
        spec = self.methods.get(name) or self.types.get(name) or {}
        return list(spec.get("fields") or [])

    def returns(self, method: str) -> list[str]:
        return list(self.methods[method].get("returns") or [])

    def is_object_type(self, name: str) -> bool:
        return name in self.types

    def resolve_subtype(self, abstract: str, obj: Mapping[str, Any]) -> str | None:
        """The concrete subtype an object of an abstract type (InlineQueryResult, ...) is."""
        subtypes = self.types.get(abstract, {}).get("subtypes") or []
        if not subtypes:
            return abstract
        discs = self._discriminators.get(abstract)
        if discs:
            candidates = [sub for sub, fname, value in discs if obj.get(fname) == value]
        else:
            candidates = list(subtypes)

        def required_present(sub: str) -> int:
            req = [f["name"] for f in self.fields(sub) if f["required"]]
            return len(req) if all(obj.get(r) is not None for r in req) else -1

        if not candidates:
            return None
        if len(candidates) == 1 and discs:
            return candidates[0]
        best = max(candidates, key=required_present)
        return best if required_present(best) >= 0 or discs else None

    def default_object(self, type_name: str, _depth: int = 0, **overrides: Any) -> dict[str, Any]:
        """An object of ``type_name`` with every required field filled with a neutral value."""
        obj: dict[str, Any] = {}
        for fld in self.fields(type_name):
            if fld["required"] and fld["name"] not in overrides:
                obj[fld["name"]] = self._default_value(fld["types"][0], _depth + 1)
        obj.update(overrides)
        return obj

    def _default_value(self, type_name: str, depth: int) -> Any:
        simple: dict[str, Any] = {"Integer": 0, "Float": 0.0, "Boolean": False, "True": True}
        if type_name in simple:
            return simple[type_name]
        if type_name == "String":
            return ""
        if type_name.startswith("Array of "):
            return []
        if type_name in self.types and depth < 5:
            spec = self.types[type_name]
            if spec.get("subtypes"):
                return self.default_object(spec["subtypes"][0], depth)
            return self.default_object(type_name, depth)
        return None


# --------------------------------------------------------------------------------------------
# Text: UTF-16 lengths, TDLib's HTML parser, automatic entities
# --------------------------------------------------------------------------------------------


class EntityParseError(ValueError):
    """HTML that Telegram's parser refuses; the message is Telegram's (after "can't parse ...")."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of entity offsets)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SPACE = frozenset(b" \t\r\n\x00\x0b")
_NAMED_ENTITIES = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}


def _at(data: bytes, index: int) -> int:
    """The byte at ``index``, 0 past the end (TDLib reads a NUL-terminated string)."""
    return data[index] if index < len(data) else 0


def _is_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _decode_html_entity(data: bytes, pos: int) -> tuple[int, int]:
    """TDLib's decode_html_entity: (code point or 0, position after the reference)."""
    end = pos + 1
    code = 0
    if _at(data, pos + 1) == 0x23:  # '#'
        end += 1
        if _at(data, pos + 2) == 0x78:  # 'x'
            end += 1
            while chr(_at(data, end)) in "0123456789abcdefABCDEF" and _at(data, end):
                code = code * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while _is_digit(_at(data, end)):
                code = code * 10 + data[end] - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while _is_alpha(_at(data, end)):
            end += 1
        code = _NAMED_ENTITIES.get(data[pos + 1 : end], 0)
        if code == 0:
            return 0, pos
    if _at(data, end) == 0x3B:  # ';'
        end += 1
    return code, end


def _append_code_point(buffer: bytearray, code: int) -> None:
    buffer += chr(code).encode("utf-8", "surrogatepass")


def parse_html(text: str, *, strict_entities: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML like TDLib does; return the visible text and its entities.

    Raises :class:`EntityParseError` with Telegram's message ("Unclosed start tag at byte offset
    4", 'Unsupported start tag "" at byte offset 2', ...).  With ``strict_entities`` a bare ``&``
    in the text is refused too (Telegram keeps it literally).
    """
    data = text.encode("utf-8", "surrogatepass")
    result = bytearray()
    entities: list[dict[str, Any]] = []
    nested: list[tuple[str, str, int, int]] = []  # tag, argument, utf16 offset, result position
    utf16 = 0
    bad_surrogate = False
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x26:  # '&'
            code, new_pos = _decode_html_entity(data, i)
            if code:
                bad_surrogate |= 0xD800 <= code <= 0xDFFF
                _append_code_point(result, code)
                utf16 += 2 if code > 0xFFFF else 1
                i = new_pos
                continue
            if strict_entities:
                raise EntityParseError(
                    f'Character "&" at byte offset {i} is not part of an HTML entity and must be '
                    'escaped as "&amp;"'
                )
        if c != 0x3C:  # not '<'
            if (c & 0xC0) != 0x80:
                utf16 += 2 if c >= 0xF0 else 1
            result.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if _at(data, i) != 0x2F:  # a start tag
            while _at(data, i) not in _SPACE and _at(data, i) != 0x3E:
                i += 1
            if _at(data, i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while _at(data, i) != 0x3E:
                while _at(data, i) != 0 and _at(data, i) in _SPACE:
                    i += 1
                if _at(data, i) == 0x3E:
                    break
                attr_begin = i
                while _at(data, i) not in _SPACE and _at(data, i) not in (0x3D, 0x3E):
                    i += 1
                attribute = data[attr_begin:i].decode("utf-8", "replace")
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while _at(data, i) != 0 and _at(data, i) in _SPACE:
                    i += 1
                if _at(data, i) != 0x3D:  # no '='
                    if _at(data, i) == 0:
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attribute == "expandable":
                        argument = "1"
                        continue
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while _at(data, i) != 0 and _at(data, i) in _SPACE:
                    i += 1
                if _at(data, i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if _at(data, i) not in (0x22, 0x27):  # a name token
                    token_begin = i
                    while (
                        _is_alpha(_at(data, i))
                        or _is_digit(_at(data, i))
                        or _at(data, i) in (0x2E, 0x2D)
                    ):
                        i += 1
                    value = data[token_begin:i].decode("ascii").lower()
                    if _at(data, i) not in _SPACE and _at(data, i) != 0x3E:
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a string literal
                    quote = data[i]
                    i += 1
                    raw_value = bytearray()
                    while _at(data, i) != quote and _at(data, i) != 0:
                        if data[i] == 0x26:
                            code, new_pos = _decode_html_entity(data, i)
                            if code:
                                _append_code_point(raw_value, code)
                                i = new_pos
                                continue
                        raw_value.append(data[i])
                        i += 1
                    if _at(data, i) == quote:
                        i += 1
                    value = raw_value.decode("utf-8", "replace")
                if _at(data, i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attribute == "href":
                    argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attribute == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attribute == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            nested.append((tag, argument, utf16, len(result)))
            i += 1  # the '>'
            continue

        # an end tag
        if not nested:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while _at(data, i) not in _SPACE and _at(data, i) != 0x3E:
            i += 1
        end_tag = data[begin + 2 : i].decode("utf-8", "replace").lower()
        while _at(data, i) in _SPACE and _at(data, i) != 0:
            i += 1
        if _at(data, i) != 0x3E:
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, result_pos = nested[-1]
        if end_tag and end_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        if utf16 > offset:
            _add_html_entity(entities, tag, argument, offset, utf16 - offset, result[result_pos:])
        nested.pop()
        i += 1

    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1][0]}"')
    if bad_surrogate:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return result.decode("utf-8", "surrogatepass"), entities


def _add_html_entity(
    entities: list[dict[str, Any]],
    tag: str,
    argument: str,
    offset: int,
    length: int,
    inner: bytes | bytearray,
) -> None:
    simple = {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "tg-spoiler": "spoiler",
        "span": "spoiler",
    }
    last = entities[-1] if entities else None
    same_span = last is not None and last["offset"] == offset and last["length"] == length
    if tag in simple:
        entities.append({"type": simple[tag], "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not argument.isdigit() or not 0 < int(argument) < 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": argument,
            }
        )
    elif tag == "a":
        url = argument or bytes(inner).decode("utf-8", "replace")
        if url and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url):
            url = "http://" + url
        if url:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag == "pre":
        if last is not None and same_span and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        if last is not None and same_span and last["type"] == "pre" and argument:
            last["language"] = argument
        else:
            entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
            if argument:
                entity["language"] = argument
            entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})


def _markdown_visible(text: str, *, v2: bool) -> str:
    """A lower bound of the visible text of Markdown (never longer than the real one)."""
    visible = re.sub(r"\]\((?:[^()\\]|\\.)*\)", "]", text)
    specials = "*_~|`[]\\>" if v2 else "*_`[]"
    return "".join(ch for ch in visible if ch not in specials)


def _strip_formatted(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace like Telegram does, moving the entities with the text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    moved: list[dict[str, Any]] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - lead)
        end = min(size, int(entity["offset"]) + int(entity["length"]) - lead)
        if end > start:
            moved.append({**entity, "offset": start, "length": end - start})
    return stripped, moved


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` and ``mention`` entities Telegram adds to an incoming text."""
    found: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _BOT_COMMAND_RE), ("mention", _MENTION_RE)):
        for match in pattern.finditer(text):
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group(0)),
                }
            )
    found.sort(key=lambda e: e["offset"])
    return found


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(
        self,
        code: int,
        description: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        rejection: bool = True,
        limit: bool = False,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = dict(parameters) if parameters else None
        # True for requests a real server refuses as wrong; False for injected or limit errors.
        self.rejection = rejection
        # True for a 429 given by enforce_limits.
        self.limit = limit

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class ReceivedFile:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RecordedRequest:
    """One request the server received, with its answer once it is given."""

    method: str
    params: dict[str, Any]
    raw: dict[str, Any]
    files: dict[str, ReceivedFile]
    received_at: float  # time.monotonic()
    timestamp: float  # time.time()
    http_method: str = "POST"
    content_type: str = ""
    status: int | None = None
    response: dict[str, Any] | None = None
    completed_at: float | None = None

    @property
    def completed(self) -> bool:
        return self.response is not None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result") if self.response else None

    @property
    def description(self) -> str | None:
        return self.response.get("description") if self.response else None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        value = self.params.get("text")
        return None if value is None else str(value)

    @property
    def latency(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.received_at


@dataclass
class Rejection:
    """A request refused as invalid (what a real server would refuse too)."""

    method: str
    status: int
    description: str
    params: dict[str, Any]
    request: RecordedRequest = field(repr=False)

    def __str__(self) -> str:
        shown = {
            k: (v if not isinstance(v, str) or len(v) < 80 else v[:77] + "...")
            for k, v in self.params.items()
        }
        return f"{self.method} -> {self.status} {self.description!r} params={shown}"


@dataclass
class _Fault:
    chat: int | str | None
    remaining: int
    code: int
    description: str
    parameters: dict[str, Any] | None = None
    methods: frozenset[str] | None = None

    def matches(self, chat: int | str | None, method: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.chat is not None and chat != self.chat:
            return False
        if self.methods is None:
            return _is_message_send(method) or method.startswith("edit")
        return method in self.methods


class _Signal:
    """Wake-up for waiters: ``notify()`` is synchronous, waiters re-check a predicate."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True


def _is_targeted(method: str) -> bool:
    """Methods (lower-case) that act on a chat's messages and so meet a chat's faults."""
    return method.startswith(("send", "copy", "forward", "edit")) or method in (
        "deletemessage",
        "deletemessages",
        "pinchatmessage",
    )


def _is_message_send(method: str) -> bool:
    """Methods (lower-case) that post a new message: what flood limits count."""
    if method == "sendchataction":
        return False
    return method.startswith(("send", "copy", "forward"))


def _chat_key(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if _INT_RE.fullmatch(text) else text


def _now() -> int:
    return int(time.time())


# Messages sent with these methods carry this content object (type from the spec).
_MEDIA_CONTENT = {
    "senddocument": ("document", "Document", "document"),
    "sendaudio": ("audio", "Audio", "audio"),
    "sendvideo": ("video", "Video", "video"),
    "sendanimation": ("animation", "Animation", "animation"),
    "sendvoice": ("voice", "Voice", "voice"),
    "sendvideonote": ("video_note", "VideoNote", "video_note"),
    "sendsticker": ("sticker", "Sticker", "sticker"),
    "sendlocation": ("location", "Location", None),
    "sendvenue": ("venue", "Venue", None),
    "sendcontact": ("contact", "Contact", None),
    "senddice": ("dice", "Dice", None),
    "sendpoll": ("poll", "Poll", None),
}


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeBotApi:
    """A fake Telegram Bot API server on loopback (aiohttp, in the running event loop).

    Use ``async with FakeBotApi() as api:`` or ``await api.start()`` / ``await api.stop()``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "marketbot_test_bot",
        first_name: str = "MarketBot Test",
        host: str = "127.0.0.1",
        port: int = 0,
        spec_path: str | os.PathLike[str] | None = None,
        enforce_limits: bool = False,
        delay_seconds: float = 0.0,
        strict_html_entities: bool = True,
        strict_messages: bool = True,
        strict_chats: bool = False,
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = False,
        supports_inline_queries: bool = True,
        global_rate_per_second: int = 30,
        group_rate_per_minute: int = 20,
        private_rate_per_second: float = 1.0,
        private_burst: int = 5,
        webhook_info: Mapping[str, Any] | None = None,
        count_refused_sends: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"FakeBotApi listens on loopback only, not {host!r}")
        bot_id, sep, _secret = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token = token
        self.bot_id = int(bot_id)
        self.username = username
        self.first_name = first_name
        self.host = host
        self.spec = BotApiSpec.load(spec_path)
        self.enforce_limits = enforce_limits
        self.delay_seconds = delay_seconds
        self.strict_html_entities = strict_html_entities
        self.strict_messages = strict_messages
        self.strict_chats = strict_chats
        self.can_join_groups = can_join_groups
        self.can_read_all_group_messages = can_read_all_group_messages
        self.supports_inline_queries = supports_inline_queries
        self.global_rate_per_second = global_rate_per_second
        self.group_rate_per_minute = group_rate_per_minute
        self.private_rate_per_second = private_rate_per_second
        self.private_burst = private_burst
        # Whether sends refused by a fault (blocked chat, migration) count against the limits:
        # Telegram does not say, so benchmarks measure both.
        self.count_refused_sends = count_refused_sends
        self.webhook_info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if webhook_info:
            self.webhook_info.update(webhook_info)

        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False

        # records
        self.requests: list[RecordedRequest] = []
        self.rejections: list[Rejection] = []
        self.rate_limited: list[RecordedRequest] = []
        self.too_many_requests = 0
        self.dropped_updates: list[dict[str, Any]] = []
        self.update_pushed_at: dict[int, float] = {}
        self.update_delivered_at: dict[int, float] = {}
        self.downloads: list[str] = []  # file_path of every file served under /file/bot<token>/
        self._completed: list[RecordedRequest] = []
        self._records_signal = _Signal()

        # updates
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(100_000_001)
        self._updates_signal = _Signal()
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0

        # world
        self._message_ids = itertools.count(1001)
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._members: dict[tuple[int, int], dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._files: dict[str, tuple[str, bytes, dict[str, Any]]] = {}
        self._file_paths: dict[str, str] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}

        # faults and limits
        self._blocked: dict[int | str, str] = {}
        self._migrated: dict[int | str, int] = {}
        self._floods: list[_Fault] = []
        self._failures: list[_Fault] = []
        self._global_window: deque[float] = deque()
        self._group_windows: dict[int | str, deque[float]] = {}
        self._private_buckets: dict[int | str, tuple[float, float]] = {}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> FakeBotApi:
        """Start listening (on a free port unless one was given); returns ``self``."""
        if self._runner is not None:
            return self
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Answer pending long polls, close every connection and free the port."""
        if self._runner is None:
            return
        self._closing = True
        self._updates_signal.notify()
        self._records_signal.notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends the token."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/file/bot"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/bot<token>`` - append ``/<method>`` for raw requests."""
        return f"{self.base_url}{self.token}"

    def application_builder(self) -> ApplicationBuilder:
        """A PTB ``ApplicationBuilder`` with token, base_url and base_file_url set."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # ---------------------------------------------------------------- world set-up

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a User (as in ``from`` of its messages)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def add_user(
        self,
        user_id: int,
        first_name: str = "Alice",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
        is_premium: bool | None = None,
    ) -> dict[str, Any]:
        """Register a user and return it as a Bot API User dict."""
        user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        if is_premium is not None:
            user["is_premium"] = is_premium
        self._users[user_id] = user
        return dict(user)

    def make_user(
        self, user_id: int = DEFAULT_USER_ID, first_name: str = "Alice", **kwargs: Any
    ) -> dict[str, Any]:
        """Alias of :meth:`add_user` for symmetry with the other builders."""
        return self.add_user(user_id, first_name, **kwargs)

    def user(self, user_id: int) -> dict[str, Any]:
        """The registered user, or a plausible one."""
        found = self._users.get(user_id)
        if found is not None:
            return dict(found)
        if user_id == self.bot_id:
            return self.bot_user
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        is_forum: bool | None = None,
    ) -> dict[str, Any]:
        """Register a chat (type private/group/supergroup/channel) and return its Chat dict."""
        chat = self._default_chat(chat_id) if type is None else {"id": chat_id, "type": type}
        if chat["type"] == "private":
            user = self._users.get(chat_id, {})
            chat.setdefault("first_name", first_name or user.get("first_name", f"User{chat_id}"))
            if last_name or user.get("last_name"):
                chat["last_name"] = last_name or user.get("last_name")
            if username or user.get("username"):
                chat["username"] = username or user.get("username")
        else:
            chat["title"] = title or chat.get("title") or f"{chat['type'].title()} {chat_id}"
            if username:
                chat["username"] = username
            if is_forum:
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return dict(chat)

    def chat(self, chat_id: int | str) -> dict[str, Any]:
        """The Chat dict of a registered chat, or the default for an unknown id."""
        resolved = self._resolve_chat_id(chat_id)
        if resolved not in self._chats:
            self._chats[resolved] = self._default_chat(resolved)
        return dict(self._chats[resolved])

    def set_chat_member(
        self, chat_id: int, user_id: int, status: str = "member", **fields: Any
    ) -> dict[str, Any]:
        """Configure what getChatMember answers for (chat, user): creator/administrator/..."""
        member = self._chat_member(self.user(user_id), status, **fields)
        self._members[(chat_id, user_id)] = member
        return copy.deepcopy(member)

    def add_file(
        self, data: bytes, *, file_id: str | None = None, file_path: str | None = None
    ) -> dict[str, Any]:
        """Register downloadable bytes; returns the File dict (getFile answers the same)."""
        file_id = file_id or self._new_file_id("BQAC")
        unique = "AgAD" + secrets.token_hex(6)
        path = file_path or f"documents/file_{len(self._files)}"
        info = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_size": len(data),
            "file_path": path,
        }
        self._files[file_id] = (path, data, info)
        self._file_paths[path] = file_id
        return dict(info)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a message (sent by the bot or pushed in an update)."""
        found = self._messages.get((chat_id, message_id))
        return copy.deepcopy(found) if found else None

    # ---------------------------------------------------------------- faults

    def block(self, chat_id: int | str, description: str | None = None) -> None:
        """Sends to the chat answer 403 (private: "Forbidden: bot was blocked by the user")."""
        key = _chat_key(chat_id)
        assert key is not None
        if description is None:
            kind = self.chat(key).get("type") if isinstance(key, int) else "private"
            description = {
                "group": "Forbidden: bot was kicked from the group chat",
                "supergroup": "Forbidden: bot was kicked from the supergroup chat",
                "channel": "Forbidden: bot is not a member of the channel chat",
            }.get(str(kind), "Forbidden: bot was blocked by the user")
        self._blocked[key] = description

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.pop(_chat_key(chat_id) or 0, None)

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: sends to it answer 400 with migrate_to_chat_id."""
        self._migrated[chat_id] = new_chat_id
        old = self._chats.get(chat_id) or {}
        if new_chat_id not in self._chats:
            self.add_chat(new_chat_id, "supergroup", title=old.get("title"))

    def flood(
        self,
        chat_id: int | str | None = None,
        *,
        times: int = 1,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
    ) -> None:
        """The next ``times`` sends to the chat (any chat if None) answer 429 retry_after."""
        self._floods.append(
            _Fault(
                chat=_chat_key(chat_id),
                remaining=times,
                code=429,
                description=f"Too Many Requests: retry after {retry_after}",
                parameters={"retry_after": retry_after},
                methods=frozenset(m.lower() for m in methods) if methods else None,
            )
        )

    def fail(
        self,
        chat_id: int | str | None = None,
        times: int = 1,
        code: int = 500,
        *,
        description: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """The next ``times`` sends to the chat (any chat if None) fail with ``code``."""
        phrases = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
            420: "Flood",
            409: "Conflict",
        }
        self._failures.append(
            _Fault(
                chat=_chat_key(chat_id),
                remaining=times,
                code=code,
                description=description or phrases.get(code, f"Error {code}"),
                methods=frozenset(m.lower() for m in methods) if methods else None,
            )
        )

    def clear_faults(self) -> None:
        self._blocked.clear()
        self._migrated.clear()
        self._floods.clear()
        self._failures.clear()

    # ---------------------------------------------------------------- updates

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (update_id assigned if absent); wakes long polls."""
        pushed = copy.deepcopy(dict(update))
        if "update_id" not in pushed:
            pushed["update_id"] = next(self._update_ids)
        self._register_update(pushed)
        self._updates.append(pushed)
        self.update_pushed_at[pushed["update_id"]] = time.monotonic()
        self._updates_signal.notify()
        return copy.deepcopy(pushed)

    def push_updates(self, updates: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [self.push_update(update) for update in updates]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an offset."""
        return copy.deepcopy(list(self._updates))

    # ---------------------------------------------------------------- update builders

    def _next_message_id(self) -> int:
        return next(self._message_ids)

    def _private_chat_for(self, user: Mapping[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": user["id"],
            "type": "private",
            "first_name": user.get("first_name", ""),
        }
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    def _base_message(
        self,
        chat: Mapping[str, Any],
        sender: Mapping[str, Any] | None,
        *,
        message_id: int | None,
        date: int | None,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {"message_id": message_id or self._next_message_id()}
        if sender is not None:
            msg["from"] = dict(sender)
        msg["chat"] = dict(chat)
        msg["date"] = date if date is not None else _now()
        return msg

    @staticmethod
    def _with_text(msg: dict[str, Any], text: str, entities: list[dict[str, Any]] | None) -> None:
        msg["text"] = text
        found = detect_entities(text) if entities is None else entities
        if found:
            msg["entities"] = found

    def make_private_message(
        self,
        text: str,
        *,
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        message_id: int | None = None,
        date: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An update with a text message from a user in the private chat with the bot.

        ``entities`` default to the bot_command/mention entities Telegram would add.
        """
        sender = dict(user) if user else self.user(user_id)
        msg = self._base_message(
            self._private_chat_for(sender), sender, message_id=message_id, date=date
        )
        self._with_text(msg, text, entities)
        if reply_to_message is not None:
            msg["reply_to_message"] = _shallow_message(reply_to_message)
        return {"message": msg}

    def make_group_message(
        self,
        text: str,
        *,
        chat_id: int = DEFAULT_GROUP_ID,
        chat_type: str = "supergroup",
        title: str = "Market Chat",
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        message_thread_id: int | None = None,
        is_forum: bool | None = None,
        message_id: int | None = None,
        date: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An update with a text message in a group/supergroup (optionally in a forum topic).

        With ``message_thread_id`` the message is a topic message (``is_topic_message``) and,
        like on Telegram, ``reply_to_message`` defaults to the topic's creation message.
        """
        sender = dict(user) if user else self.user(user_id)
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": title}
        known = self._chats.get(chat_id, {})
        if known.get("username"):
            chat["username"] = known["username"]
        forum = (
            is_forum
            if is_forum is not None
            else (message_thread_id is not None or bool(known.get("is_forum")))
        )
        if forum and chat_type == "supergroup":
            chat["is_forum"] = True
        msg = self._base_message(chat, sender, message_id=message_id, date=date)
        if message_thread_id is not None:
            msg["message_thread_id"] = message_thread_id
            msg["is_topic_message"] = True
            if reply_to_message is None:
                reply_to_message = {
                    "message_id": message_thread_id,
                    "from": sender,
                    "chat": chat,
                    "date": msg["date"] - 3600,
                    "message_thread_id": message_thread_id,
                    "is_topic_message": True,
                    "forum_topic_created": {"name": "Markets", "icon_color": 7322096},
                }
        self._with_text(msg, text, entities)
        if reply_to_message is not None:
            msg["reply_to_message"] = _shallow_message(reply_to_message)
        return {"message": msg}

    def make_edited_message(
        self,
        text: str,
        *,
        message: Mapping[str, Any] | None = None,
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
        message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """An ``edited_message`` update (of ``message`` if given) with its new text."""
        if message is not None:
            msg = copy.deepcopy(dict(message))
            msg.pop("entities", None)
        else:
            sender = dict(user) if user else self.user(user_id)
            chat = self.chat(chat_id) if chat_id is not None else self._private_chat_for(sender)
            msg = self._base_message(chat, sender, message_id=message_id, date=_now() - 60)
        self._with_text(msg, text, entities)
        msg["edit_date"] = max(_now(), int(msg["date"]) + 1)
        return {"edited_message": msg}

    def make_sticker_message(
        self,
        *,
        emoji: str = "👍",
        set_name: str = "MarketStickers",
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """An update with a sticker message (private chat unless ``chat_id``)."""
        sender = dict(user) if user else self.user(user_id)
        chat = self.chat(chat_id) if chat_id is not None else self._private_chat_for(sender)
        msg = self._base_message(chat, sender, message_id=None, date=None)
        file_id = self._new_file_id("CAAC")
        msg["sticker"] = {
            "file_id": file_id,
            "file_unique_id": "AgAD" + secrets.token_hex(6),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": set_name,
            "file_size": 23456,
        }
        return {"message": msg}

    def make_photo_message(
        self,
        caption: str | None = None,
        *,
        data: bytes = b"\x89PNG\r\n\x1a\n fake photo",
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """An update with a photo (downloadable through getFile) and an optional caption."""
        sender = dict(user) if user else self.user(user_id)
        chat = self.chat(chat_id) if chat_id is not None else self._private_chat_for(sender)
        msg = self._base_message(chat, sender, message_id=None, date=None)
        msg["photo"] = self._photo_sizes(data)
        if caption:
            msg["caption"] = caption
            found = detect_entities(caption)
            if found:
                msg["caption_entities"] = found
        return {"message": msg}

    def make_document_message(
        self,
        data: bytes,
        file_name: str,
        *,
        mime_type: str = "text/csv",
        caption: str | None = None,
        file_size: int | None = None,
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """An update with a document the bot can fetch with getFile and download.

        ``file_size`` overrides the size the message announces (a "40 MB" file without 40 MB
        of bytes); every download is listed in :attr:`downloads`.
        """
        sender = dict(user) if user else self.user(user_id)
        chat = self.chat(chat_id) if chat_id is not None else self._private_chat_for(sender)
        msg = self._base_message(chat, sender, message_id=None, date=None)
        suffix = Path(file_name).suffix
        info = self._store_upload(data, "documents", suffix)
        msg["document"] = {
            "file_id": info["file_id"],
            "file_unique_id": info["file_unique_id"],
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data) if file_size is None else file_size,
        }
        if caption:
            msg["caption"] = caption
        return {"message": msg}

    def make_callback_query(
        self,
        data: str,
        *,
        message: Mapping[str, Any] | None = None,
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
        message_text: str = "Choose:",
        reply_markup: Mapping[str, Any] | None = None,
        inline_message_id: str | None = None,
    ) -> dict[str, Any]:
        """A callback_query update: a press of a button with ``data``.

        ``message`` is the bot's message the keyboard is attached to (e.g. ``record.result`` of a
        sendMessage); by default a bot message with one button carrying ``data`` is made.
        """
        sender = dict(user) if user else self.user(user_id)
        query: dict[str, Any] = {
            "id": str(secrets.randbits(62)),
            "from": sender,
            "chat_instance": str(-secrets.randbits(62)),
            "data": data,
        }
        if inline_message_id is not None:
            query["inline_message_id"] = inline_message_id
            return {"callback_query": query}
        if message is None:
            chat = self.chat(chat_id) if chat_id is not None else self._private_chat_for(sender)
            bot_message = self._base_message(chat, self.bot_user, message_id=None, date=_now() - 60)
            bot_message["text"] = message_text
            bot_message["reply_markup"] = dict(
                reply_markup or {"inline_keyboard": [[{"text": data, "callback_data": data}]]}
            )
            message = bot_message
        query["message"] = copy.deepcopy(dict(message))
        return {"callback_query": query}

    def make_inline_query(
        self,
        query: str,
        *,
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
        offset: str = "",
        chat_type: str | None = "sender",
    ) -> dict[str, Any]:
        """An inline_query update (``@bot query`` typed in a chat)."""
        sender = dict(user) if user else self.user(user_id)
        inline: dict[str, Any] = {
            "id": str(secrets.randbits(62)),
            "from": sender,
            "query": query,
            "offset": offset,
        }
        if chat_type:
            inline["chat_type"] = chat_type
        return {"inline_query": inline}

    def make_channel_post(
        self,
        text: str,
        *,
        chat_id: int = DEFAULT_CHANNEL_ID,
        title: str = "Market Channel",
        username: str | None = "market_channel",
        author_signature: str | None = None,
    ) -> dict[str, Any]:
        """A channel_post update (no ``from``; ``sender_chat`` is the channel)."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        msg = self._base_message(chat, None, message_id=None, date=None)
        msg["sender_chat"] = dict(chat)
        if author_signature:
            msg["author_signature"] = author_signature
        self._with_text(msg, text, None)
        return {"channel_post": msg}

    def make_my_chat_member(
        self,
        chat_id: int = DEFAULT_GROUP_ID,
        *,
        chat_type: str = "supergroup",
        title: str = "Market Chat",
        new_status: str = "member",
        old_status: str = "left",
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
    ) -> dict[str, Any]:
        """A my_chat_member update: the bot's status changed (default: added to a group).

        In a private chat ``new_status="kicked"`` means the user blocked the bot; pushing such an
        update makes later sends to the chat answer 403, as on Telegram.
        """
        sender = dict(user) if user else self.user(user_id)
        if chat_type == "private":
            chat = self._private_chat_for(sender)
        else:
            chat = {"id": chat_id, "type": chat_type, "title": title}
        return {
            "my_chat_member": {
                "chat": chat,
                "from": sender,
                "date": _now(),
                "old_chat_member": self._chat_member(self.bot_user, old_status),
                "new_chat_member": self._chat_member(self.bot_user, new_status),
            }
        }

    def make_migration_updates(
        self,
        old_chat_id: int,
        new_chat_id: int,
        *,
        title: str = "Market Chat",
        user: Mapping[str, Any] | None = None,
        user_id: int = DEFAULT_USER_ID,
    ) -> list[dict[str, Any]]:
        """The two service messages of a group upgraded to a supergroup.

        The first (in the old group) has ``migrate_to_chat_id``, the second (in the supergroup)
        ``migrate_from_chat_id``.  Pushing them makes sends to the old id answer 400 with
        ``migrate_to_chat_id``, as on Telegram.
        """
        sender = dict(user) if user else self.user(user_id)
        old = {"id": old_chat_id, "type": "group", "title": title}
        new = {"id": new_chat_id, "type": "supergroup", "title": title}
        first = self._base_message(old, sender, message_id=None, date=None)
        first["migrate_to_chat_id"] = new_chat_id
        second = self._base_message(new, sender, message_id=None, date=None)
        second["migrate_from_chat_id"] = old_chat_id
        return [{"message": first}, {"message": second}]

    # ---------------------------------------------------------------- records

    def sent(
        self,
        method: str | None = None,
        chat_id: int | str | None = None,
        *,
        ok: bool | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests, oldest first, filtered by method (case-insensitive), chat, success.

        Without ``method`` every request except the getUpdates polls is listed.
        """
        wanted = method.lower() if method else None
        key = _chat_key(chat_id)
        out: list[RecordedRequest] = []
        for record in self.requests:
            name = record.method.lower()
            if wanted is None and name == "getupdates":
                continue
            if wanted is not None and name != wanted:
                continue
            if key is not None and _chat_key(record.params.get("chat_id")) != key:
                continue
            if ok is not None and record.ok != ok:
                continue
            out.append(record)
        return out

    async def wait_for(
        self,
        predicate_or_method: str | Callable[[RecordedRequest], bool],
        count: int = 1,
        timeout: float = 5.0,
        *,
        chat_id: int | str | None = None,
        since: float | None = None,
    ) -> list[RecordedRequest]:
        """Wait until ``count`` matching requests were answered; return all matching so far.

        ``predicate_or_method`` is a method name (case-insensitive) or a predicate on
        :class:`RecordedRequest`.  Requests answered before the call count too, unless
        ``since`` (a ``time.monotonic()`` value) excludes those received earlier.
        Raises ``TimeoutError`` listing what did arrive.
        """
        key = _chat_key(chat_id)
        if isinstance(predicate_or_method, str):
            wanted = predicate_or_method.lower()

            def matches(record: RecordedRequest) -> bool:
                return record.method.lower() == wanted

            label = predicate_or_method
        else:
            matches = predicate_or_method
            label = getattr(predicate_or_method, "__name__", "predicate")

        found: list[RecordedRequest] = []
        index = 0

        def enough() -> bool:
            nonlocal index
            while index < len(self._completed):
                record = self._completed[index]
                index += 1
                if key is not None and _chat_key(record.params.get("chat_id")) != key:
                    continue
                if since is not None and record.received_at < since:
                    continue
                if matches(record):
                    found.append(record)
            return len(found) >= count

        if not await self._records_signal.wait_until(enough, timeout):
            seen = [
                f"{r.method}({_summary(r.params)}) -> {r.status}"
                for r in self.requests[-15:]
                if r.method.lower() != "getupdates"
            ]
            raise TimeoutError(
                f"waited {timeout}s for {count} x {label}"
                f"{'' if key is None else f' to chat {key}'}, got {len(found)}; "
                f"last requests: {seen}"
            )
        return list(found)

    def assert_no_rejections(self) -> None:
        """Fail if any request was refused as invalid (400/401/404 rejections)."""
        if self.rejections:
            lines = "\n  ".join(str(r) for r in self.rejections)
            raise AssertionError(
                f"the fake Bot API rejected {len(self.rejections)} request(s):\n  {lines}"
            )

    def assert_no_rate_limit_hits(self) -> None:
        """Fail if ``enforce_limits`` answered any request with 429."""
        if self.rate_limited:
            lines = "\n  ".join(
                f"{r.method}(chat_id={r.params.get('chat_id')}) -> {r.description}"
                for r in self.rate_limited
            )
            raise AssertionError(
                f"{len(self.rate_limited)} request(s) hit a rate limit:\n  {lines}"
            )

    def clear_records(self) -> None:
        """Forget recorded requests, rejections and 429 counts (not the chats or faults)."""
        self.requests.clear()
        self._completed.clear()
        self.rejections.clear()
        self.rate_limited.clear()
        self.too_many_requests = 0

    def stats(self) -> dict[str, Any]:
        """Counts for benchmarks: requests per method, rejections, 429s, pending updates."""
        latencies = sorted(
            r.latency for r in self._completed if r.latency is not None and r.method != "getUpdates"
        )
        return {
            "requests": len(self.requests),
            "by_method": dict(Counter(r.method for r in self.requests)),
            "rejections": len(self.rejections),
            "too_many_requests": self.too_many_requests,
            "rate_limited": len(self.rate_limited),
            "pending_updates": len(self._updates),
            "server_latency_p50": latencies[len(latencies) // 2] if latencies else None,
            "server_latency_max": latencies[-1] if latencies else None,
        }

    # ---------------------------------------------------------------- HTTP handlers

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        file_id = self._file_paths.get(path)
        if request.match_info["token"] != self.token or file_id is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.downloads.append(path)
        return web.Response(body=self._files[file_id][1], content_type="application/octet-stream")

    async def _handle_api(self, request: web.Request) -> web.Response:
        given_method = request.match_info["method"]
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, ReceivedFile] = {}
        body_error: ApiError | None = None
        try:
            await self._read_body(request, raw, files)
        except ApiError as exc:
            body_error = exc
        record = RecordedRequest(
            method=self.spec.method_name(given_method) or given_method,
            params=dict(raw),
            raw=dict(raw),
            files=files,
            received_at=time.monotonic(),
            timestamp=time.time(),
            http_method=request.method,
            content_type=request.content_type,
        )
        self.requests.append(record)
        try:
            payload, status = await self._process(request, record, files, body_error)
        except asyncio.CancelledError:
            record.status = None
            raise
        record.status = status
        record.response = payload
        record.completed_at = time.monotonic()
        self._completed.append(record)
        self._records_signal.notify()
        return web.json_response(payload, status=status)

    async def _read_body(
        self, request: web.Request, raw: dict[str, Any], files: dict[str, ReceivedFile]
    ) -> None:
        if not request.body_exists:
            return
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.read()
            if not body.strip():
                return
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise _bad("can't parse JSON object") from exc
            if not isinstance(data, dict):
                raise _bad("JSON object expected as request body")
            raw.update(data)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files[name] = ReceivedFile(
                        field=name,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                else:
                    raw[name] = value if isinstance(value, str) else bytes(value).decode()
        else:
            await request.read()

    async def _process(
        self,
        request: web.Request,
        record: RecordedRequest,
        files: dict[str, ReceivedFile],
        body_error: ApiError | None,
    ) -> tuple[dict[str, Any], int]:
        method = self.spec.method_name(request.match_info["method"])
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found")
            if body_error is not None:
                raise body_error
            params, error = self._coerce_params(method, record.raw, files)
            record.params = params
            if error is not None:
                raise error
            if self.delay_seconds > 0 and method != "getUpdates":
                await asyncio.sleep(self.delay_seconds)
            self._check_semantics(method, params)
            if self.count_refused_sends:  # a refused send (403 blocked) still uses the limit
                self._enforce_limits(method.lower(), params)
                self._apply_faults(method.lower(), params)
            else:
                self._apply_faults(method.lower(), params)
                self._enforce_limits(method.lower(), params)
            result = await self._dispatch(method, params, files)
        except ApiError as exc:
            if exc.code == 429:
                self.too_many_requests += 1
            if exc.rejection:
                self.rejections.append(
                    Rejection(
                        method=method or request.match_info["method"],
                        status=exc.code,
                        description=exc.description,
                        params=record.params,
                        request=record,
                    )
                )
            elif exc.limit:
                self.rate_limited.append(record)
            return exc.payload(), exc.code
        return {"ok": True, "result": result}, 200

    # ---------------------------------------------------------------- validation

    def _coerce_params(
        self, method: str, raw: Mapping[str, Any], files: Mapping[str, ReceivedFile]
    ) -> tuple[dict[str, Any], ApiError | None]:
        """Parameters converted to their spec types, and the first error (if any)."""
        params: dict[str, Any] = {}
        error: ApiError | None = None
        known: set[str] = set()
        for fld in self.spec.fields(method):
            name = fld["name"]
            known.add(name)
            value = raw.get(name)
            if value is None and name in files:
                value = files[name]
            if (
                isinstance(value, str)
                and value.startswith("attach://")
                and value[len("attach://") :] in files
                and "InputFile" in fld["types"]
            ):
                value = files[value[len("attach://") :]]
            if value is None or (isinstance(value, str) and value == ""):
                if value == "":
                    params[name] = ""
                if fld["required"] and error is None:
                    error = self._missing(method, name, fld["types"])
                continue
            try:
                params[name] = self._coerce_top(name, value, fld["types"])
            except ApiError as exc:
                params[name] = _json_or_raw(value)
                error = error or exc
        for name, value in raw.items():
            if name not in known:
                params[name] = value
        return params, error

    @staticmethod
    def _missing(method: str, name: str, types: Sequence[str]) -> ApiError:
        lowered = method.lower()
        if name == "chat_id":
            return _bad("chat_id is empty")
        if name == "text" and lowered in ("sendmessage", "editmessagetext"):
            return _bad("message text is empty")
        if name == "user_id":
            return _bad("invalid user_id specified")
        if "InputFile" in types:
            return _bad(f"there is no {name.replace('_', ' ')} in the request")
        return _bad(f'parameter "{name}" is required')

    def _coerce_top(self, name: str, value: Any, types: Sequence[str]) -> Any:
        json_failed = False
        for type_name in types:
            if type_name not in _SCALARS and (
                type_name.startswith("Array of ") or self.spec.is_object_type(type_name)
            ):
                decoded = value
                if isinstance(value, str):
                    try:
                        decoded = json.loads(value)
                    except ValueError:
                        json_failed = True
                        continue
                ok, converted = self._nested_ok(type_name, decoded, name, choose=types)
                if ok:
                    return converted
                continue
            ok, converted = _scalar(type_name, value, top=True)
            if ok:
                return converted
        if json_failed:
            label = {
                "reply_markup": "reply keyboard markup",
                "entities": "entities",
                "caption_entities": "entities",
                "results": "inline query results",
            }.get(name, name.replace("_", " "))
            raise _bad(f"can't parse {label} JSON object")
        raise _bad(f'parameter "{name}" must be of type {" or ".join(types)}')

    def _nested_ok(
        self, type_name: str, value: Any, where: str, *, choose: Sequence[str] = ()
    ) -> tuple[bool, Any]:
        """Check a JSON value against a spec type; raise ApiError on errors inside objects."""
        if type_name.startswith("Array of "):
            inner = type_name[len("Array of ") :]
            if not isinstance(value, list):
                return False, value
            for item in value:
                ok, _ = self._nested_ok(inner, item, where)
                if not ok:
                    raise _bad(f"can't parse {where}: an element must be of type {inner}")
            return True, value
        if type_name not in _SCALARS and self.spec.is_object_type(type_name):
            if type_name == "KeyboardButton" and isinstance(value, str):
                return True, value
            if not isinstance(value, dict):
                return False, value
            objects = [t for t in choose if self.spec.is_object_type(t)]
            if len(objects) > 1:
                type_name = self._best_type(objects, value)
            self._check_object(type_name, value)
            return True, value
        return _scalar(type_name, value, top=False)

    def _best_type(self, candidates: Sequence[str], obj: Mapping[str, Any]) -> str:
        def score(name: str) -> tuple[int, int]:
            fields = self.spec.fields(name)
            required = [f["name"] for f in fields if f["required"]]
            has_required = all(obj.get(r) is not None for r in required)
            present = sum(1 for f in fields if f["name"] in obj)
            return (1 if has_required and present else 0, present)

        return max(candidates, key=score)

    def _check_object(self, type_name: str, obj: Mapping[str, Any]) -> None:
        spec = self.spec.types.get(type_name)
        if spec is None:
            return
        if spec.get("subtypes"):
            concrete = self.spec.resolve_subtype(type_name, obj)
            if concrete is None or concrete == type_name:
                return
            type_name = concrete
        label = {
            "InlineKeyboardButton": "inline keyboard button",
            "KeyboardButton": "keyboard button",
        }.get(type_name, type_name)
        for fld in self.spec.fields(type_name):
            name = fld["name"]
            value = obj.get(name)
            if value is None:
                if fld["required"]:
                    raise _bad(f"can't parse {label}: Can't find field \"{name}\"")
                continue
            types = fld["types"]
            if not any(self._nested_ok(t, value, label, choose=types)[0] for t in types):
                raise _bad(
                    f'can\'t parse {label}: Field "{name}" must be of type {" or ".join(types)}'
                )
        self._object_hook(type_name, obj)

    def _object_hook(self, type_name: str, obj: Mapping[str, Any]) -> None:
        """Telegram's checks of particular objects (beyond required fields and types)."""
        if type_name == "InlineKeyboardButton":
            self._check_inline_button(obj)
        elif type_name == "InlineKeyboardMarkup":
            rows = obj.get("inline_keyboard")
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
        elif type_name == "InputTextMessageContent":
            self._formatted(
                obj.get("message_text"), obj.get("parse_mode"), obj.get("entities"), kind="inline"
            )
        elif type_name == "BotCommand":
            command = str(obj.get("command", ""))
            description = str(obj.get("description", ""))
            if not _COMMAND_NAME_RE.fullmatch(command):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        elif type_name == "MessageEntity":
            allowed = self._entity_types()
            if allowed and obj.get("type") not in allowed:
                raise _bad("can't parse MessageEntity: Unsupported type specified")
        field_names = {f["name"] for f in self.spec.fields(type_name)}
        if "caption" in field_names and obj.get("caption") is not None:
            self._formatted(
                obj.get("caption"),
                obj.get("parse_mode"),
                obj.get("caption_entities"),
                kind="caption",
            )
        elif "parse_mode" in field_names and obj.get("parse_mode"):
            self._parse_mode(obj.get("parse_mode"))

    def _entity_types(self) -> frozenset[str]:
        cached = getattr(self, "_entity_types_cache", None)
        if cached is None:
            description = next(
                (
                    f["description"]
                    for f in self.spec.fields("MessageEntity")
                    if f["name"] == "type"
                ),
                "",
            )
            cached = frozenset(re.findall(r"[\"“]([a-z_]+)[\"”]", description))
            self._entity_types_cache = cached
        return cached

    @staticmethod
    def _check_url(url: str, what: str) -> None:
        match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$", url)
        if match:
            if match.group(1).lower() not in ("http", "https", "tg", "ton"):
                raise _bad(f"{what} URL '{url}' is invalid: Unsupported URL protocol")
            host = match.group(2)
        else:
            host = url
        host = re.split(r"[/?#]", host, maxsplit=1)[0]
        if not host or ("." not in host and not url.lower().startswith("tg:")):
            raise _bad(f"{what} URL '{url}' is invalid: Wrong HTTP URL")

    def _check_inline_button(self, button: Mapping[str, Any]) -> None:
        passive = {"text", "icon_custom_emoji_id", "style"}
        actions = [
            f["name"]
            for f in self.spec.fields("InlineKeyboardButton")
            if f["name"] not in passive
            and button.get(f["name"]) is not None
            and not (f["name"] in ("url", "callback_data") and button.get(f["name"]) == "")
        ]
        if not actions:
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        data = button.get("callback_data")
        if data not in (None, "") and len(str(data).encode("utf-8")) > CALLBACK_DATA_MAX_BYTES:
            raise _bad("BUTTON_DATA_INVALID")
        if button.get("url"):
            self._check_url(str(button["url"]), "inline keyboard button")

    @staticmethod
    def _parse_mode(parse_mode: Any) -> str:
        mode = str(parse_mode or "").lower()
        if mode and mode not in PARSE_MODES:
            raise _bad("unsupported parse_mode")
        return mode

    def _formatted(
        self,
        text: Any,
        parse_mode: Any,
        entities: Any,
        *,
        kind: str,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Visible text and entities after parsing; Telegram's errors for text and captions.

        kind: "text" (sendMessage/editMessageText), "inline" (InputTextMessageContent) or
        "caption".
        """
        raw = "" if text is None else str(text)
        is_text = kind in ("text", "inline")
        if is_text and raw == "":
            raise _bad("message text is empty")
        mode = self._parse_mode(parse_mode)
        if mode == "html":
            try:
                visible, found = parse_html(raw, strict_entities=self.strict_html_entities)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from exc
        elif mode in ("markdown", "markdownv2"):
            visible, found = _markdown_visible(raw, v2=mode == "markdownv2"), []
        else:
            visible = raw
            found = [dict(e) for e in entities] if isinstance(entities, list) else []
            _check_entity_bounds(visible, found)
        visible, found = _strip_formatted(visible, found)
        if is_text and not visible:
            raise _bad("text must be non-empty")
        limit = CAPTION_MAX if kind == "caption" else TEXT_MAX
        if len(visible) > limit:
            raise _bad(
                "message caption is too long" if kind == "caption" else "message is too long"
            )
        return visible, found

    def _check_semantics(self, method: str, params: Mapping[str, Any]) -> None:
        """Method-level checks beyond types: text/caption, limits of particular methods."""
        lowered = method.lower()
        field_names = {f["name"] for f in self.spec.fields(method)}
        if lowered in ("sendmessage", "editmessagetext"):
            self._formatted(
                params.get("text"), params.get("parse_mode"), params.get("entities"), kind="text"
            )
        elif "caption" in field_names and params.get("caption") not in (None, ""):
            self._formatted(
                params.get("caption"),
                params.get("parse_mode"),
                params.get("caption_entities"),
                kind="caption",
            )
        elif "parse_mode" in field_names:
            self._parse_mode(params.get("parse_mode"))
        if (
            lowered.startswith("edit")
            and "inline_message_id" in field_names
            and not params.get("inline_message_id")
        ):
            if params.get("chat_id") in (None, ""):
                raise _bad("chat_id is empty")
            if params.get("message_id") in (None, ""):
                raise _bad("message identifier is not specified")
        if lowered == "answercallbackquery" and len(str(params.get("text") or "")) > (
            CALLBACK_ANSWER_MAX
        ):
            raise _bad("MESSAGE_TOO_LONG")
        if lowered == "answerinlinequery":
            results = params.get("results") or []
            if len(results) > INLINE_RESULTS_MAX:
                raise _bad("RESULTS_TOO_MUCH")
            ids = [str(r.get("id")) for r in results if isinstance(r, dict)]
            if len(ids) != len(set(ids)):
                raise _bad("RESULT_ID_DUPLICATE")
            for result_id in ids:
                if not 1 <= len(result_id.encode("utf-8")) <= 64:
                    raise _bad("RESULT_ID_INVALID")
        if lowered == "sendchataction" and str(params.get("action")) not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        if lowered == "setmycommands" and len(params.get("commands") or []) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        if lowered == "setwebhook":
            url = str(params.get("url") or "")
            if url and not url.lower().startswith("https://"):
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if "chat_id" in params and params.get("chat_id") not in (None, ""):
            self._resolve_chat_id(params["chat_id"])  # chat not found for unknown @usernames
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and self.strict_messages and _is_message_send(lowered):
            target_chat = reply.get("chat_id", params.get("chat_id"))
            key = (self._resolve_chat_id(target_chat), _chat_key(reply.get("message_id")))
            if key not in self._messages and not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")

    # ---------------------------------------------------------------- faults and limits

    def _apply_faults(self, method: str, params: Mapping[str, Any]) -> None:
        if not _is_targeted(method) or params.get("chat_id") in (None, ""):
            return
        chat = self._fault_key(params["chat_id"])
        if chat in self._blocked:
            raise ApiError(403, self._blocked[chat], rejection=False)
        if chat in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat]},
                rejection=False,
            )
        for faults in (self._floods, self._failures):
            for fault in faults:
                if fault.matches(chat, method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        faults.remove(fault)
                    raise ApiError(fault.code, fault.description, fault.parameters, rejection=False)

    def _fault_key(self, chat_id: Any) -> int | str | None:
        key = _chat_key(chat_id)
        if isinstance(key, str):
            with contextlib.suppress(ApiError):
                return self._resolve_chat_id(key)
        return key

    def _enforce_limits(self, method: str, params: Mapping[str, Any]) -> None:
        if not self.enforce_limits or not _is_message_send(method):
            return
        chat_key = self._fault_key(params.get("chat_id"))
        now = time.monotonic()
        window = self._global_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.global_rate_per_second:
            self._limit_hit(window[0] + 1.0 - now)
        chat_type = self.chat(chat_key).get("type") if isinstance(chat_key, int) else "private"
        group_window: deque[float] | None = None
        if chat_type in ("group", "supergroup") and chat_key is not None:
            group_window = self._group_windows.setdefault(chat_key, deque())
            while group_window and group_window[0] <= now - 60.0:
                group_window.popleft()
            if len(group_window) >= self.group_rate_per_minute:
                self._limit_hit(group_window[0] + 60.0 - now)
        tokens: float | None = None
        if chat_type == "private" and chat_key is not None:
            tokens, last = self._private_buckets.get(chat_key, (float(self.private_burst), now))
            tokens = min(
                float(self.private_burst), tokens + (now - last) * self.private_rate_per_second
            )
            if tokens < 1.0:
                self._private_buckets[chat_key] = (tokens, now)
                self._limit_hit((1.0 - tokens) / self.private_rate_per_second)
        window.append(now)
        if group_window is not None:
            group_window.append(now)
        if tokens is not None and chat_key is not None:
            self._private_buckets[chat_key] = (tokens - 1.0, now)

    @staticmethod
    def _limit_hit(wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
            rejection=False,
            limit=True,
        )

    # ---------------------------------------------------------------- chats, users, messages

    def _default_chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self._users.get(chat_id, {})
            chat: dict[str, Any] = {
                "id": chat_id,
                "type": "private",
                "first_name": user.get("first_name", f"User{chat_id}"),
            }
            for key in ("last_name", "username"):
                if user.get(key):
                    chat[key] = user[key]
            return chat
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _resolve_chat_id(self, chat_id: Any) -> int:
        key = _chat_key(chat_id)
        if isinstance(key, int):
            if self.strict_chats and key not in self._chats:
                raise _bad("chat not found")
            return key
        if isinstance(key, str) and key.startswith("@"):
            for known in self._chats.values():
                if str(known.get("username", "")).lower() == key[1:].lower():
                    return int(known["id"])
        raise _bad("chat not found")

    def _chat_member(self, user: Mapping[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        subtype = self.spec.resolve_subtype("ChatMember", {"status": status}) or "ChatMemberMember"
        return self.spec.default_object(subtype, status=status, user=dict(user), **fields)

    def _register_update(self, update: Mapping[str, Any]) -> None:
        for key in MESSAGE_UPDATE_KEYS:
            if isinstance(update.get(key), dict):
                self._register_message(update[key])
        query = update.get("callback_query")
        if isinstance(query, dict):
            self._register_user(query.get("from"))
            if isinstance(query.get("message"), dict):
                self._register_message(query["message"])
        for key in ("inline_query", "chosen_inline_result", "pre_checkout_query", "shipping_query"):
            if isinstance(update.get(key), dict):
                self._register_user(update[key].get("from"))
        member_update = update.get("my_chat_member")
        if isinstance(member_update, dict) and isinstance(member_update.get("chat"), dict):
            chat = member_update["chat"]
            self._register_chat(chat)
            self._register_user(member_update.get("from"))
            status = (member_update.get("new_chat_member") or {}).get("status")
            if status in ("left", "kicked"):
                self.block(chat["id"])
            elif status:
                self.unblock(chat["id"])

    def _register_user(self, user: Any) -> None:
        if isinstance(user, dict) and "id" in user and user["id"] != self.bot_id:
            self._users.setdefault(int(user["id"]), dict(user))

    def _register_chat(self, chat: Mapping[str, Any]) -> None:
        if "id" in chat and "type" in chat:
            merged = dict(self._chats.get(int(chat["id"]), {}))
            merged.update(chat)
            self._chats[int(chat["id"])] = merged

    def _register_message(self, message: Mapping[str, Any]) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "message_id" not in message:
            return
        self._register_chat(chat)
        self._register_user(message.get("from"))
        self._messages[(int(chat["id"]), int(message["message_id"]))] = copy.deepcopy(dict(message))
        reply = message.get("reply_to_message")
        if isinstance(reply, dict):
            self._register_message(reply)
        if message.get("migrate_to_chat_id"):
            self.migrate(int(chat["id"]), int(message["migrate_to_chat_id"]))

    def _new_file_id(self, prefix: str) -> str:
        return prefix + "gIAAxkBAAI" + secrets.token_urlsafe(24)

    def _store_upload(self, data: bytes, folder: str, suffix: str) -> dict[str, Any]:
        path = f"{folder}/file_{len(self._files)}{suffix}"
        return self.add_file(data, file_id=self._new_file_id("BQAC"), file_path=path)

    def _photo_sizes(self, data: bytes | None, file_id: str | None = None) -> list[dict[str, Any]]:
        sizes: list[dict[str, Any]] = []
        dims = [(90, 68), (320, 240), (800, 600)]
        for index, (width, height) in enumerate(dims):
            largest = index == len(dims) - 1
            size = len(data) if data is not None and largest else 1000 * (index + 1)
            if largest and data is not None:
                info = self._store_upload(data, "photos", ".jpg")
                fid, unique = info["file_id"], info["file_unique_id"]
            else:
                fid = file_id if (largest and file_id) else self._new_file_id("AgAC")
                unique = "AQAD" + secrets.token_hex(6)
            sizes.append(
                {
                    "file_id": fid,
                    "file_unique_id": unique,
                    "width": width,
                    "height": height,
                    "file_size": size,
                }
            )
        return sizes

    def _new_message(
        self, method: str, params: Mapping[str, Any], **content: Any
    ) -> dict[str, Any]:
        chat = self.chat(params["chat_id"])
        short_chat = {
            k: v
            for k, v in chat.items()
            if k in ("id", "type", "title", "username", "first_name", "last_name", "is_forum")
        }
        sender = None if chat["type"] == "channel" else self.bot_user
        msg = self._base_message(short_chat, sender, message_id=None, date=None)
        if chat["type"] == "channel":
            msg["sender_chat"] = dict(short_chat)
        thread = params.get("message_thread_id")
        if thread is not None:
            msg["message_thread_id"] = thread
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            key = (
                self._resolve_chat_id(reply.get("chat_id", chat["id"])),
                _chat_key(reply.get("message_id")),
            )
            target = self._messages.get(key)  # type: ignore[arg-type]
            if target is not None:
                msg["reply_to_message"] = _shallow_message(target)
        msg.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        if params.get("protect_content"):
            msg["has_protected_content"] = True
        self._messages[(int(chat["id"]), int(msg["message_id"]))] = copy.deepcopy(msg)
        return msg

    def _edit_target(self, params: Mapping[str, Any], verb: str) -> dict[str, Any] | None:
        if params.get("inline_message_id"):
            return None
        chat_id = self._resolve_chat_id(params["chat_id"])
        key = (chat_id, int(params["message_id"]))
        msg = self._messages.get(key)
        if msg is None:
            if self.strict_messages:
                raise _bad(f"message to {verb} not found")
            msg = self._base_message(
                self.chat(chat_id), self.bot_user, message_id=key[1], date=_now() - 60
            )
            self._messages[key] = msg
        sender = (msg.get("from") or {}).get("id")
        if verb == "edit" and sender != self.bot_id and msg["chat"].get("type") != "channel":
            raise _bad("message can't be edited")
        return msg

    # ---------------------------------------------------------------- methods

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: Mapping[str, ReceivedFile]
    ) -> Any:
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return self._generic(method, params)
        result = handler(params)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _m_getme(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getupdates(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_info.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
                rejection=False,
            )
        offset = int(params.get("offset") or 0)
        limit = min(100, max(1, int(params.get("limit") or 100)))
        timeout = max(0, int(params.get("timeout") or 0))
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            self._allowed_updates = [str(x) for x in params["allowed_updates"]]
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        elif offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()  # a waiting older poll is terminated

        def ready() -> bool:
            return (
                self._closing
                or generation != self._poll_generation
                or bool(self._deliverable(limit))
            )

        if timeout > 0:
            await self._updates_signal.wait_until(ready, float(timeout))
        if generation != self._poll_generation and not self._closing:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running",
                rejection=False,
            )
        delivered = [] if self._closing else self._deliverable(limit)
        now = time.monotonic()
        for update in delivered:
            self.update_delivered_at.setdefault(update["update_id"], now)
        return copy.deepcopy(delivered)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        kept: deque[dict[str, Any]] = deque()
        out: list[dict[str, Any]] = []
        for update in self._updates:
            kind = next((k for k in update if k != "update_id"), "")
            wanted = kind in allowed if allowed else kind not in OPT_IN_UPDATES
            if not wanted:
                self.dropped_updates.append(update)
                continue
            kept.append(update)
            if len(out) < limit:
                out.append(update)
        self._updates = kept
        return out

    def _m_sendmessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        text, entities = self._formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), kind="text"
        )
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            content["link_preview_options"] = params["link_preview_options"]
        return self._new_message("sendMessage", params, **content)

    def _caption_content(self, params: Mapping[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {}
        if params.get("caption") not in (None, ""):
            caption, entities = self._formatted(
                params.get("caption"),
                params.get("parse_mode"),
                params.get("caption_entities"),
                kind="caption",
            )
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return content

    def _m_sendphoto(self, params: Mapping[str, Any]) -> dict[str, Any]:
        photo = params["photo"]
        if isinstance(photo, ReceivedFile):
            sizes = self._photo_sizes(photo.data)
        else:
            known = self._files.get(str(photo))
            sizes = self._photo_sizes(known[1] if known else None, file_id=str(photo))
        return self._new_message("sendPhoto", params, photo=sizes, **self._caption_content(params))

    def _m_editmessagetext(self, params: Mapping[str, Any]) -> Any:
        text, entities = self._formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), kind="text"
        )
        msg = self._edit_target(params, "edit")
        if msg is None:
            return True
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        markup = params.get("reply_markup")
        if (
            msg.get("text") == text
            and (msg.get("entities") or []) == entities
            and msg.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg["text"] = text
        _set_or_drop(msg, "entities", entities or None)
        _set_or_drop(msg, "reply_markup", markup)
        msg["edit_date"] = _now()
        return copy.deepcopy(msg)

    def _m_editmessagecaption(self, params: Mapping[str, Any]) -> Any:
        content = self._caption_content(params)
        msg = self._edit_target(params, "edit")
        if msg is None:
            return True
        if "text" in msg:
            raise _bad("there is no caption in the message to edit")
        markup = params.get("reply_markup")
        if (
            msg.get("caption") == content.get("caption")
            and msg.get("caption_entities") == content.get("caption_entities")
            and msg.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        _set_or_drop(msg, "caption", content.get("caption"))
        _set_or_drop(msg, "caption_entities", content.get("caption_entities"))
        _set_or_drop(msg, "reply_markup", markup)
        msg["edit_date"] = _now()
        return copy.deepcopy(msg)

    def _m_editmessagereplymarkup(self, params: Mapping[str, Any]) -> Any:
        msg = self._edit_target(params, "edit")
        if msg is None:
            return True
        markup = params.get("reply_markup")
        if msg.get("reply_markup") == markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        _set_or_drop(msg, "reply_markup", markup)
        msg["edit_date"] = _now()
        return copy.deepcopy(msg)

    def _m_deletemessage(self, params: Mapping[str, Any]) -> bool:
        self._edit_target(params, "delete")
        chat_id = self._resolve_chat_id(params["chat_id"])
        self._messages.pop((chat_id, int(params["message_id"])), None)
        return True

    def _m_deletemessages(self, params: Mapping[str, Any]) -> bool:
        chat_id = self._resolve_chat_id(params["chat_id"])
        for message_id in params.get("message_ids") or []:
            self._messages.pop((chat_id, int(message_id)), None)
        return True

    def _source_content(
        self, params: Mapping[str, Any], verb: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The message forwardMessage/copyMessage refer to, and the content they carry over."""
        source = self._messages.get(
            (self._resolve_chat_id(params["from_chat_id"]), int(params["message_id"]))
        )
        if source is None and self.strict_messages:
            raise _bad(f"message to {verb} not found")
        content = {
            k: copy.deepcopy(v)
            for k, v in (source or {}).items()
            if k
            in ("text", "entities", "photo", "caption", "caption_entities", "document", "sticker")
        }
        return source, content

    def _m_forwardmessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        source, content = self._source_content(params, "forward")
        origin_user = (source or {}).get("from") or self.bot_user
        content["forward_origin"] = {
            "type": "user",
            "sender_user": origin_user,
            "date": (source or {}).get("date", _now()),
        }
        return self._new_message("forwardMessage", params, **content)

    def _m_copymessage(self, params: Mapping[str, Any]) -> dict[str, Any]:
        _, content = self._source_content(params, "copy")
        content.update(self._caption_content(params))
        copied = self._new_message("copyMessage", params, **content)
        return {"message_id": copied["message_id"]}

    def _m_sendchataction(self, params: Mapping[str, Any]) -> bool:
        self.chat(params["chat_id"])
        return True

    def _m_answercallbackquery(self, params: Mapping[str, Any]) -> bool:
        return True

    def _m_answerinlinequery(self, params: Mapping[str, Any]) -> bool:
        return True

    @staticmethod
    def _scope_key(params: Mapping[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _m_setmycommands(self, params: Mapping[str, Any]) -> bool:
        self._commands[self._scope_key(params)] = list(params.get("commands") or [])
        return True

    def _m_deletemycommands(self, params: Mapping[str, Any]) -> bool:
        self._commands.pop(self._scope_key(params), None)
        return True

    def _m_getmycommands(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return copy.deepcopy(self._commands.get(self._scope_key(params), []))

    def _m_deletewebhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_info["url"] = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_setwebhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_info["url"] = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getwebhookinfo(self, params: Mapping[str, Any]) -> dict[str, Any]:
        info = dict(self.webhook_info)
        info["pending_update_count"] = len(self._updates)
        return info

    def _m_getchat(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat = self.chat(params["chat_id"])
        overrides = {"accent_color_id": 0, "max_reaction_count": 11, **chat}
        return self.spec.default_object("ChatFullInfo", **overrides)

    def _m_getchatmember(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(params["chat_id"])
        user_id = int(params["user_id"])
        member = self._members.get((chat_id, user_id))
        if member is None:
            member = self._chat_member(self.user(user_id), "member")
        return copy.deepcopy(member)

    def _m_getchatadministrators(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        chat_id = self._resolve_chat_id(params["chat_id"])
        return [
            copy.deepcopy(member)
            for (chat, _user), member in self._members.items()
            if chat == chat_id and member.get("status") in ("creator", "administrator")
        ]

    def _m_getchatmembercount(self, params: Mapping[str, Any]) -> int:
        chat_id = self._resolve_chat_id(params["chat_id"])
        return max(2, sum(1 for chat, _user in self._members if chat == chat_id))

    def _m_getfile(self, params: Mapping[str, Any]) -> dict[str, Any]:
        found = self._files.get(str(params["file_id"]))
        if found is None:
            raise _bad("invalid file_id")
        return dict(found[2])

    def _m_getmyname(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": self.first_name}

    def _m_getmydescription(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"description": ""}

    def _m_getmyshortdescription(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"short_description": ""}

    def _m_close(self, params: Mapping[str, Any]) -> bool:
        return True

    def _m_logout(self, params: Mapping[str, Any]) -> bool:
        return True

    def _m_sendmediagroup(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        group_id = str(secrets.randbits(60))
        messages = []
        for item in params.get("media") or []:
            content = self._caption_content(item) if isinstance(item, dict) else {}
            kind = item.get("type", "photo") if isinstance(item, dict) else "photo"
            if kind == "photo":
                content["photo"] = self._photo_sizes(None)
            else:
                type_name = {"video": "Video", "audio": "Audio", "document": "Document"}.get(
                    kind, "Document"
                )
                content[kind] = self.spec.default_object(
                    type_name,
                    file_id=self._new_file_id("BAAC"),
                    file_unique_id="AgAD" + secrets.token_hex(6),
                )
            content["media_group_id"] = group_id
            messages.append(self._new_message("sendMediaGroup", params, **content))
        return messages

    def _generic(self, method: str, params: Mapping[str, Any]) -> Any:
        """Answer for the methods without their own handler, by their return type."""
        lowered = method.lower()
        returns = self.spec.returns(method)
        if "Message" in returns and params.get("chat_id") not in (None, ""):
            content = self._caption_content(params)
            media = _MEDIA_CONTENT.get(lowered)
            if media is not None:
                key, type_name, file_param = media
                overrides: dict[str, Any] = {}
                if file_param is not None:
                    upload = params.get(file_param)
                    if isinstance(upload, ReceivedFile):
                        info = self._store_upload(upload.data, key + "s", "")
                        overrides = {
                            "file_id": info["file_id"],
                            "file_unique_id": info["file_unique_id"],
                            "file_size": info["file_size"],
                        }
                        if upload.filename and key == "document":
                            overrides["file_name"] = upload.filename
                    else:
                        overrides = {
                            "file_id": str(upload or self._new_file_id("BQAC")),
                            "file_unique_id": "AgAD" + secrets.token_hex(6),
                        }
                else:
                    spec_fields = {f["name"] for f in self.spec.fields(type_name)}
                    overrides = {
                        k: v
                        for k, v in params.items()
                        if k in spec_fields and not isinstance(v, dict | list)
                    }
                    if key == "dice":
                        overrides.setdefault("emoji", "🎲")
                        overrides["value"] = secrets.randbelow(6) + 1
                    if key == "poll":
                        overrides["id"] = str(secrets.randbits(60))
                        overrides["options"] = [
                            self.spec.default_object(
                                "PollOption",
                                text=str(o.get("text", "")) if isinstance(o, dict) else str(o),
                                voter_count=0,
                                persistent_id=str(index),
                            )
                            for index, o in enumerate(params.get("options") or [])
                        ]
                content[key] = self.spec.default_object(type_name, **overrides)
            return self._new_message(method, params, **content)
        if "Message" in returns:
            return True
        if returns == ["Array of MessageId"]:
            return [
                {"message_id": self._next_message_id()} for _ in params.get("message_ids") or []
            ]
        if returns == ["MessageId"]:
            return {"message_id": self._next_message_id()}
        if returns == ["Array of Message"]:
            return []
        if returns == ["Integer"]:
            return 0
        if returns == ["String"]:
            return "https://t.me/+" + secrets.token_urlsafe(12)
        if returns and returns[0].startswith("Array of "):
            return []
        if returns == ["ChatInviteLink"]:
            return self.spec.default_object(
                "ChatInviteLink",
                invite_link="https://t.me/+" + secrets.token_urlsafe(12),
                creator=self.bot_user,
                **{k: v for k, v in params.items() if k in ("name", "creates_join_request")},
            )
        if (
            returns
            and returns[0] not in ("Boolean", "True")
            and self.spec.is_object_type(returns[0])
        ):
            return self.spec.default_object(returns[0])
        return True


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _scalar(type_name: str, value: Any, *, top: bool) -> tuple[bool, Any]:
    """Check/convert a scalar against a spec type; form values arrive as strings."""
    if type_name == "Integer":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return True, int(value.strip())
        return False, value
    if type_name == "Float":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int | float):
            return True, float(value)
        if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
            return True, float(value)
        return False, value
    if type_name in ("Boolean", "True"):
        if isinstance(value, bool):
            return (value or type_name == "Boolean"), value
        if isinstance(value, int) and value in (0, 1):
            return True, bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1"):
                return True, True
            if lowered in ("false", "0") and type_name == "Boolean":
                return True, False
        return False, value
    if type_name == "String":
        if isinstance(value, str):
            return True, value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, str(value) if top else value
        return False, value
    if type_name == "InputFile":
        return isinstance(value, ReceivedFile), value
    return True, value  # a type this server does not know: accept


def _check_entity_bounds(text: str, entities: list[dict[str, Any]]) -> None:
    size = utf16_len(text)
    for entity in entities:
        offset = int(entity.get("offset", 0))
        length = int(entity.get("length", 0))
        if offset < 0:
            raise _bad(f"receive an entity with incorrect offset {offset}")
        if length < 0:
            raise _bad(f"receive an entity with incorrect length {length}")
        if offset > size:
            raise _bad(f"entity begins after the end of the text at UTF-16 offset {offset}")
        if offset + length > size:
            raise _bad(
                f"entity beginning at UTF-16 offset {offset} ends after the end of the text at "
                f"UTF-16 offset {offset + length}"
            )


def _shallow_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message as it appears in reply_to_message (no nested reply)."""
    shallow = copy.deepcopy(dict(message))
    shallow.pop("reply_to_message", None)
    return shallow


def _json_or_raw(value: Any) -> Any:
    """A JSON-encoded parameter decoded for the record, else the value as received."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def _set_or_drop(obj: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


def _summary(params: Mapping[str, Any]) -> str:
    parts = []
    for key in ("chat_id", "text", "caption", "callback_query_id"):
        if key in params:
            value = str(params[key])
            parts.append(f"{key}={value[:40]!r}")
    return ", ".join(parts)


@contextlib.asynccontextmanager
async def running_bot(
    app: Application,
    *,
    poll_timeout: int = 1,
    allowed_updates: Sequence[str] | None = None,
    drop_pending_updates: bool = False,
) -> AsyncIterator[Application]:
    """Run a PTB Application in polling mode for the ``async with`` block, then stop it.

    Does ``async with app: await app.start(); await app.updater.start_polling(...)`` and the
    matching ``updater.stop()`` / ``app.stop()`` even if the block fails.
    """
    async with app:
        await app.start()
        try:
            assert app.updater is not None, "build the Application with an Updater"
            await app.updater.start_polling(
                poll_interval=0,
                timeout=poll_timeout,
                allowed_updates=allowed_updates,
                drop_pending_updates=drop_pending_updates,
            )
            try:
                yield app
            finally:
                if app.updater.running:
                    await app.updater.stop()
        finally:
            if app.running:
                await app.stop()
