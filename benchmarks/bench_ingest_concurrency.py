"""Answer latency while a large ingest runs in another process (issue 11 part 2).

Run: python benchmarks/bench_ingest_concurrency.py [--rows 1000000]

A script, not a test: it prints figures with PASS/FAIL against each target and exits 0.
One process ingests N synthetic figures (`plan_ingest`: validate and stage outside the write
lock; `apply_ingest`: the short swap transaction) into a store while this process answers the
question mix of bench_answer.py (not-found questions write an `unanswered` row) in a loop.
Every store and file lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_answer import QUESTIONS
from generate_synthetic import generate

from bot.answer import ask
from bot.db import open_store
from bot.format import render_text

TARGET_P99_MS = 200.0
TARGET_WORST_MS = 1000.0

INGESTER = """
import json, sys, time
from bot.db import open_store
from bot.ingest import apply_ingest, plan_ingest
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
    args = parser.parse_args(argv)
    print(
        f"answers during a {args.rows:,}-row ingest in another process — {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="marketbot-bench-") as tmpdir:
        tmp = Path(tmpdir)
        csv = generate(tmp / "synthetic.csv", args.rows)
        db = tmp / "store.db"
        store = open_store(db)
        for q in QUESTIONS:  # warm up: imports, caches, the vocabulary
            render_text(ask(q, store), store.vocabulary)
        proc = subprocess.Popen(
            [sys.executable, "-c", INGESTER, str(db), str(csv)],
            stdout=(tmp / "events.jsonl").open("w"),
            stderr=(tmp / "stderr.txt").open("w"),
        )
        times: list[tuple[float, float]] = []  # (wall clock at start, seconds taken)
        i = 0
        while proc.poll() is None:
            q = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            at = time.time()
            start = time.perf_counter()
            render_text(ask(q, store), store.vocabulary)
            times.append((at, time.perf_counter() - start))
            time.sleep(0.002)  # a steady stream of questions, not a busy loop
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
            f"{done['plan_s']:.1f} s; swap transaction {done['swap_s']:.2f} s"
        )
        print(
            f"  {len(every):,} answers during the ingest: median {np.median(every):.2f} ms, "
            f"p99 {p99:.1f} ms, worst {worst:.1f} ms"
        )
        if len(during_swap):
            print(
                f"  {len(during_swap):,} answers during the swap: worst {during_swap.max():.1f} ms"
            )
        print(f"  {verdict(p99 <= TARGET_P99_MS)}  answer p99 {p99:.1f} ms (≤ {TARGET_P99_MS} ms)")
        print(
            f"  {verdict(worst <= TARGET_WORST_MS)}  answer worst {worst:.1f} ms "
            f"(≤ {TARGET_WORST_MS} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
