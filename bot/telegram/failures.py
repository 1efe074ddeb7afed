"""What went wrong talking to the Bot API, as one short line and an exit status.

`marketbot run`, `push --drain` and `doctor` print these instead of a traceback. PTB's own
messages are not reused: its ``InvalidToken`` carries the token, and a non-JSON error page
is quoted whole (it may echo the request path, which holds the token). Exit status 2 is a
setting to fix (systemd's unit does not restart on it); 1 may pass on its own (network).
"""

from __future__ import annotations

from typing import NamedTuple

from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from ..config import DEFAULT_API_BASE_URL

CONFIG = 2  # exit status: fix a setting first
TRANSIENT = 1  # exit status: may work on a retry (network, Telegram busy)


class Failure(NamedTuple):
    message: str
    exit_code: int


class BotApiFailure(Exception):
    """Raised by `run` when the bot cannot start or stops on an error; `str()` is safe to print."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _status_of(error: InvalidToken) -> str:
    """``401`` or ``404``: PTB raises InvalidToken for both; its cause names the status."""
    inner = error.__cause__ if isinstance(error.__cause__, TelegramError) else error
    text = inner.message.lower()
    return "404" if ("not found" in text or "404" in text) else "401"


def _short(error: TelegramError) -> str:
    """The server's description, without the body PTB quotes when it is not JSON."""
    return error.message.split(". Parsing the server response", 1)[0][:120]


def explain(error: BaseException, base_url: str, *, webhook: bool = False) -> Failure:
    """One line for a failure talking to the Bot API at ``base_url`` (the token never in it)."""
    if isinstance(error, InvalidToken):
        if _status_of(error) == "401":
            return Failure("Telegram rejected the token (check TELEGRAM_BOT_TOKEN)", CONFIG)
        if base_url == DEFAULT_API_BASE_URL:  # Telegram answers 404 to a malformed token
            return Failure(
                "Telegram rejected the token as malformed (404 Not Found; "
                "check TELEGRAM_BOT_TOKEN)",
                CONFIG,
            )
        return Failure(
            f"{base_url} answered 404 Not Found: is it a Bot API server? "
            "(check TELEGRAM_API_BASE_URL, which ends in /bot, and TELEGRAM_BOT_TOKEN)",
            CONFIG,
        )
    if isinstance(error, Forbidden):
        return Failure(f"the Bot API at {base_url} refused the bot: {_short(error)}", CONFIG)
    if isinstance(error, RetryAfter):
        return Failure(
            f"Telegram asks to wait before trying again (flood control): {_short(error)}",
            TRANSIENT,
        )
    if isinstance(error, BadRequest):  # before NetworkError: PTB derives it from that
        if webhook:
            return Failure(
                f"Telegram refused the webhook: {_short(error)} (check --webhook-url)", CONFIG
            )
        return Failure(f"the Bot API at {base_url} refused a request: {_short(error)}", CONFIG)
    if isinstance(error, TimedOut):
        return Failure(
            f"timed out talking to the Bot API at {base_url} (check the network)", TRANSIENT
        )
    if isinstance(error, NetworkError):
        cause = error.__cause__
        if cause is not None and type(cause).__module__.startswith(("httpx", "httpcore")):
            reason = type(cause).__name__  # e.g. ConnectError: nobody answered
            return Failure(
                f"cannot reach the Bot API at {base_url} ({reason}; check the network and "
                "TELEGRAM_API_BASE_URL)",
                TRANSIENT,
            )
        return Failure(f"the Bot API at {base_url} failed: {_short(error)}", TRANSIENT)
    if isinstance(error, Conflict):
        return Failure(
            f"another process uses this bot token: {_short(error)} (run exactly one bot per token)",
            TRANSIENT,
        )
    if isinstance(error, TelegramError):
        return Failure(f"the Bot API at {base_url} failed: {_short(error)}", TRANSIENT)
    if isinstance(error, OSError) and webhook:  # the listener: port in use, not permitted
        return Failure(f"cannot listen for the webhook: {error.strerror or error}", TRANSIENT)
    return Failure(f"unexpected error: {type(error).__name__}: {error}", TRANSIENT)
