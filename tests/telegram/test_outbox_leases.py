"""Push leases with real processes: kill -9 of a deliverer loses nothing, a second deliverer
refuses while one is live (no duplicates), and recovery re-queues only expired leases."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

from bot import subscriptions
from bot.db import Store
from bot.outbox import OutboxQueue
from tests.fake_bot_api import FakeBotApi
from tests.telegram.test_run import env_for, start_run

CHATS = list(range(30_001, 30_041))


def delivered(api: FakeBotApi) -> Counter:
    return Counter(
        int(r.params["chat_id"])
        for r in api.requests
        if r.method in ("sendPhoto", "sendMessage") and r.ok and int(r.params["chat_id"]) in CHATS
    )


def queue_push_to(store: Store, chats: list[int]) -> None:
    for chat in chats:
        subscriptions.subscribe(store, chat, "*")
    subscriptions.queue_push(store)


async def push_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "push",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def kill_9(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process, and its chart process too (as systemd kills the whole unit): that
    worker does not notice its parent's death and would keep the output pipes open."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    await proc.wait()


async def wait_delivered(api: FakeBotApi, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sum(delivered(api).values()) < n:
        assert time.monotonic() < deadline, f"only {sum(delivered(api).values())} delivered"
        await asyncio.sleep(0.05)


def sending(db: Path) -> set[int]:
    store = Store(db)
    try:
        rows = store.conn.execute("SELECT chat_id FROM outbox WHERE state = 'sending'")
        return {c for (c,) in rows}
    finally:
        store.close()


async def test_kill_9_of_a_drain_then_drain_again_loses_nothing(
    fake_api: FakeBotApi, fresh_db: Store, db_path: Path
) -> None:
    queue_push_to(fresh_db, CHATS)
    fake_api.delay_seconds = 0.3  # slow uploads: many sends in flight at the kill
    env = env_for(fake_api, db_path)
    proc = await push_cli(env, "--drain")
    try:
        await wait_delivered(fake_api, 8)
    finally:
        await kill_9(proc)
    in_flight = sending(db_path)
    assert 0 < len(in_flight) <= 20  # at most the drain's concurrency
    await asyncio.sleep(0.5)  # the server finishes what it had taken

    fake_api.delay_seconds = 0.0
    again = await push_cli(env, "--drain")
    out, err = await asyncio.wait_for(again.communicate(), 90)
    assert again.returncode == 0, err.decode()
    got = delivered(fake_api)
    assert set(got) == set(CHATS)  # none lost
    twice = {c for c, n in got.items() if n > 1}
    assert twice <= in_flight  # only those in flight at the kill may arrive twice
    assert max(got.values()) <= 2
    assert "delivered     40" in out.decode()


async def test_second_deliverer_refuses_while_the_bot_delivers_and_kill_9_of_the_bot(
    fake_api: FakeBotApi, fresh_db: Store, db_path: Path
) -> None:
    queue_push_to(fresh_db, CHATS)
    fake_api.delay_seconds = 0.3
    env = env_for(fake_api, db_path)
    bot = await start_run(env)
    try:
        await wait_delivered(fake_api, 5, timeout=90)
        drain = await push_cli(env, "--drain")
        _out, err = await asyncio.wait_for(drain.communicate(), 60)
        assert drain.returncode == 1
        assert "marketbot run (pid" in err.decode() and "Not draining" in err.decode()
        assert not dict(delivered(fake_api)) or max(delivered(fake_api).values()) == 1
        await wait_delivered(fake_api, 15)
    finally:
        await kill_9(bot)
    in_flight = sending(db_path)
    assert len(in_flight) <= 20

    fake_api.delay_seconds = 0.0
    drain = await push_cli(env, "--drain")
    _out, err = await asyncio.wait_for(drain.communicate(), 90)
    assert drain.returncode == 0, err.decode()
    got = delivered(fake_api)
    assert set(got) == set(CHATS)
    assert {c for c, n in got.items() if n > 1} <= in_flight


def test_recovery_requeues_only_expired_or_orphaned_leases(fresh_db: Store) -> None:
    queue_push_to(fresh_db, CHATS[:8])
    mine = OutboxQueue(fresh_db)
    assert mine.register() is None
    held = mine.claim(2)  # a live deliverer's rows (this process)
    assert len(held) == 2
    conn = fresh_db.conn
    later, earlier = time.time() + 60, time.time() - 1
    conn.executemany(
        "INSERT INTO deliverers (owner, kind, host, pid, started_at, lease_until) "
        "VALUES (?, 'drain', ?, ?, 0, ?)",
        [
            ("far:1:live", "elsewhere", 1, later),  # another host, lease running
            ("far:2:expired", "elsewhere", 2, earlier),  # another host, lease run out
            ("here:dead", mine.host, 2**22 + 12345, later),  # this host, process gone
        ],
    )
    pending = [r[0] for r in conn.execute("SELECT id FROM outbox WHERE state = 'pending'")]
    for row_id, owner, until in zip(
        pending,
        ["far:1:live", "far:2:expired", "here:dead", "far:1:live"],
        [later, later, later, earlier],
        strict=False,
    ):
        conn.execute(
            "UPDATE outbox SET state = 'sending', owner = ?, lease_until = ? WHERE id = ?",
            (owner, until, row_id),
        )

    other = OutboxQueue(fresh_db, kind="drain")
    assert other.register().owner in ("far:1:live", mine.owner)  # someone live: refused
    assert other.recover() == 3  # expired host, dead process, expired lease
    still = {
        row_id: owner
        for row_id, owner in conn.execute(
            "SELECT id, owner FROM outbox WHERE state = 'sending' ORDER BY id"
        )
    }
    assert still == {held[0].id: mine.owner, held[1].id: mine.owner, pending[0]: "far:1:live"}
