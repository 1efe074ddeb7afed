"""Pushes: queueing, the summary, delivery through the outbox (429, 403, migration, 5xx,
restart mid-push) against the fake Bot API, and `marketbot push` on the command line."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from telegram.ext import ExtBot

from bot import subscriptions
from bot.cli import cli
from bot.config import Settings
from bot.db import Store
from bot.models import Period
from bot.summary import CAPTION_LIMIT, TEXT_LIMIT, build_summary, visible
from bot.telegram import delivery
from bot.telegram.app import build_application
from bot.telegram.pacing import ChatRateLimiter
from tests.fake_bot_api import FakeBotApi, running_bot

Q3 = Period(2019, 3)
GROUP = -1_001_500_000_001


@pytest.fixture
def store(fresh_db: Store) -> Store:
    subscriptions.ensure_schema(fresh_db)
    return fresh_db


def make_bot(api: FakeBotApi) -> ExtBot:
    """What `marketbot push --drain` and `run` use: ExtBot paced by ChatRateLimiter."""
    return ExtBot(
        api.token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        rate_limiter=ChatRateLimiter(),
    )


def subscribe_many(store: Store, chat_ids: list[int], topic: str = "*", lang: str = "en") -> None:
    for chat_id in chat_ids:
        subscriptions.subscribe(store, chat_id, topic, lang=lang)


def delivered(api: FakeBotApi) -> Counter:
    """Successful push messages per chat."""
    return Counter(
        int(r.params["chat_id"])
        for r in api.requests
        if r.method in ("sendPhoto", "sendMessage") and r.ok
    )


def states(store: Store) -> Counter:
    return Counter(s for (s,) in store.conn.execute("SELECT state FROM outbox"))


async def drain(store: Store, api: FakeBotApi, **options: object) -> delivery.DrainStats:
    return await delivery.drain_with_bot(store, make_bot(api), **options)  # type: ignore[arg-type]


# -- storage and summary --------------------------------------------------------------


def test_queue_push_one_row_per_chat_with_its_topics(store: Store) -> None:
    subscriptions.subscribe(store, 1, "*")
    subscriptions.subscribe(store, 2, "aftermarket", lang="zh")
    subscriptions.subscribe(store, 3, "ride_code")
    subscriptions.subscribe(store, 3, "aftermarket", thread_id=None)
    subscriptions.subscribe(store, GROUP, "pan_auto", thread_id=42)
    subscriptions.subscribe(store, 4, "overseas_taxi")
    subscriptions.unsubscribe(store, 4)

    push_id, n = subscriptions.queue_push(store, period="2019Q3")
    assert n == 4
    rows = {
        chat: (thread, topics, lang)
        for chat, thread, topics, lang in store.conn.execute(
            "SELECT chat_id, thread_id, topics, lang FROM outbox WHERE push_id = ?", (push_id,)
        )
    }
    assert rows == {
        1: (None, "*", "en"),
        2: (None, "aftermarket", "zh"),
        3: (None, "aftermarket,ride_code", "en"),
        GROUP: (42, "pan_auto", "en"),
    }
    # Q2 has only aftermarket and pan-auto figures: the ride-code-only part is left out
    _, n_q2 = subscriptions.queue_push(store, period="2019Q2")
    assert n_q2 == 4
    # a topic push reaches its subscribers and the everything-subscribers only
    topic_push, n_topic = subscriptions.queue_push(store, topic="后市场")
    assert n_topic == 3
    assert {
        c
        for (c,) in store.conn.execute(
            "SELECT chat_id FROM outbox WHERE push_id = ?", (topic_push,)
        )
    } == {1, 2, 3}
    [status] = [s for s in subscriptions.push_status(store) if s["id"] == push_id]
    assert (status["delivered"], status["pending"], status["failed"]) == (0, 4, 0)


def test_queue_push_defaults_and_errors(store: Store) -> None:
    subscriptions.subscribe(store, 1, "*")
    push_id, n = subscriptions.queue_push(store)
    assert n == 1
    assert store.conn.execute("SELECT period FROM pushes WHERE id = ?", (push_id,)).fetchone() == (
        "2019Q3",
    )
    with pytest.raises(ValueError, match="no figures"):
        subscriptions.queue_push(store, period="2030Q1")
    with pytest.raises(ValueError, match="unknown topic"):
        subscriptions.queue_push(store, topic="bananas")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(
    "topics",
    ["*", "aftermarket", "pan_auto", "ride_code", "overseas_taxi", "aftermarket,ride_code"],
)
def test_summary_fits_one_message(store: Store, topics: str, lang: str) -> None:
    summary = build_summary(store, Q3, topics, lang)
    assert len(visible(summary.html)) <= TEXT_LIMIT
    caption = summary.caption()
    if summary.chart is not None:
        assert caption is not None and len(visible(caption)) <= CAPTION_LIMIT
    text = visible(summary.html)
    if lang == "zh":
        assert "最新数据：2019年第三季度" in text and "来源：" in text
    else:
        assert "New figures: Q3 2019" in text and "Source: " in text


def test_summary_has_change_and_chart(store: Store) -> None:
    summary = build_summary(store, Q3, "*", "en")
    text = visible(summary.html)
    assert "283 million users (+42.2% vs Q2 2019)" in text
    assert "27,200 users (-4.6% vs Q2 2019)" in text
    assert summary.chart is not None and summary.chart.facts[0].segment == "pan_auto"
    zh = visible(build_summary(store, Q3, "aftermarket", "zh").html)
    assert "2.72万人（较2019年第二季度 -4.6%）" in zh


def test_schedule_helpers(store: Store) -> None:
    import datetime as dt

    assert subscriptions.first_weekday_after_quarter(dt.date(2019, 10, 1))  # a Tuesday
    assert not subscriptions.first_weekday_after_quarter(dt.date(2019, 10, 2))
    assert subscriptions.first_weekday_after_quarter(dt.date(2020, 1, 1))  # a Wednesday
    assert subscriptions.first_weekday_after_quarter(dt.date(2022, 1, 3))  # Monday after a weekend
    assert not subscriptions.first_weekday_after_quarter(dt.date(2022, 1, 1))
    assert subscriptions.parse_schedule("09:00 Asia/Shanghai").hour == 9
    subscriptions.subscribe(store, 1, "*")
    assert subscriptions.scheduled_push(store, dt.date(2019, 10, 2)) is None
    assert subscriptions.scheduled_push(store, dt.date(2019, 10, 1)) is not None
    assert subscriptions.scheduled_push(store, dt.date(2020, 1, 1)) is None  # nothing newer


# -- delivery ---------------------------------------------------------------------------


async def test_drain_delivers_each_chat_once_with_chart(fake_api: FakeBotApi, store: Store) -> None:
    privates = list(range(5001, 5031))
    subscribe_many(store, privates)
    subscriptions.subscribe(store, 5100, "aftermarket", lang="zh")
    fake_api.add_chat(GROUP, "supergroup", title="Forum", is_forum=True)
    subscriptions.subscribe(store, GROUP, "pan_auto", thread_id=42)
    _, n = subscriptions.queue_push(store, period="2019Q3")
    assert n == 32

    stats = await drain(store, fake_api)
    assert stats.sent == 32 and stats.failed == 0
    got = delivered(fake_api)
    assert set(got) == {*privates, 5100, GROUP} and set(got.values()) == {1}
    photos = fake_api.sent("sendPhoto", ok=True)
    uploads = [r for r in photos if r.files]
    assert len(uploads) == 3  # one upload per distinct summary, then Telegram's file id
    [group_msg] = fake_api.sent("sendPhoto", GROUP)
    assert group_msg.params["message_thread_id"] == 42
    assert "Pan-automotive" in group_msg.params["caption"]
    [zh_msg] = fake_api.sent("sendPhoto", 5100)
    assert "最新数据" in zh_msg.params["caption"]
    assert states(store) == {"sent": 32}
    [status] = subscriptions.push_status(store)
    assert (status["status"], status["delivered"], status["pending"]) == ("done", 32, 0)
    fake_api.assert_no_rejections()


async def test_429_is_retried_after_its_wait(fake_api: FakeBotApi, store: Store) -> None:
    subscribe_many(store, [7001, 7002, 7003])
    subscriptions.queue_push(store)
    fake_api.flood(7002, times=1, retry_after=1)
    stats = await drain(store, fake_api)
    assert stats.rate_limited == 1 and stats.sent == 3
    assert delivered(fake_api) == Counter({7001: 1, 7002: 1, 7003: 1})
    tries = fake_api.sent("sendPhoto", 7002)
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].received_at - tries[0].received_at >= 1.0


async def test_403_deactivates_and_is_not_sent_again(fake_api: FakeBotApi, store: Store) -> None:
    subscribe_many(store, [8001, 8002])
    fake_api.block(8002)
    subscriptions.queue_push(store)
    stats = await drain(store, fake_api)
    assert (stats.sent, stats.failed) == (1, 1)
    state, error = store.conn.execute(
        "SELECT state, last_error FROM outbox WHERE chat_id = 8002"
    ).fetchone()
    assert state == "failed" and "403" in error and "blocked" in error
    [sub] = subscriptions.subscriptions(store, 8002, active_only=False)
    assert not sub.active and "blocked by the user" in (sub.deactivated_reason or "")
    _, n = subscriptions.queue_push(store)
    assert n == 1  # the blocked chat is not queued again
    assert len(fake_api.sent("sendPhoto", 8002)) == 1


async def test_migrated_group_moves_and_is_retried(fake_api: FakeBotApi, store: Store) -> None:
    old, new = -4_000_555, -1_009_000_000_555
    fake_api.add_chat(old, "group", title="Old group")
    subscriptions.subscribe(store, old, "*")
    fake_api.migrate(old, new)
    subscriptions.queue_push(store)
    stats = await drain(store, fake_api)
    assert (stats.sent, stats.migrated) == (1, 1)
    assert delivered(fake_api) == Counter({new: 1})
    assert [s.topic for s in subscriptions.subscriptions(store, new)] == ["*"]
    assert subscriptions.subscriptions(store, old) == []
    assert states(store) == {"sent": 1}


async def test_server_errors_back_off_then_fail(fake_api: FakeBotApi, store: Store) -> None:
    subscribe_many(store, [9001, 9002, 9003])
    fake_api.fail(9001, times=1, code=502)
    fake_api.fail(9002, times=99, code=500)
    subscriptions.queue_push(store)
    stats = await drain(store, fake_api, max_attempts=3, backoff_seconds=0.05)
    assert delivered(fake_api) == Counter({9001: 1, 9003: 1})
    assert stats.failed == 1
    state, attempts, error = store.conn.execute(
        "SELECT state, attempts, last_error FROM outbox WHERE chat_id = 9002"
    ).fetchone()
    assert state == "failed" and attempts == 3 and "after 3 attempts" in error
    assert len(fake_api.sent("sendPhoto", 9002)) == 3
    assert subscriptions.subscriptions(store, 9002)  # a server error does not end a subscription


async def test_restart_in_the_middle_of_a_push_loses_nothing(
    fake_api: FakeBotApi, store: Store
) -> None:
    chat_ids = list(range(10_001, 10_081))
    subscribe_many(store, chat_ids)
    subscriptions.queue_push(store)
    fake_api.delay_seconds = 0.02
    first = delivery.Outbox(store, make_bot(fake_api), concurrency=10)
    async with first.bot:
        task = asyncio.create_task(first.run(until_idle=True))
        await fake_api.wait_for(lambda r: r.method == "sendPhoto" and r.ok, 25, timeout=20)
        task.cancel()  # the bot stops mid-push
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.1)  # requests the server had already taken complete
    received = {int(r.params["chat_id"]) for r in fake_api.sent("sendPhoto")}
    sent_rows = {c for (c,) in store.conn.execute("SELECT chat_id FROM outbox WHERE state='sent'")}
    in_flight = received - sent_rows
    assert 15 <= len(sent_rows) < len(chat_ids)
    assert len(in_flight) <= 10
    # kill -9 leaves claimed rows in 'sending': simulate a few of those too
    store.conn.execute(
        "UPDATE outbox SET state = 'sending' WHERE id IN "
        "(SELECT id FROM outbox WHERE state = 'pending' LIMIT 3)"
    )
    crashed = {c for (c,) in store.conn.execute("SELECT chat_id FROM outbox WHERE state='sending'")}

    second = delivery.Outbox(store, make_bot(fake_api), concurrency=10)
    async with second.bot:
        await second.run(until_idle=True)
    got = delivered(fake_api)
    assert set(got) == set(chat_ids)  # nothing lost
    twice = {c for c, n in got.items() if n > 1}
    assert twice <= in_flight | crashed  # duplicates only for messages in flight at the stop
    assert states(store) == {"sent": len(chat_ids)}


async def test_running_bot_drains_and_keeps_answering(
    fake_api: FakeBotApi, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake_api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_api.base_url)
    monkeypatch.delenv("MARKETBOT_PUSH_SCHEDULE", raising=False)
    app = build_application(Settings.from_env(store.path), store)
    subscribe_many(store, list(range(20_001, 20_041)))
    async with running_bot(app):
        delivery.start_outbox(app)
        fake_api.push_update(fake_api.make_private_message("/subscribe 后市场", user_id=20_100))
        await fake_api.wait_for("sendMessage", chat_id=20_100, timeout=10)
        subscriptions.queue_push(store)
        fake_api.push_update(fake_api.make_private_message("aftermarket DAU Q3", user_id=20_200))
        await fake_api.wait_for(
            lambda r: r.method in ("sendMessage", "sendPhoto") and r.ok, chat_id=20_200, timeout=10
        )
        await fake_api.wait_for(lambda r: r.method == "sendPhoto" and r.ok, 41, timeout=30)
    got = delivered(fake_api)
    assert all(got[c] == 1 for c in range(20_001, 20_041))
    assert "最新数据" in fake_api.sent("sendPhoto", 20_100)[-1].params["caption"]
    assert states(store) == {"sent": 41}
    fake_api.assert_no_rejections()


# -- the command line -------------------------------------------------------------------


class ThreadedApi:
    """The fake server in a thread with its own loop, so a blocking CLI can call it."""

    def __enter__(self) -> FakeBotApi:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.api = self.loop.run_until_complete(FakeBotApi().start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(20)
        return self.api

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.api.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def threaded_api() -> Iterator[FakeBotApi]:
    with ThreadedApi() as api:
        yield api


def test_cli_push_status_and_drain(
    threaded_api: FakeBotApi, store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", threaded_api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", threaded_api.base_url)
    subscribe_many(store, [30_001, 30_002, 30_003])
    subscriptions.subscribe(store, 30_004, "aftermarket", lang="zh")
    threaded_api.block(30_003)
    runner = CliRunner()

    result = runner.invoke(cli, ["push", "--period", "2019Q3"])
    assert result.exit_code == 0, result.output
    assert "queued push 1 to 4 chats" in result.output

    result = runner.invoke(cli, ["push", "--status"])
    assert result.exit_code == 0, result.output
    assert "delivered      0  pending      4  failed      0" in result.output

    result = runner.invoke(cli, ["push", "--drain"])
    assert result.exit_code == 0, result.output
    assert "sent 3, failed 1" in result.output
    assert "delivered      3  pending      0  failed      1" in result.output
    got = Counter(int(r.params["chat_id"]) for r in threaded_api.sent("sendPhoto", ok=True))
    assert got == Counter({30_001: 1, 30_002: 1, 30_004: 1})

    result = runner.invoke(cli, ["push", "--topic", "bananas"])
    assert result.exit_code == 1 and "unknown topic" in result.output
    result = runner.invoke(cli, ["push", "--topic", "后市场"])
    assert result.exit_code == 0 and "to 3 chats" in result.output  # 30_003 is inactive now


def test_cli_ingest_announce_queues_a_push(store: Store, tmp_path: Path) -> None:
    subscriptions.subscribe(store, 1, "*")
    sample = Path(__file__).resolve().parents[2] / "data" / "sample-ingest.csv"
    result = CliRunner().invoke(cli, ["ingest", str(sample), "--announce"])
    assert result.exit_code == 0, result.output
    assert "queued push 1 for 2019Q4 to 1 chat\n" in result.output
    summary = build_summary(store, Period(2019, 4), "*", "en")
    assert "301 million users (+6.4% vs Q3 2019)" in visible(summary.html)


async def test_schedule_job_from_environment(
    fake_api: FakeBotApi, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake_api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("MARKETBOT_PUSH_SCHEDULE", "09:00 Asia/Shanghai")
    app = build_application(Settings.from_env(store.path), store)
    async with running_bot(app):
        delivery.start_outbox(app)
        [job] = app.job_queue.get_jobs_by_name("quarterly-push")
        assert job.next_t is not None
        assert (job.next_t.hour, job.next_t.minute) == (9, 0)
        assert str(job.next_t.tzinfo) == "Asia/Shanghai"
