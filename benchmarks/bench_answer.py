"""Answer speed, `marketbot ask` cold start and ingest speed, against targets.

Run: /tmp/venv/bin/python benchmarks/bench_answer.py [--rows 1000000 | --quick]

A script, not a test: it prints figures with PASS/FAIL against each target and always
exits 0. Sections:

  A. in-process answer latency (understand + look up + format, no chart) for a fixed mix
     of questions, on the shipped store and on the shipped store plus N synthetic figures;
  B. wall time of the installed `marketbot ask` command (a new process each time);
  C. ingest of the N-row synthetic CSV into a fresh store, then the same file again.
  A'. answer p50 on the shipped store with a word taught through another connection, against
     the same store untaught (issue 13: a taught word costs nothing measurable).
  E. parse_question on 4,096-character messages (Telegram's limit) with the question anywhere:
     chatter around a question, a pasted report around one, and one question repeated.

Every store and file lives in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_synthetic import generate

from bot.answer import ask
from bot.db import Store, open_store
from bot.format import render_text
from bot.ingest import ingest_file
from bot.parse import MAX_QUESTION, parse_question
from bot.vocab import shipped_vocabulary

TARGET_MEDIAN_MS = 1.0
TARGET_P99_MS = 5.0
TARGET_FLAT_RATIO = 1.5  # "flat as the store grows": large/shipped at most this (our bar)
TARGET_COLD_S = 1.0
TARGET_INGEST_S = 30.0
TARGET_TAUGHT_RATIO = 1.10  # answer p50 after a taught word / before (issue 13)
TAUGHT_PHRASE, TAUGHT_KEY = "车圈", "pan_auto"
TAUGHT_QUESTION = "车圈 用户 三季度"
TARGET_LONG_P99_MS = 5.0  # parse of a 4,096-character message
REPORT_TEXT = Path(__file__).resolve().parents[1] / "README.md"  # a long pasted document
CHATTER = [
    "Hi team, hope everyone had a good weekend.",
    "I was reading the deck from the partner meeting yesterday.",
    "Our manager wants the slides updated before Friday afternoon.",
    "Can you double-check the footnotes as well?",
    "大家好，周末过得怎么样？",
    "我在准备明天下午的汇报材料。",
    "Thanks a lot in advance, really appreciate the help!",
    "The weather in Shanghai was terrible this morning, the metro was packed.",
    "Let me know if anything is unclear.",
]
LONG_QUESTIONS = [
    "Quick one: what was the aftermarket DAU in Q3 2019?",
    "请问泛汽车小程序用户三季度是多少？",
    "And wechat vs alipay car code cities, H1 2019?",
    "aftermaket MAU last quarter vs the same quarter last year?",
]

# A fixed mix: English, Chinese, comparisons, typos, months, and questions with no answer
# (those record an `unanswered` row: an INSERT, kept in the measured path on purpose).
QUESTIONS = [
    "aftermarket DAU Q3",
    "car code cities Alipay",
    "泛汽车小程序用户 三季度",
    "pan-car users Q2 vs Q3",
    "WeChat vs Alipay ride code users",
    "aftermarket DAU Q1 2019",  # not_found: no such quarter
    "aftermaket mau",  # typo
    "后市场 日活 环比",
    "september 2019 pan auto users",  # month phrase
    "how many cities does ride code cover on wechat",
    "乘车码 微信 覆盖省份",
    "overseas taxi countries",
    "aftermarket revenue",  # not_found: no such metric
    "DAU Q3",  # no market named
    "pan auto users 2019",
    "aftermarket MAU trend",
    "2019年9月 泛汽车 用户",  # month phrase
    "aftermarket mau q2 2019 in chinese",
    "支付宝 境外打车 接入平台",
    "what's the weather like",  # invalid
]
SYNTHETIC_QUESTION = "syn 00042 users 2010Q2"  # a synthetic series: large store only
COLD_QUESTION = "aftermarket DAU Q3"
COLD_MONTH_QUESTION = "pan auto users September 2019"

results: list[tuple[str, str, bool | None]] = []  # (what, measured, passed or None)


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def record(what: str, measured: str, ok: bool | None = None) -> None:
    results.append((what, measured, ok))
    print(f"  {what:<58} {measured:>22}  {verdict(ok)}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ms(ns: float) -> float:
    return ns / 1e6


# -- A. in-process latency ------------------------------------------------------------------


def answer_once(question: str, store: Store) -> str:
    return render_text(ask(question, store), store.vocabulary)


def measure_latency(
    store: Store, questions: list[str], calls: int, warmup_rounds: int = 20
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-question wall and CPU times (ns) of ``calls`` answers, questions round-robin.

    CPU time (this thread's) is printed beside wall time: on a shared machine a wall-time
    tail can be other processes holding the CPU, which CPU time does not count.
    """
    for _ in range(warmup_rounds):  # imports, caches, the vocabulary
        for q in questions:
            answer_once(q, store)
    wall: dict[str, list[int]] = {q: [] for q in questions}
    cpu: dict[str, list[int]] = {q: [] for q in questions}
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for i in range(calls):
        q = questions[i % len(questions)]
        c0 = cpu_clock()
        start = clock()
        render_text(ask(q, store), store.vocabulary)
        end = clock()
        c1 = cpu_clock()
        wall[q].append(end - start)
        cpu[q].append(c1 - c0)
    return _arrays(wall), _arrays(cpu)


def _arrays(times: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {q: np.array(t, dtype=np.int64) for q, t in times.items()}


def summarise(times: dict[str, np.ndarray]) -> tuple[float, float]:
    every = np.concatenate(list(times.values()))
    return ms(float(np.median(every))), ms(float(np.percentile(every, 99)))


def per_question_table(store_times: dict[str, dict[str, np.ndarray]], statuses) -> None:
    names = list(store_times)
    head = "".join(f"{n + ' med':>14}{n + ' p99':>14}" for n in names)
    print(f"  {'question':<48}{'status':<11}{head}")
    for q in QUESTIONS:
        cells = "".join(
            f"{ms(float(np.median(store_times[n][q]))):>14.3f}"
            f"{ms(float(np.percentile(store_times[n][q], 99))):>14.3f}"
            for n in names
        )
        print(f"  {q:<48}{statuses[q]:<11}{cells}")
    print("  (ms per call)")


def latency_section(
    label: str, store: Store, calls: int
) -> tuple[dict[str, np.ndarray], tuple[float, float, float, float]]:
    """Time the question mix; per-question wall times and (median, p99, CPU median, CPU p99)."""
    times, cpu = measure_latency(store, QUESTIONS, calls)
    med, p99 = summarise(times)
    cpu_med, cpu_p99 = summarise(cpu)
    n = sum(len(t) for t in times.values())
    print(
        f"\n  {label}: {store.count_facts():,} figures, {n:,} timed calls, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    record(f"A {label}: median per question", f"{med:.3f} ms", med <= TARGET_MEDIAN_MS)
    record(f"A {label}: p99 per question", f"{p99:.3f} ms", p99 <= TARGET_P99_MS)
    record(f"A {label}: CPU time median / p99", f"{cpu_med:.3f} / {cpu_p99:.3f} ms")
    return times, (med, p99, cpu_med, cpu_p99)


# -- B. cold start -------------------------------------------------------------------------


def marketbot_command() -> str | None:
    beside = Path(sys.executable).parent / "marketbot"
    if beside.exists():
        return str(beside)
    return shutil.which("marketbot")


def run_timed(cmd: list[str], env: dict[str, str], quiet: bool = False) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0 or not (quiet or done.stdout.strip()):
        print(f"  ! {' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[:300]}")
    return took, cpu


def timed_runs(
    cmd: list[str], env: dict[str, str], runs: int, quiet: bool = False
) -> tuple[float, str]:
    """Run ``cmd`` ``runs`` times: the median wall time, and "median (max, median CPU)"."""
    walls, cpus = zip(*(run_timed(cmd, env, quiet) for _ in range(runs)), strict=True)
    return statistics.median(walls), (
        f"{statistics.median(walls):.3f} s (max {max(walls):.3f}, cpu {statistics.median(cpus):.3f})"
    )


def cold_start_section(tmp: Path, runs: int, large_db: Path | None) -> None:
    print("\nB. `marketbot ask` cold start (wall time of a new process)")
    exe = marketbot_command()
    if exe is None:
        record("B marketbot command", "not found", False)
        return
    print(f"  load average {os.getloadavg()[0]:.2f}; wall time (max, median CPU user+system)")
    env = dict(os.environ, MARKETBOT_DB=str(tmp / "cli.db"))
    first, first_cpu = run_timed([exe, "ask", COLD_QUESTION], env)
    record(
        f"B first-ever run (builds the store): {COLD_QUESTION!r}",
        f"{first:.3f} s (cpu {first_cpu:.3f})",
    )
    med, text = timed_runs([exe, "ask", COLD_QUESTION], env, runs)
    record(f"B built store, median of {runs}: {COLD_QUESTION!r}", text, med <= TARGET_COLD_S)
    med, text = timed_runs([exe, "ask", COLD_MONTH_QUESTION], env, runs)
    record(f"B built store, median of {runs}: {COLD_MONTH_QUESTION!r}", text, med <= TARGET_COLD_S)
    if large_db is not None:
        env_large = dict(os.environ, MARKETBOT_DB=str(large_db))
        _, text = timed_runs([exe, "ask", COLD_QUESTION], env_large, runs)
        record(f"B large store, median of {runs}: {COLD_QUESTION!r}", text)
    _, text = timed_runs([sys.executable, "-c", "pass"], env, runs, quiet=True)
    record("B for scale: bare `python -c pass`", text)
    code = "import bot.cli, bot.db, bot.answer, bot.format"
    _, text = timed_runs([sys.executable, "-c", code], env, runs, quiet=True)
    record("B for scale: python -c 'import bot.{cli,db,answer,format}'", text)


# -- C. ingest -----------------------------------------------------------------------------


def ingest_section(csv: Path, db: Path, rows: int) -> None:
    print(f"\nC. ingest of {rows:,} synthetic figures ({csv.stat().st_size / 1e6:.1f} MB CSV)")
    store = open_store(db)  # a fresh store: the shipped figures only
    before = store.count_facts()
    start = time.perf_counter()
    result = ingest_file(store, csv)
    took = time.perf_counter() - start
    after = store.count_facts()
    print(f"  {result.summary()[:110]}…")
    record(f"C ingest {rows:,} rows into a fresh store", f"{took:.2f} s", took <= TARGET_INGEST_S)
    record(
        "C figures before → after",
        f"{before:,} → {after:,}",
        after - before == rows,
    )
    start = time.perf_counter()
    again = ingest_file(store, csv)
    took_again = time.perf_counter() - start
    final = store.count_facts()
    print(f"  {again.summary()[:110]}")
    record("C re-ingest of the same file", f"{took_again:.2f} s")
    record(
        "C no duplicates: figures after first → after second",
        f"{after:,} → {final:,}",
        final == after,
    )
    record("C peak RSS of this process so far", f"{peak_rss_mb():.0f} MB")
    store.close()


def stated_pct_probe(tmp: Path) -> None:
    """Ingest time of small files where 10% of rows state a growth rate (growth check)."""
    print("\nD. ingest with stated growth rates (10% of rows have stated_pct)")
    for rows in (5_000, 10_000, 20_000):
        for fraction in (0.0, 0.1):
            csv = generate(tmp / f"probe-{rows}-{fraction}.csv", rows, stated_pct_fraction=fraction)
            store = open_store(tmp / f"probe-{rows}-{fraction}.db")
            start = time.perf_counter()
            ingest_file(store, csv)
            record(
                f"D {rows:,} rows, stated_pct on {fraction:.0%}",
                f"{time.perf_counter() - start:.2f} s",
            )
            store.close()


# -- main ----------------------------------------------------------------------------------


def taught_section(tmp: Path, calls: int, rounds: int = 6) -> None:
    """Answer p50 of the same question mix on two copies of the shipped store, one with a word
    taught through another connection (as `marketbot teach` does beside a running bot).

    Blocks of calls alternate between the two stores so that load from other processes on a
    shared machine falls on both alike.
    """
    from bot.teaching import teach

    before = open_store(tmp / "before-teach.db")
    after = open_store(tmp / "after-teach.db")
    measure_latency(after, QUESTIONS, len(QUESTIONS), warmup_rounds=5)  # build its vocabulary
    teacher = open_store(tmp / "after-teach.db")
    teach(teacher, TAUGHT_PHRASE, TAUGHT_KEY, "bench")
    teacher.close()
    time.sleep(0.2)  # past VOCAB_RECHECK_SECONDS: the next answer rebuilds the vocabulary
    assert ask(TAUGHT_QUESTION, after, record=False).status == "answered"
    per_round = max(len(QUESTIONS), calls // rounds)
    walls: dict[str, list[np.ndarray]] = {"before": [], "after": []}
    for _ in range(rounds):
        for name, store in (("before", before), ("after", after)):
            wall, _cpu = measure_latency(store, QUESTIONS, per_round, warmup_rounds=1)
            walls[name].append(np.concatenate(list(wall.values())))
    med = {name: ms(float(np.median(np.concatenate(w)))) for name, w in walls.items()}
    taught, _ = measure_latency(after, [TAUGHT_QUESTION], 500, warmup_rounds=5)
    t_med, t_p99 = summarise(taught)
    print(
        f"\nA'. after a taught word ({TAUGHT_PHRASE} = {TAUGHT_KEY}), {rounds} alternating rounds"
    )
    record("A' median before teach / after teach", f"{med['before']:.3f} / {med['after']:.3f} ms")
    record(f"A' (extra) {TAUGHT_QUESTION!r} median / p99", f"{t_med:.3f} / {t_p99:.3f} ms")
    ratio = med["after"] / med["before"]
    record(
        f"A' answer p50 after / before teach (≤ {TARGET_TAUGHT_RATIO:.2f}x)",
        f"{ratio:.3f}x",
        ratio <= TARGET_TAUGHT_RATIO,
    )
    before.close()
    after.close()


def _long_messages(count: int, seed: int = 7) -> dict[str, list[str]]:
    """4,096-character messages: chatter (with words drawn from a report, so typo correction is
    exercised) around a question, a pasted report around one, one question repeated."""
    import random

    rng = random.Random(seed)
    report = REPORT_TEXT.read_text(encoding="utf-8") if REPORT_TEXT.exists() else ""
    words = report.split() or " ".join(CHATTER).split()

    def fill(question: str, make) -> str:
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < MAX_QUESTION - len(question):
            parts.append(make())
        parts.insert(rng.randrange(len(parts) + 1), question)
        return " ".join(parts)[:MAX_QUESTION]

    def chatter() -> str:
        if rng.random() < 0.5:
            return rng.choice(CHATTER)
        return " ".join(rng.choice(words).lower() for _ in range(8)) + "."

    def pasted() -> str:
        start = rng.randrange(max(1, len(report) - 200))
        return report[start : start + 200] if report else rng.choice(CHATTER)

    return {
        "chatter + question": [fill(rng.choice(LONG_QUESTIONS), chatter) for _ in range(count)],
        "pasted report + question": [
            fill(rng.choice(LONG_QUESTIONS), pasted) for _ in range(count)
        ],
        "one question repeated": [
            (rng.choice(LONG_QUESTIONS) + " ") * (MAX_QUESTION // 40) for _ in range(count)
        ],
    }


def long_message_section(count: int) -> None:
    """parse_question on 4,096-character messages: wall and CPU p99 against the target."""
    vocab = shipped_vocabulary()
    print(f"\nE. parse_question on {MAX_QUESTION:,}-character messages, {count} per kind")
    for kind, messages in _long_messages(count).items():
        for text in messages[:20]:  # warm-up: imports, regex compilation
            parse_question(text, vocab)
        wall, cpu = [], []
        for text in messages:
            w, c = time.perf_counter_ns(), time.process_time_ns()
            parse_question(text, vocab)
            cpu.append(time.process_time_ns() - c)
            wall.append(time.perf_counter_ns() - w)
        w_med, w_p99 = (ms(float(np.percentile(wall, q))) for q in (50, 99))
        c_med, c_p99 = (ms(float(np.percentile(cpu, q))) for q in (50, 99))
        record(
            f"E {kind}: parse median / p99",
            f"{w_med:.3f} / {w_p99:.3f} ms (CPU {c_med:.3f} / {c_p99:.3f} ms)",
            w_p99 <= TARGET_LONG_P99_MS,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic figures")
    parser.add_argument("--quick", action="store_true", help="100,000 synthetic figures")
    parser.add_argument("--calls", type=int, default=5_000, help="timed answers per store")
    parser.add_argument("--runs", type=int, default=7, help="cold-start runs per question")
    parser.add_argument(
        "--probe-stated-pct",
        action="store_true",
        help="also time small ingests with stated growth rates (section D)",
    )
    parser.add_argument(
        "--long-only", action="store_true", help="only section E (4,096-character messages)"
    )
    parser.add_argument("--long-count", type=int, default=500, help="messages per kind in E")
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    if args.long_only:
        long_message_section(args.long_count)
        _summary()
        return 0

    print(
        f"marketbot answer benchmark — {rows:,} synthetic figures, {args.calls:,} calls per "
        f"store, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="marketbot-bench-") as tmpdir:
        tmp = Path(tmpdir)
        start = time.perf_counter()
        csv = generate(tmp / "synthetic.csv", rows)
        print(f"  generated {csv.name}: {rows:,} rows in {time.perf_counter() - start:.2f} s")

        print("\nA. in-process answer latency: render_text(ask(q, store), store.vocabulary)")
        shipped = open_store(tmp / "shipped.db")
        statuses = {q: ask(q, shipped).status for q in QUESTIONS}
        shipped_times, shipped_stats = latency_section("shipped store", shipped, args.calls)
        shipped.close()
        taught_section(tmp, args.calls)

        large_db = tmp / "large.db"
        ingest_section(csv, large_db, rows)

        start = time.perf_counter()
        large = open_store(large_db)
        _ = large.vocabulary
        print(
            f"\n  reopened the large store and built its vocabulary in {time.perf_counter() - start:.3f} s"
        )
        large_times, large_stats = latency_section("shipped + synthetic", large, args.calls)
        extra, _ = measure_latency(large, [SYNTHETIC_QUESTION], 500, warmup_rounds=5)
        e_med, e_p99 = summarise(extra)
        record(
            f"A   (extra) {SYNTHETIC_QUESTION!r} median / p99",
            f"{e_med:.3f} / {e_p99:.3f} ms",
        )
        large.close()
        print()
        per_question_table({"shipped": shipped_times, "large": large_times}, statuses)
        print()
        ratio = [big / small for big, small in zip(large_stats, shipped_stats, strict=True)]
        record("A flat: median large / shipped", f"{ratio[0]:.2f}x", ratio[0] <= TARGET_FLAT_RATIO)
        record("A flat: p99 large / shipped", f"{ratio[1]:.2f}x", ratio[1] <= TARGET_FLAT_RATIO)
        record(
            "A flat, CPU time: median / p99 large / shipped", f"{ratio[2]:.2f}x / {ratio[3]:.2f}x"
        )

        cold_start_section(tmp, args.runs, large_db)
        if args.probe_stated_pct:
            stated_pct_probe(tmp)
    long_message_section(args.long_count)
    _summary()
    return 0


def _summary() -> None:
    print("\nSummary")
    for what, measured, ok in results:
        if ok is not None:
            print(f"  {verdict(ok)}  {what}: {measured}")
    print(
        f"  targets: median ≤ {TARGET_MEDIAN_MS} ms, p99 ≤ {TARGET_P99_MS} ms, "
        f"flat ≤ {TARGET_FLAT_RATIO}x (our bar), cold start ≤ {TARGET_COLD_S} s, "
        f"ingest ≤ {TARGET_INGEST_S} s, p50 after a taught word ≤ {TARGET_TAUGHT_RATIO}x before, "
        f"4,096-character parse p99 ≤ {TARGET_LONG_P99_MS} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
