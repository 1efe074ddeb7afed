"""`marketbot run`, `push --drain` and `doctor` as real processes, failing: one short line, the
right exit status, and neither the token nor a traceback in what they print."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import subscriptions
from bot.db import Store
from tests.fake_bot_api import FakeBotApi
from tests.telegram.test_run import env_for, free_port

WRONG_TOKEN = "7000000001:AAWrongTokenForMarketbotTests_9876543210"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) [\w.]+: ")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_env(api: FakeBotApi, db: Path, case: str, **extra: str) -> tuple[dict[str, str], str]:
    """The environment of one failure, and the token it uses."""
    env = env_for(api, db, **extra)
    if case == "wrong token":
        env["TELEGRAM_BOT_TOKEN"] = WRONG_TOKEN
    elif case == "wrong base URL":  # a server that answers 404: not a Bot API
        env["TELEGRAM_API_BASE_URL"] = f"http://127.0.0.1:{api.port}/telegram/bot"
    elif case == "unreachable":
        env["TELEGRAM_API_BASE_URL"] = f"http://127.0.0.1:{closed_port()}/bot"
    return env, env["TELEGRAM_BOT_TOKEN"]


async def marketbot(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, out.decode()


def assert_no_secret(out: str, token: str) -> None:
    secret = token.split(":", 1)[1]
    for leak in (token, secret, quote(token, safe="")):
        assert leak not in out, out


def the_error(out: str, *, allowed_extra: tuple[str, ...] = ()) -> str:
    """The one ``Error:`` line; every other line is a normal start-up log line."""
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, out
    others = [
        line
        for line in out.splitlines()
        if line.strip() and line not in errors and line not in allowed_extra
    ]
    assert all(LOG_LINE.match(line) for line in others), out
    return errors[0]


FAILURES = [
    ("wrong token", 2, "Telegram rejected the token (check TELEGRAM_BOT_TOKEN)"),
    ("wrong base URL", 2, "answered 404 Not Found"),
    ("unreachable", 1, "cannot reach the Bot API at http://127.0.0.1:"),
]


@pytest.mark.parametrize(("case", "code", "says"), FAILURES)
async def test_run_fails_in_one_line(
    fake_api: FakeBotApi, db_path: Path, case: str, code: int, says: str
) -> None:
    env, token = case_env(fake_api, db_path, case)
    returncode, out = await marketbot(env, "run")
    assert returncode == code, out
    assert_no_secret(out, token)
    assert "Traceback" not in out
    assert says in the_error(out)


@pytest.mark.parametrize(("case", "code", "says"), FAILURES)
async def test_push_drain_fails_in_one_line(
    fake_api: FakeBotApi, fresh_db: Store, db_path: Path, case: str, code: int, says: str
) -> None:
    subscriptions.subscribe(fresh_db, 42, "*")
    subscriptions.queue_push(fresh_db, "2019Q3")
    env, token = case_env(fake_api, db_path, case)
    returncode, out = await marketbot(env, "push", "--drain")
    assert returncode == code, out
    assert_no_secret(out, token)
    assert "Traceback" not in out
    assert says in the_error(out, allowed_extra=("delivering",))  # click's progress label
    assert subscriptions.pending_count(fresh_db) == 1  # nothing lost: it is still to deliver


@pytest.mark.parametrize(("case", "code", "says"), FAILURES)
async def test_doctor_fails_in_one_line(
    fake_api: FakeBotApi, fresh_db: Store, db_path: Path, case: str, code: int, says: str
) -> None:
    env, token = case_env(fake_api, db_path, case)
    returncode, out = await marketbot(env, "doctor")
    assert returncode == 1, out
    assert_no_secret(out, token)
    assert "Traceback" not in out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PASS config",
        "PASS state-dir",
        "PASS store",
        "FAIL token",
        "SKIP webhook",
    ]
    assert says in lines[3]


async def test_run_at_debug_logs_a_redacted_traceback(fake_api: FakeBotApi, db_path: Path) -> None:
    env, token = case_env(fake_api, db_path, "wrong token", MARKETBOT_LOG_LEVEL="DEBUG")
    returncode, out = await marketbot(env, "run")
    assert returncode == 2, out
    assert_no_secret(out, token)
    assert "Traceback" in out and "[token]" in out  # there, and redacted
    assert out.splitlines()[-1] == "Error: Telegram rejected the token (check TELEGRAM_BOT_TOKEN)"


async def test_webhook_refused_by_telegram(fake_api: FakeBotApi, db_path: Path) -> None:
    env, token = case_env(fake_api, db_path, "ok")
    args = ("run", "--webhook-url", "http://bot.example.com/telegram", "--port", str(free_port()))
    returncode, out = await marketbot(env, *args)
    assert returncode == 2, out
    assert_no_secret(out, token)
    assert "Traceback" not in out
    error = the_error(out)
    assert "Telegram refused the webhook" in error and "https" in error.lower()


async def test_webhook_secret_is_not_logged_at_debug(fake_api: FakeBotApi, db_path: Path) -> None:
    secret = "webhook-secret_0123456789abcdef"
    env, token = case_env(
        fake_api, db_path, "ok", MARKETBOT_LOG_LEVEL="DEBUG", MARKETBOT_WEBHOOK_SECRET=secret
    )
    args = ("run", "--webhook-url", "http://bot.example.com/telegram", "--port", str(free_port()))
    returncode, out = await marketbot(env, *args)
    assert returncode == 2, out
    assert "setWebhook" in out  # PTB logged the call with its parameters…
    assert_no_secret(out, token)
    assert secret not in out  # …without the secret


async def test_webhook_port_in_use(fake_api: FakeBotApi, db_path: Path) -> None:
    env, token = case_env(fake_api, db_path, "ok")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ("run", "--webhook-url", "https://bot.example.com/telegram", "--port", str(port))
        returncode, out = await marketbot(env, *args)
    assert returncode == 1, out
    assert_no_secret(out, token)
    assert "Traceback" not in out
    assert "cannot listen for the webhook" in the_error(out)


async def test_bad_setting_is_one_line(fake_api: FakeBotApi, db_path: Path) -> None:
    env, _ = case_env(fake_api, db_path, "ok", MARKETBOT_ALLOWED_CHATS="12,abc")
    for args in (("run",), ("push", "--drain")):
        returncode, out = await marketbot(env, *args)
        assert returncode == 2, out
        assert out.strip().splitlines() == [
            "Error: MARKETBOT_ALLOWED_CHATS must be chat ids separated by commas, not '12,abc'"
        ]
