"""Chart speed and memory: render time, cached repeats and RSS growth, against targets.

Run: PYTHONPATH=. python benchmarks/bench_chart.py [--renders 200] [--soak 2000]
A script, not a test: it prints figures and PASS/FAIL, and exits 1 if a target fails.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import chart_draw
from bot.models import Answer, Change, Fact, Period, Query, Source

TARGET_RENDER_MEDIAN_MS = 60.0
TARGET_CACHED_US = 1000.0
TARGET_RSS_MB = 10.0

SOURCE = Source(
    id="aladdin-2019q3-pan-auto",
    title="Q3 2019 Pan-Automotive Industry Mini Program Report",
    publisher="Aladdin Research Institute",
    published="2019-11-11",
    title_zh="2019年第三季度泛汽车行业小程序报告",
    publisher_zh="阿拉丁研究院",
)
Q2, Q3 = Period(2019, 2), Period(2019, 3)


def answer(i: int) -> Answer:
    """The i-th of a rotation of chart shapes, its figures varied by i so the cache misses."""
    kind = i % 4
    lang = "zh" if i % 3 == 0 else "en"
    if kind == 0:  # two quarters, with the change
        a, b = 28_500 + i, 27_200 + 3 * i
        facts = [
            Fact("dau", "aftermarket", None, Q2, a, "=", "users", SOURCE),
            Fact("dau", "aftermarket", None, Q3, b, "=", "users", SOURCE),
        ]
        changes = [Change("dau", "aftermarket", None, Q2, Q3, a, b, (b - a) / a * 100)]
        return Answer(Query("q", comparison="change", lang=lang), "answered", facts, changes)
    if kind == 1:  # two platforms, lower bounds
        facts = [
            Fact("users", "ride_code", "wechat", Q3, 100e6 + i * 1e5, ">", "users", SOURCE),
            Fact("users", "ride_code", "alipay", Q3, 200e6 + i * 1e5, ">", "users", SOURCE),
        ]
        return Answer(Query("q", comparison="platforms", lang=lang), "answered", facts)
    if kind == 2:  # four segments
        segs = ("pan_auto", "aftermarket", "ride_code", "overseas_taxi")
        facts = [
            Fact("mau", s, None, Q3, 1e6 * (k + 1) + i, "=", "users", SOURCE)
            for k, s in enumerate(segs)
        ]
        return Answer(Query("q", comparison="segments", lang=lang), "answered", facts)
    periods = [Period(2017 + q // 4, q % 4 + 1) for q in range(10)]  # a line
    facts = [
        Fact("dau", "aftermarket", None, p, 20_000 + 900 * k + i, "=", "users", SOURCE)
        for k, p in enumerate(periods)
    ]
    return Answer(Query("q", comparison="periods", lang=lang), "answered", facts)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def main() -> int:
    """Run the three measurements and print them with their targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--soak", type=int, default=2000)
    args = parser.parse_args()
    proc = psutil.Process()

    chart_draw.render_chart(answer(0))  # first render: imports matplotlib, loads fonts
    for i in range(1, 50):  # warm-up: every shape and language
        chart_draw.render_chart(answer(i))

    times, cpu, sizes = [], [], []
    base = 10_000
    for i in range(args.renders):
        a = answer(base + i)
        t0, c0 = time.perf_counter(), time.thread_time()
        png = chart_draw.render_chart(a)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        assert png is not None
        sizes.append(len(png))
    med, p95 = statistics.median(times), pct(times, 95)

    repeat = answer(base)  # rendered above, so cached
    cached = []
    for _ in range(2000):
        t0 = time.perf_counter()
        chart_draw.render_chart(repeat)
        cached.append((time.perf_counter() - t0) * 1e6)
    cached_med = statistics.median(cached)

    # Fill the PNG cache to its bound first, so the soak measures leaks, not the cache.
    for i in range(chart_draw.CACHE_MAX + 50):
        chart_draw.render_chart(answer(50_000 + i))
    gc.collect()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    for i in range(args.soak):
        chart_draw.render_chart(answer(100_000 + i))
    soak_s = time.perf_counter() - t0
    gc.collect()
    growth_mb = (proc.memory_info().rss - rss0) / 2**20

    ok = [
        med <= TARGET_RENDER_MEDIAN_MS,
        cached_med <= TARGET_CACHED_US,
        growth_mb <= TARGET_RSS_MB,
    ]
    rss_now = proc.memory_info().rss / 2**20
    load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
    lines = [
        f"machine: {psutil.cpu_count()} cores, load average {load} (wall times include waits)",
        f"uncached render ({args.renders}): median {med:.1f} ms, p95 {p95:.1f} ms "
        f"(CPU median {statistics.median(cpu):.1f} ms; PNG {min(sizes) / 1024:.0f}-"
        f"{max(sizes) / 1024:.0f} KB)   target median <= {TARGET_RENDER_MEDIAN_MS:.0f} ms  "
        f"{verdict(ok[0])}",
        f"cached repeat (2000): median {cached_med:.1f} us   "
        f"target <= {TARGET_CACHED_US:.0f} us  {verdict(ok[1])}",
        f"RSS growth over {args.soak} renders: {growth_mb:+.1f} MB ({args.soak / soak_s:.0f} "
        f"renders/s, RSS now {rss_now:.0f} MB, {chart_draw.cache_size()} PNGs cached)   "
        f"target <= {TARGET_RSS_MB:.0f} MB  {verdict(ok[2])}",
    ]
    print("\n".join(lines))
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
