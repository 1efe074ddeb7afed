"""End-to-end bot benchmark: the real PTB Application polling the fake Bot API on loopback.

Run: /tmp/venv/bin/python benchmarks/bench_bot.py [--n 2000] [--quick]

A script, not a test: it prints figures with PASS/FAIL per target and always exits 0.
Everything runs in this one process (bot and fake server share the event loop).

  0. Telegram's limits (a FakeBotApi that enforces 30 messages/s overall, 20/min per group,
     ~1/s per private chat): a burst of 300 private chats + 22 mentions in one group, target
     0 429s, every private chat answered within 15 s, every mention answered (queued); and
     400 /subscribe at once, target all 400 confirmations delivered, 0 429s.

Sections 1-2 use one FakeBotApi server with limits not enforced:

  1. throughput: a bare PTB echo bot vs the full marketbot stack, N text questions pushed at
     once from 200 users; answered messages per second, ratio target >= 0.8 (best of 2 runs).
     The bot's pacer is in the path but its overall pace is raised above what loopback
     carries: at Telegram's 30/s both bots would measure the limit, not their cost;
  2. text latency with charts in flight: chart questions at 10/s (chart cache cleared before
     each one so every chart is drawn) and text questions at 20/s, each text question from its
     own user; push -> sendMessage completed, p99 target <= 100 ms;
  3. resident memory (RSS of this process) over 10,000 answers, 1 in 5 a chart question,
     sampled every 2,000 answers: final <= 200 MB and growth after 4,000 answers <= 10%.

--quick scales every count and duration down 10x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot import chart_draw
from bot.telegram.pacing import PriorityPace
from tests.fake_bot_api import FakeBotApi, RecordedRequest, running_bot
from tests.telegram.test_handlers import BOT, Running, start_bot, stop_bot

TARGET_RATIO = 0.8
TARGET_P99_MS = 100.0
TARGET_RSS_MB = 200.0
TARGET_GROWTH = 0.10

TEXT_QUESTIONS = [
    "aftermarket DAU Q3",
    "car code cities Alipay",
    "泛汽车小程序用户 三季度",
    "aftermarket DAU Q1 2019",
]
CHART_QUESTIONS = [
    "pan-car users Q2 vs Q3",
    "ride code users WeChat vs Alipay",
    "aftermarket DAU Q2 vs Q3",
    "泛汽车小程序用户 二季度 vs 三季度",
    "乘车码 用户 微信 vs 支付宝",
    "后市场 日活 环比",
    "WeChat vs Alipay ride code users",
    "aftermarket DAU change",
]
USERS = 200
TEXT_USER_BASE = 500_000_000  # section 1/3 users: TEXT_USER_BASE + i % USERS
LAT_USER_BASE = 600_000_000  # section 2: one user per text question
CHART_USER_BASE = 700_000_000  # section 2: chart question senders


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    """This process (bot and fake server) plus the bot's chart-drawing child process."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 2**20


def chat_of(record: RecordedRequest) -> int | None:
    try:
        return int(record.params.get("chat_id"))
    except (TypeError, ValueError):
        return None


class RenderCounter:
    """Counts chart renders (cache misses): each fresh PNG is put into the cache once.

    Renders happen in the chart process, so the count is taken where their result lands.
    """

    def __init__(self) -> None:
        self.count = 0
        self._orig = chart_draw._cache_put

        def counted(key: str, png: bytes) -> None:
            self.count += 1
            self._orig(key, png)

        chart_draw._cache_put = counted


# -- 0. Telegram's limits ------------------------------------------------------------------

BURST_PRIVATE, BURST_MENTIONS, SUBSCRIBES = 300, 22, 400
TARGET_PRIVATE_S = 15.0
BURST_USER_BASE = 400_000_000


async def section_limits(db: Path) -> None:
    print(
        f"\n0. Telegram's limits enforced: {BURST_PRIVATE} private chats + {BURST_MENTIONS} "
        f"mentions in one group at once; then {SUBSCRIBES} /subscribe at once"
    )
    async with FakeBotApi(enforce_limits=True) as api:
        running = await start_bot(api, db, user_limit_per_minute=10**9)
        try:
            pushed = time.monotonic()
            for i in range(BURST_PRIVATE):
                api.push_update(
                    api.make_private_message(TEXT_QUESTIONS[i % 4], user_id=BURST_USER_BASE + i)
                )
            for i in range(BURST_MENTIONS):
                api.push_update(api.make_group_message(f"@{BOT} aftermarket DAU Q3", user_id=7 + i))
            privates = await api.wait_for(
                lambda r: r.method == "sendMessage" and r.ok and (chat_of(r) or 0) > 0,
                count=BURST_PRIVATE,
                since=pushed,
                timeout=120,
            )
            worst = max(r.completed_at for r in privates) - pushed
            group = await api.wait_for(
                lambda r: r.method == "sendMessage" and r.ok and (chat_of(r) or 0) < 0,
                count=BURST_MENTIONS,
                since=pushed,
                timeout=150,
            )
            group_done = max(r.completed_at for r in group) - pushed
            hits = len(api.rate_limited)
            answered = len({chat_of(r) for r in privates})
            print(f"   429s met: {hits} (target 0)  {verdict(hits == 0)}")
            print(
                f"   private chats answered: {answered} of {BURST_PRIVATE}, the last after "
                f"{worst:.1f} s (target <= {TARGET_PRIVATE_S:.0f})  "
                f"{verdict(answered == BURST_PRIVATE and worst <= TARGET_PRIVATE_S)}"
            )
            print(
                f"   group mentions answered: {len(group)} of {BURST_MENTIONS}, the last after "
                f"{group_done:.1f} s (20 a minute)  {verdict(len(group) == BURST_MENTIONS)}"
            )

            api.clear_records()
            pushed = time.monotonic()
            for i in range(SUBSCRIBES):
                api.push_update(api.make_private_message("/subscribe", user_id=BURST_USER_BASE + i))
            confirmed = await api.wait_for(
                lambda r: r.method == "sendMessage" and r.ok,
                count=SUBSCRIBES,
                since=pushed,
                timeout=120,
            )
            chats = len({chat_of(r) for r in confirmed})
            sorry = sum("went wrong" in (r.params.get("text") or "") for r in api.requests)
            took = max(r.completed_at for r in confirmed) - pushed
            print(
                f"   /subscribe confirmations: {chats} of {SUBSCRIBES} in {took:.1f} s, "
                f"errors {sorry}, 429s {len(api.rate_limited)}  "
                f"{verdict(chats == SUBSCRIBES and not sorry and not api.rate_limited)}"
            )
        except TimeoutError as e:
            print(f"   FAIL: {e}")
        finally:
            await stop_bot(running)


# -- 1. throughput ---------------------------------------------------------------------------


async def push_and_drain(api: FakeBotApi, questions: list[str], n: int) -> float:
    """Push n private text updates at once; answered messages per second."""
    api.clear_records()
    updates = [
        api.make_private_message(questions[i % len(questions)], user_id=TEXT_USER_BASE + i % USERS)
        for i in range(n)
    ]
    first = time.monotonic()
    for update in updates:
        api.push_update(update)
    found = await api.wait_for("sendMessage", count=n, timeout=60 + n / 20, since=first)
    done = sorted(r.completed_at for r in found if r.completed_at is not None)[n - 1]
    bad = [r for r in found if not r.ok]
    if bad:
        print(f"    warning: {len(bad)} sendMessage failed, e.g. {bad[0].description}")
    return n / (done - first)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


async def section_throughput(api: FakeBotApi, db: Path, n: int) -> Running:
    print(f"\n1. Throughput: {n} private text questions from {USERS} users, best of 2 runs")
    app = api.application_builder().concurrent_updates(True).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    echo_rates = []
    async with running_bot(app, poll_timeout=1):
        for _ in range(2):
            echo_rates.append(await push_and_drain(api, ["echo this please"], n))
    print("   echo bot runs:  " + ", ".join(f"{r:,.0f}/s" for r in echo_rates))

    # A high per-user pacing limit: 200 users ask 10+ questions each within seconds here, and
    # the point is the stack's cost, not the bot's "slow down" reply.
    running = await start_bot(api, db, user_limit_per_minute=10**9)
    # Loopback has no 30/s limit: raise the pace so the stack's cost is measured (see top).
    running.app.bot.rate_limiter.overall = PriorityPace(100_000)
    bot_rates = []
    for _ in range(2):
        bot_rates.append(await push_and_drain(api, TEXT_QUESTIONS, n))
    print("   marketbot runs: " + ", ".join(f"{r:,.0f}/s" for r in bot_rates))
    base, full = max(echo_rates), max(bot_rates)
    ratio = full / base
    print(f"   echo bot (bare PTB): {base:,.0f} answered/s")
    print(f"   marketbot (full):    {full:,.0f} answered/s")
    print(f"   ratio {ratio:.2f} (target >= {TARGET_RATIO})  {verdict(ratio >= TARGET_RATIO)}")
    return running


# -- 2. latency with charts in flight --------------------------------------------------------


async def section_latency(
    api: FakeBotApi, seconds: float, counter: RenderCounter, clear_cache: bool
) -> None:
    text_rate, chart_rate = 20.0, 10.0
    print(
        f"\n2. Text latency with charts in flight: text {text_rate:.0f}/s + charts "
        f"{chart_rate:.0f}/s for {seconds:.1f} s"
        + (" (chart cache cleared before each chart question)" if clear_cache else "")
    )
    api.clear_records()
    renders0 = counter.count
    pushed: dict[int, float] = {}
    n_text = int(seconds * text_rate)
    n_chart = int(seconds * chart_rate)
    t0 = time.monotonic()

    async def texts() -> None:
        for i in range(n_text):
            await asyncio.sleep(max(0.0, t0 + i / text_rate - time.monotonic()))
            uid = LAT_USER_BASE + i
            update = api.make_private_message(TEXT_QUESTIONS[i % len(TEXT_QUESTIONS)], user_id=uid)
            pushed[uid] = time.monotonic()
            api.push_update(update)

    async def charts() -> None:
        for i in range(n_chart):
            await asyncio.sleep(max(0.0, t0 + (i + 0.5) / chart_rate - time.monotonic()))
            if clear_cache:
                chart_draw.clear_cache()
            q = CHART_QUESTIONS[i % len(CHART_QUESTIONS)]
            api.push_update(api.make_private_message(q, user_id=CHART_USER_BASE + i % USERS))

    await asyncio.gather(texts(), charts())

    def text_reply(r: RecordedRequest) -> bool:
        return r.method == "sendMessage" and chat_of(r) in pushed

    def chart_reply(r: RecordedRequest) -> bool:
        return r.method in ("sendPhoto", "sendMessage") and (chat_of(r) or 0) >= CHART_USER_BASE

    replies = await api.wait_for(text_reply, count=n_text, timeout=60)
    photos = await api.wait_for(chart_reply, count=n_chart, timeout=120)
    lat = {}
    for r in replies:
        uid = chat_of(r)
        if uid is not None and uid not in lat and r.completed_at is not None:
            lat[uid] = (r.completed_at - pushed[uid]) * 1000
    ms = list(lat.values())
    n_photo = sum(1 for r in photos if r.method == "sendPhoto")
    renders = counter.count - renders0
    p50, p99 = pct(ms, 50), pct(ms, 99)
    print(
        f"   chart answers: {n_photo} photos of {n_chart} chart questions "
        f"({len(CHART_QUESTIONS)} distinct questions); charts drawn (cache misses): {renders}, "
        f"cache hits: {n_chart - renders}"
    )
    print(f"   text replies: {len(ms)} of {n_text}")
    print(f"   text latency p50 {p50:.1f} ms, p90 {pct(ms, 90):.1f} ms, max {max(ms):.1f} ms")
    print(f"   text latency p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f})  "
          f"{verdict(p99 <= TARGET_P99_MS)}")  # fmt: skip


# -- 3. memory -------------------------------------------------------------------------------


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and its children (the bot and its chart process)."""
    total = 0
    for p in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


async def section_memory(api: FakeBotApi, db: Path, total: int, step: int) -> None:
    """`marketbot run` as its own process, as deployed: its RSS plus its chart process's."""
    print(f"\n3. Resident memory of `marketbot run` (+ its chart process) over {total:,} answers "
          "(1 in 5 a chart question)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MARKETBOT_"))}
    env |= {
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "MARKETBOT_DB": str(db),
        "MARKETBOT_USER_LIMIT": str(10**9),
        "MARKETBOT_LOG_LEVEL": "WARNING",
    }
    since = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await api.wait_for("setMyCommands", count=2, since=since, timeout=120)
        bot = psutil.Process(proc.pid)
        samples: list[tuple[int, float]] = [(0, tree_rss_mb(bot))]
        print(f"   after start-up: RSS {samples[0][1]:7.1f} MB")
        answered, batch, i = 0, 100, 0
        while answered < total:
            api.clear_records()
            for kept in (api._files, api._file_paths, api._messages, api.update_pushed_at):
                kept.clear()
            since = time.monotonic()
            for _ in range(batch):
                if i % 5 == 4:
                    q = CHART_QUESTIONS[(i // 5) % len(CHART_QUESTIONS)]
                else:
                    q = TEXT_QUESTIONS[i % len(TEXT_QUESTIONS)]
                api.push_update(api.make_private_message(q, user_id=TEXT_USER_BASE + i % USERS))
                i += 1
            await api.wait_for(
                lambda r: r.method in ("sendMessage", "sendPhoto"),
                count=batch,
                since=since,
                timeout=120,
            )
            answered += batch
            if answered % step == 0:
                samples.append((answered, tree_rss_mb(bot)))
                print(f"   after {answered:>6,} answers: RSS {samples[-1][1]:7.1f} MB")
    finally:
        proc.terminate()
        await proc.wait()
    final = samples[-1][1]
    at = dict(samples)
    ref_n = min((n for n in at if n >= 2 * step), default=samples[0][0])
    growth = (final - at[ref_n]) / at[ref_n]
    print(f"   final RSS {final:.1f} MB (target <= {TARGET_RSS_MB:.0f})  "
          f"{verdict(final <= TARGET_RSS_MB)}")  # fmt: skip
    print(
        f"   growth since {ref_n:,} answers: {final - at[ref_n]:+.1f} MB ({growth:+.1%}, "
        f"target <= {TARGET_GROWTH:.0%})  {verdict(growth <= TARGET_GROWTH)}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="questions per throughput run")
    parser.add_argument("--quick", action="store_true", help="scale everything down 10x")
    parser.add_argument("--keep-chart-cache", action="store_true",
                        help="section 2: do not clear the chart cache before chart questions")  # fmt: skip
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n = max(10, args.n // scale)
    seconds = 15.0 / scale
    total, step = 10_000 // scale, 2_000 // scale

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("marketbot").setLevel(logging.WARNING)
    counter = RenderCounter()
    print(f"bench_bot: python {sys.version.split()[0]}, RSS at start {rss_mb():.1f} MB")
    with tempfile.TemporaryDirectory(prefix="bench_bot_") as tmp:
        await section_limits(Path(tmp) / "marketbot.db")
        async with FakeBotApi() as api:
            running = await section_throughput(api, Path(tmp) / "marketbot.db", n)
            try:
                await section_latency(api, seconds, counter, not args.keep_chart_cache)
            finally:
                await stop_bot(running)
            # A store built beforehand, as a deployment has it (building it loads pandas).
            await section_memory(api, Path(tmp) / "marketbot.db", total, step)
            rejected = len(api.rejections)
            print(
                f"\nfake server rejections (last batch, records are cleared per batch): {rejected}"
            )


if __name__ == "__main__":
    asyncio.run(main())
