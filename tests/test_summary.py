"""The quarterly push summary: every figure keeps its qualifier and its note, in text and in the
caption under its chart."""

from __future__ import annotations

from pathlib import Path

from bot.db import Store
from bot.ingest import ingest_file
from bot.models import Period
from bot.summary import CAPTION_LIMIT, build_summary, visible

Q3 = Period(2019, 3)
LONG_NOTE = (
    "average per aftermarket mini program across the maintenance, parts, car-wash and "
    "insurance services the report surveyed"
)
HEADER = "metric,segment,platform,period,value,qualifier,unit,source,note,note_zh\n"


def test_notes_and_bounds_are_in_the_caption(fresh_db: Store) -> None:
    summary = build_summary(fresh_db, Q3, "*", "en")
    caption = summary.caption()
    assert caption is not None and summary.png is None and summary.chart is not None
    shown = visible(caption)
    assert "over 200 million users" in shown  # a lower bound stays a lower bound
    assert "average per aftermarket mini program" in shown


def test_a_caption_that_would_overflow_keeps_each_note_once_as_a_footnote(
    fresh_db: Store, tmp_path: Path
) -> None:
    rows = [
        f"{metric},aftermarket,{platform},2019Q3,{value},=,users,"
        f'aladdin-2019q3-pan-auto,"{LONG_NOTE}",单个后市场小程序平均\n'
        for metric, platform, value in [
            ("users", "wechat", 1000),
            ("users", "alipay", 2000),
            ("dau", "wechat", 3000),
            ("dau", "alipay", 4000),
            ("mau", "wechat", 5000),
            ("mau", "alipay", 6000),
        ]
    ]
    csv = tmp_path / "more.csv"
    csv.write_text(HEADER + "".join(rows), encoding="utf-8")
    ingest_file(fresh_db, csv)
    summary = build_summary(fresh_db, Q3, "aftermarket", "en")
    assert len(visible(summary.html)) > CAPTION_LIMIT  # the full form would not fit
    caption = summary.caption()
    assert caption is not None
    shown = visible(caption)
    assert shown.count(LONG_NOTE) == 1
    assert "¹average per aftermarket mini program\n" in shown + "\n"  # the report's own note
    figure_lines = [line for line in shown.splitlines() if line.startswith("•")]
    assert len(figure_lines) == 8 and all(line[-1] in "¹²" for line in figure_lines)
