"""Answer latency and other writers' waits while a large ingest runs in another process
(issue 11 part 2).

Run: python benchmarks/bench_ingest_concurrency.py [--rows 1000000] [--chunk-rows N]

`--chunk-rows 0` writes the whole file in one transaction: the baseline the chunked write
(Store.swap_in) is measured against.

A script, not a test: it prints figures with PASS/FAIL against each target and exits 0.
One process ingests N synthetic figures (`plan_ingest`: validate and stage outside the write
lock; `apply_ingest`: the write, in chunks) into a store while this process answers the
question mix of bench_answer.py (not-found questions write an `unanswered` row) in a loop,
and a thread writes one `unanswered` row every 20 ms through its own connection, as the bot's
writer does, timing how long each write waited for the lock.
Every store and file lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_answer import QUESTIONS
from generate_synthetic import generate

from bot.answer import ask
from bot.db import CHUNK_ROWS, CHUNK_SECONDS, open_store
from bot.format import render_text

TARGET_P99_MS = 200.0
TARGET_WORST_MS = 1000.0
TARGET_WRITE_WORST_MS = 1000.0  # "keeps the writer lock only briefly"

INGESTER = """
import json, sys, time
from bot import db
from bot.db import open_store
from bot.ingest import apply_ingest, plan_ingest
db.CHUNK_ROWS = int(sys.argv[3]) if int(sys.argv[3]) > 0 else 10**12  # 0: one transaction
store = open_store(sys.argv[1])
t0 = time.perf_counter()
plan = plan_ingest(store, sys.argv[2])
t1 = time.perf_counter()
print(json.dumps({"event": "swap", "at": time.time()}), flush=True)
apply_ingest(store, plan)
t2 = time.perf_counter()
print(json.dumps({"plan_s": t1 - t0, "swap_s": t2 - t1, "added": plan.added,
                  "end": time.time()}), flush=True)
"""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic figures")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="new figures per write transaction (0: all in one, the baseline)",
    )
    args = parser.parse_args(argv)
    chunk = CHUNK_ROWS if args.chunk_rows is None else args.chunk_rows
    print(
        f"answers during a {args.rows:,}-row ingest in another process — {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.2f}; "
        + (
            f"chunked write (first {chunk:,} rows, then ~{CHUNK_SECONDS} s per transaction)"
            if chunk > 0
            else "one write transaction"
        )
    )
    with tempfile.TemporaryDirectory(prefix="marketbot-bench-") as tmpdir:
        tmp = Path(tmpdir)
        csv = generate(tmp / "synthetic.csv", args.rows)
        db = tmp / "store.db"
        store = open_store(db)
        for q in QUESTIONS:  # warm up: imports, caches, the vocabulary
            render_text(ask(q, store), store.vocabulary)
        proc = subprocess.Popen(
            [sys.executable, "-c", INGESTER, str(db), str(csv), str(chunk)],
            stdout=(tmp / "events.jsonl").open("w"),
            stderr=(tmp / "stderr.txt").open("w"),
        )
        times: list[tuple[float, float]] = []  # (wall clock at start, seconds taken)
        waits: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=write_probe, args=(db, stop, waits))
        probe.start()
        i = 0
        while proc.poll() is None:
            q = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            at = time.time()
            start = time.perf_counter()
            render_text(ask(q, store), store.vocabulary)
            times.append((at, time.perf_counter() - start))
            time.sleep(0.002)  # a steady stream of questions, not a busy loop
        stop.set()
        probe.join()
        out = (tmp / "events.jsonl").read_text()
        err = (tmp / "stderr.txt").read_text()
        store.close()
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or len(events) < 2:
            print(f"  ! the ingest failed ({proc.returncode}): {err.strip()[-500:]}")
            return 0
        swap_at, done = events[0]["at"], events[1]
        every = np.array([t for _, t in times]) * 1000
        during_swap = np.array([t for at, t in times if at >= swap_at]) * 1000
        p99, worst = float(np.percentile(every, 99)), float(every.max())
        print(
            f"  ingest: {done['added']:,} added; plan (validate + stage, no write lock) "
            f"{done['plan_s']:.1f} s; write {done['swap_s']:.2f} s"
        )
        print(
            f"  {len(every):,} answers during the ingest: median {np.median(every):.2f} ms, "
            f"p99 {p99:.1f} ms, worst {worst:.1f} ms"
        )
        writes = np.array(waits) * 1000
        w99, wworst = float(np.percentile(writes, 99)), float(writes.max())
        print(
            f"  {len(writes):,} writes by another connection: median {np.median(writes):.2f} ms, "
            f"p99 {w99:.1f} ms, worst wait for the lock {wworst:.1f} ms"
        )
        if len(during_swap):
            print(
                f"  {len(during_swap):,} answers during the write: worst {during_swap.max():.1f} ms"
            )
        print(f"  {verdict(p99 <= TARGET_P99_MS)}  answer p99 {p99:.1f} ms (≤ {TARGET_P99_MS} ms)")
        print(
            f"  {verdict(worst <= TARGET_WORST_MS)}  answer worst {worst:.1f} ms "
            f"(≤ {TARGET_WORST_MS} ms)"
        )
        print(
            f"  {verdict(wworst <= TARGET_WRITE_WORST_MS)}  other writers' worst wait "
            f"{wworst:.1f} ms (≤ {TARGET_WRITE_WORST_MS} ms)"
        )
    return 0


def write_probe(db: Path, stop: threading.Event, waits: list[float]) -> None:
    """One small write every 20 ms, as the bot's writer makes them; records each wait."""
    conn = sqlite3.connect(db, timeout=120, isolation_level=None)
    try:
        while not stop.is_set():
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            waits.append(time.perf_counter() - start)
            conn.execute(
                "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                "VALUES ('probe', 'probe', 'not_found', 'private', '2026-01-01')"
            )
            conn.execute("COMMIT")
            stop.wait(0.02)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
