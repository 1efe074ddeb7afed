"""`marketbot run` as a real process: settings, logging, graceful stop, and the webhook."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

from tests.fake_bot_api import DEFAULT_USER_ID, FakeBotApi


def env_for(api: FakeBotApi | None, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MARKETBOT_"))}
    env["MARKETBOT_DB"] = str(db)
    if api is not None:
        env["TELEGRAM_BOT_TOKEN"] = api.token
        env["TELEGRAM_API_BASE_URL"] = api.base_url
    env.update(extra)
    return env


async def start_run(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_without_token_exits_two(db_path: Path) -> None:
    proc = await start_run(env_for(None, db_path))
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in err.decode()


async def test_polling_answers_logs_and_stops_gracefully(
    fake_api: FakeBotApi, db_path: Path
) -> None:
    proc = await start_run(env_for(fake_api, db_path, MARKETBOT_LOG_LEVEL="INFO"))
    try:
        await fake_api.wait_for("setMyCommands", count=2, timeout=60)
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("aftermarket DAU Q3"))
        [reply] = await fake_api.wait_for("sendMessage", since=since, timeout=30)
        assert "27,200" in reply.params["text"]

        # A reply in flight when SIGTERM arrives is still delivered before the exit.
        fake_api.delay_seconds = 1.5
        since = time.monotonic()
        fake_api.push_update(fake_api.make_private_message("aftermarket MAU Q3"))
        for _ in range(1500):  # wait until the reply is in flight at the server
            if any(r.method == "sendMessage" and r.received_at >= since for r in fake_api.requests):
                break
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    answered = [r for r in fake_api.sent("sendMessage", chat_id=DEFAULT_USER_ID) if r.ok]
    assert any("401,000" in r.params["text"] for r in answered)
    log = err.decode()
    assert "answering everyone" in log  # said at start-up without an allowlist
    assert "status=answered" in log and "latency_ms=" in log
    assert fake_api.token not in log and fake_api.token.split(":")[1] not in log
    assert "aftermarket" not in log  # no message text at INFO


async def test_webhook_rejects_requests_without_the_secret(
    fake_api: FakeBotApi, db_path: Path
) -> None:
    port = free_port()
    public = "https://bot.example.com/telegram"  # TLS ends at the reverse proxy
    url = f"http://127.0.0.1:{port}/telegram"
    env = env_for(fake_api, db_path, MARKETBOT_WEBHOOK_SECRET="s3cret-token_1")
    proc = await start_run(
        env, "--webhook-url", public, "--listen", "127.0.0.1", "--port", str(port)
    )
    try:
        [hook] = await fake_api.wait_for("setWebhook", timeout=60)
        assert hook.params["url"] == public and hook.params["secret_token"] == "s3cret-token_1"
        update = fake_api.make_private_message("aftermarket DAU Q3")
        update["update_id"] = 1
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # the listener comes up right after setWebhook
                try:
                    async with session.post(url, json=update) as resp:
                        no_secret = resp.status
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with session.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ) as resp:
                wrong = resp.status
            assert not fake_api.sent("sendMessage")
            async with session.post(
                url,
                data=json.dumps(update),
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": "s3cret-token_1",
                    "Content-Type": "application/json",
                },
            ) as resp:
                right = resp.status
        assert (no_secret, wrong, right) == (403, 403, 200)
        [reply] = await fake_api.wait_for("sendMessage", timeout=30)
        assert "27,200" in reply.params["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.communicate(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
