"""Render the example charts in docs/charts/ (run: python benchmarks/make_chart_examples.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.chart_draw import render_chart
from bot.models import Answer, Change, Fact, Period, Query, Source
from bot.vocab import shipped_vocabulary

OUT = Path(__file__).resolve().parents[1] / "docs" / "charts"

SOURCE = Source(
    id="aladdin-2019q3-pan-auto",
    title="Q3 2019 Pan-Automotive Industry Mini Program Report",
    publisher="Aladdin Research Institute",
    published="2019-11-11",
    title_zh="2019年第三季度泛汽车行业小程序报告",
    publisher_zh="阿拉丁研究院",
)
Q2, Q3 = Period(2019, 2), Period(2019, 3)


def labels(kind: str, key: str, lang: str) -> str:
    """The bot's own display names (data/terms.csv), as the bot passes them."""
    return shipped_vocabulary().label(kind, key, lang)


def dau_change(lang: str = "en") -> Answer:
    """Aftermarket DAU, Q2 → Q3 2019."""
    facts = [
        Fact("dau", "aftermarket", None, Q2, 28500, "=", "users", SOURCE),
        Fact("dau", "aftermarket", None, Q3, 27200, "=", "users", SOURCE),
    ]
    change = Change("dau", "aftermarket", None, Q2, Q3, 28500, 27200, -4.56)
    query = Query("aftermarket dau q2 vs q3", comparison="change", lang=lang)
    return Answer(query, "answered", facts=facts, changes=[change])


def ride_code_platforms(lang: str = "en") -> Answer:
    """Ride-code users on WeChat (over 100M) against Alipay (over 200M), Q3 2019."""
    facts = [
        Fact("users", "ride_code", "wechat", Q3, 100_000_000, ">", "users", SOURCE),
        Fact("users", "ride_code", "alipay", Q3, 200_000_000, ">", "users", SOURCE),
    ]
    query = Query("ride code wechat vs alipay", comparison="platforms", lang=lang)
    return Answer(query, "answered", facts=facts)


def dau_series(lang: str = "en") -> Answer:
    """Eight quarters of a made-up DAU series: drawn as a line."""
    values = [18100, 19850, 21400, 24900, 26300, 27700, 28500, 27200]
    periods = [Period(2017 + (q + 3) // 4, (q + 3) % 4 + 1) for q in range(len(values))]
    facts = [
        Fact("dau", "aftermarket", None, p, v, "=", "users", SOURCE)
        for p, v in zip(periods, values, strict=True)
    ]
    query = Query("aftermarket dau trend", comparison="periods", lang=lang)
    return Answer(query, "answered", facts=facts)


def main() -> None:
    """Write the examples and print their paths and sizes."""
    OUT.mkdir(parents=True, exist_ok=True)
    examples = {
        "period_comparison.png": dau_change("en"),
        "platform_comparison_lower_bounds.png": ride_code_platforms("en"),
        "platform_comparison_zh.png": ride_code_platforms("zh"),
        "series_line.png": dau_series("en"),
    }
    for name, answer in examples.items():
        png = render_chart(answer, labels)
        assert png is not None, name
        (OUT / name).write_bytes(png)
        print(f"{OUT / name}  {len(png) / 1024:.1f} KB")


if __name__ == "__main__":
    main()
