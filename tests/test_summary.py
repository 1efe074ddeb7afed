"""The quarterly push summary: every figure keeps its qualifier and its note, in text and in the
caption under its chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chart_spec import chart_spec
from bot.db import Store
from bot.ingest import ingest_file
from bot.models import Period
from bot.summary import CAPTION_LIMIT, TEXT_LIMIT, Summary, _fit, build_summary, visible

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


# -- what a push says, line by line -----------------------------------------------------------

SOURCE_EN = (
    "Source: Q3 2019 Pan-Automotive Industry Mini Program Report, Aladdin Research Institute, "
    "released 2019-11-11"
)
SOURCE_ZH = "来源：2019年第三季度泛汽车行业小程序报告，阿拉丁研究院，2019-11-11发布"
PUSH = {
    "en": (
        "📊 New figures: Q3 2019\n"
        "\n"
        "Automotive aftermarket mini programs\n"
        "• DAU: 27,200 users (-4.6% vs Q2 2019){note1}\n"
        "• MAU: 401,000 users (-7.0% vs Q2 2019){note1}\n"
        "\n"
        "Ride code (乘车码)\n"
        "• Alipay cities: over 200 cities\n"
        "• Alipay users: over 200 million users{note2}\n"
        "• WeChat cities: over 120 cities\n"
        "• WeChat provinces: 28 provinces\n"
        "• WeChat users: over 100 million users{note2}\n"
        "{footnotes}"
        "\n" + SOURCE_EN,
        "average per aftermarket mini program",
        "as of the report (Q3 2019)",
    ),
    "zh": (
        "📊 最新数据：2019年第三季度\n"
        "\n"
        "汽车后市场小程序\n"
        "• 日活: 2.72万人（较2019年第二季度 -4.6%）{note1}\n"
        "• 月活: 40.1万人（较2019年第二季度 -7.0%）{note1}\n"
        "\n"
        "乘车码\n"
        "• 支付宝 城市: 超过200个城市\n"
        "• 支付宝 用户: 超过2亿人{note2}\n"
        "• 微信 城市: 超过120个城市\n"
        "• 微信 省份: 28个省份\n"
        "• 微信 用户: 超过1亿人{note2}\n"
        "{footnotes}"
        "\n" + SOURCE_ZH,
        "单个后市场小程序平均",
        "截至报告发布时",
    ),
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_push_says_each_figure_with_its_change_bound_and_note(fresh_db: Store, lang: str) -> None:
    # Ride code is asked first, but the market that moved most leads (aftermarket has changes).
    summary = build_summary(fresh_db, Q3, "ride_code,aftermarket", lang)
    template, note1, note2 = PUSH[lang]
    # The full message carries each note on its figure's line ...
    assert visible(summary.html) == template.format(
        note1=f" — {note1}", note2=f" — {note2}", footnotes=""
    )
    # ... the compact one (for a caption) numbers them, and says each note once.
    assert visible(summary.short_html) == template.format(
        note1="¹", note2="²", footnotes=f"\n¹{note1}\n²{note2}\n"
    )
    assert summary.html.startswith("<b>📊 ")
    assert ("<b>over 200 million users</b>" if lang == "en" else "<b>超过2亿人</b>") in summary.html


def test_markets_are_ordered_by_how_much_they_moved_and_every_source_is_named(
    fresh_db: Store, tmp_path: Path
) -> None:
    csv = tmp_path / "survey.csv"
    csv.write_text(
        HEADER.replace(
            "note,note_zh\n", "note,note_zh,source_title,source_publisher,source_published\n"
        )
        # Overseas taxi platforms did not move (5 → 5): a 0% change still ranks above no change.
        + "platforms,overseas_taxi,alipay,2019Q2,5,=,platforms,survey-2019,,,Taxi Survey,Survey Co,2019-12-01\n"
        + "provinces,ride_code,alipay,2019Q3,25,=,provinces,survey-2019,,,Taxi Survey,Survey Co,2019-12-01\n",
        encoding="utf-8",
    )
    ingest_file(fresh_db, csv)
    summary = build_summary(fresh_db, Q3, "ride_code,overseas_taxi,aftermarket,pan_auto", "en")
    shown = visible(summary.html)
    titles = [line for line in shown.splitlines() if line and line[0] not in "📊•"]
    assert titles == [
        "Pan-automotive mini programs",  # +42.2%
        "Automotive aftermarket mini programs",  # -7.0% at most
        "Overseas Taxi (境外打车)",  # 0.0%
        "Ride code (乘车码)",  # no change
        SOURCE_EN,
        "Source: Taxi Survey, Survey Co, released 2019-12-01",
    ]
    assert (
        "• Alipay platforms: 5 platforms (0.0% vs Q2 2019) — overseas taxi platforms integrated"
        in shown
    )
    assert "• Alipay provinces: 25 provinces" in shown


def test_a_push_for_a_quarter_says_that_quarter_when_a_later_one_is_stored(
    fresh_db: Store,
) -> None:
    ingest_file(fresh_db, Path("data/sample-ingest.csv"))  # adds Q4 2019
    summary = build_summary(fresh_db, Q3, "*", "en")
    shown = visible(summary.html)
    assert "• users: 283 million users (+42.2% vs Q2 2019)" in shown
    assert "301 million" not in shown and "Q4 2019" not in shown
    spec = chart_spec(summary.chart, labels=fresh_db.vocabulary.label)
    assert spec is not None and spec.labels == ("Q2 2019", "Q3 2019")


def test_segments_without_figures_for_the_quarter_are_left_out(fresh_db: Store) -> None:
    # Ride code has no Q2 2019 figure: no empty heading, and the markets after it still come.
    summary = build_summary(fresh_db, Period(2019, 2), "ride_code,pan_auto", "en")
    assert summary.short_html == summary.html  # no notes: no footnotes either
    assert visible(summary.html) == (
        "📊 New figures: Q2 2019\n\nPan-automotive mini programs\n• users: 199 million users\n\n"
        + SOURCE_EN
    )


# What the push's chart draws (the delivery renders chart_spec(summary.chart) with the store's
# labels): the market that leads, the series that changed, else a like-for-like comparison.
CHARTS = {
    ("*", "en"): (
        "Pan-automotive mini programs · users",
        ("Q2 2019", "Q3 2019"),
        ("199M", "283M"),
        ("+42.2%",),
        "",
    ),
    ("*", "zh"): (
        "泛汽车小程序 · 用户数（人）",
        ("2019年第二季度", "2019年第三季度"),
        ("1.99亿", "2.83亿"),
        ("+42.2%",),
        "",
    ),
    ("aftermarket", "en"): (
        "Automotive aftermarket mini programs · daily active users (DAU)",
        ("Q2 2019", "Q3 2019"),
        ("28.5K", "27.2K"),
        ("-4.6%",),
        "Average per aftermarket mini program",
    ),
    ("aftermarket", "zh"): (
        "汽车后市场小程序 · 日活跃用户（日活），单位：人",
        ("2019年第二季度", "2019年第三季度"),
        ("2.85万", "2.72万"),
        ("-4.6%",),
        "单个后市场小程序平均",
    ),
    ("ride_code", "en"): (
        "Ride code (乘车码) · cities covered, Q3 2019",
        ("Alipay", "WeChat"),
        ("200+", "120+"),
        (),
        "",
    ),
    ("ride_code", "zh"): (
        "乘车码 · 覆盖城市（个城市），2019年第三季度",
        ("支付宝", "微信"),
        ("200+", "120+"),
        (),
        "",
    ),
}


@pytest.mark.parametrize(("topics", "lang"), list(CHARTS))
def test_the_push_chart_shows_the_leading_market_with_its_bounds_and_note(
    fresh_db: Store, topics: str, lang: str
) -> None:
    summary = build_summary(fresh_db, Q3, topics, lang)
    spec = chart_spec(summary.chart, labels=fresh_db.vocabulary.label)
    assert spec is not None
    title, labels, value_labels, pcts, subtitle = CHARTS[topics, lang]
    assert (spec.title, spec.labels, spec.value_labels, spec.pcts, spec.subtitle) == (
        title,
        labels,
        value_labels,
        pcts,
        subtitle,
    )
    assert spec.lower_bounds == ((True, True) if topics == "ride_code" else (False, False))


def test_a_push_whose_figures_make_no_chart_has_none(fresh_db: Store) -> None:
    # Overseas taxi has one figure per metric: nothing to compare, so no picture.
    assert build_summary(fresh_db, Q3, "overseas_taxi", "en").chart is None


def test_more_notes_than_marks_share_the_last_mark(fresh_db: Store, tmp_path: Path) -> None:
    # Eleven figures with eleven notes (pan-auto's own users series is left alone).
    combos = [
        (m, p)
        for m in ("users", "mau", "dau", "cities", "provinces", "countries")
        for p in ("", "wechat")
    ][1:]
    rows = [
        f"{metric},pan_auto,{platform},2020Q1,{(i + 1) * 1000},=,users,"
        f"aladdin-2019q3-pan-auto,note {i + 1},注{i + 1}\n"
        for i, (metric, platform) in enumerate(combos)
    ]
    csv = tmp_path / "notes.csv"
    csv.write_text(HEADER + "".join(rows), encoding="utf-8")
    ingest_file(fresh_db, csv)
    shown = visible(build_summary(fresh_db, Period(2020, 1), "pan_auto", "en").short_html)
    marks = [line.rsplit(" users", 1)[1] for line in shown.splitlines() if line.startswith("•")]
    assert marks == ["¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹", "*", "*"]
    footnotes = [line for line in shown.splitlines() if line[:1] in "¹²³⁴⁵⁶⁷⁸⁹*" and line]
    assert [f[:1] for f in footnotes] == marks
    # Each footnote is the note of the line that carries its mark (value i × 1,000: note i).
    for line in shown.splitlines():
        if line.startswith("•"):
            i = int(line.split(": ")[1].split(" ")[0].replace(",", "")) // 1000
            assert f"{line[-1]}note {i}" in footnotes


def test_compact_names_are_used_for_metrics_and_platforms(fresh_db: Store) -> None:
    # The push lists figures as "WeChat DAU", not "WeChat daily active users (DAU)".
    with fresh_db.transaction() as conn:
        conn.execute("UPDATE terms SET short_en = 'WX' WHERE kind = 'platform' AND key = 'wechat'")
        fresh_db.bump_vocabulary()
    shown = visible(build_summary(fresh_db, Q3, "ride_code", "en").html)
    assert "• WX provinces: 28 provinces" in shown
    assert "• Alipay cities: over 200 cities" in shown


@pytest.mark.parametrize(
    ("text", "used"),
    [
        ("x" * CAPTION_LIMIT, "full"),  # exactly Telegram's limit still fits
        ("x" * (CAPTION_LIMIT + 1), "short"),
        (
            "<b>" + "x" * (CAPTION_LIMIT - 4) + "</b> &amp;",
            "full",
        ),  # tags are not shown, &amp; is one
        ("<b>" + "x" * (CAPTION_LIMIT - 1) + "</b> &amp;", "short"),
    ],
)
def test_the_caption_counts_what_telegram_shows(text: str, used: str) -> None:
    summary = Summary(html=text, short_html="short")
    assert summary.caption() == (text if used == "full" else "short")
    assert Summary(html=text, short_html="y" * (CAPTION_LIMIT + 1)).caption() == (
        text if used == "full" else None
    )


@pytest.mark.parametrize(
    ("limit", "kept"),
    [
        (36, "<b>aaaaaaaaaa</b>\nbbbbbbbbbb\ncccccccccc\nsrc"),  # fits exactly: unchanged
        (35, "<b>aaaaaaaaaa</b>\nbbbbbbbbbb\n…\nsrc"),
        (27, "<b>aaaaaaaaaa</b>\nbbbbbbbbbb\n…\nsrc"),  # the cut text fits exactly
        (26, "<b>aaaaaaaaaa</b>\n…\nsrc"),
        (5, "…\nsrc"),  # nothing fits but the source
    ],
)
def test_a_long_push_loses_whole_lines_from_the_end_and_keeps_its_source(
    limit: int, kept: str
) -> None:
    assert _fit("<b>aaaaaaaaaa</b>\nbbbbbbbbbb\ncccccccccc\nsrc", limit) == kept


def test_a_push_longer_than_a_message_is_cut_to_fit(fresh_db: Store, tmp_path: Path) -> None:
    combos = [
        (m, p)
        for m in ("users", "mau", "dau", "cities", "provinces", "countries")
        for p in ("", "wechat")
    ][1:]
    rows = [
        f"{metric},pan_auto,{platform},2020Q1,{i + 1},=,users,aladdin-2019q3-pan-auto,"
        f'"{LONG_NOTE} {"x" * 300} {i}",注\n'
        for i, (metric, platform) in enumerate(combos)
    ]
    csv = tmp_path / "long.csv"
    csv.write_text(HEADER + "".join(rows), encoding="utf-8")
    ingest_file(fresh_db, csv)
    summary = build_summary(fresh_db, Period(2020, 1), "pan_auto", "en")
    for text in (summary.html, summary.short_html):
        shown = visible(text)
        # Cut at a whole line, no more than needed: one more line (~430 characters) would not fit.
        assert TEXT_LIMIT - 440 < len(shown) <= TEXT_LIMIT
        lines = shown.splitlines()
        assert lines[:3] == ["📊 New figures: Q1 2020", "", "Pan-automotive mini programs"]
        assert lines[-2:] == ["…", SOURCE_EN]
    # The full form loses whole figure lines, each with its note; the short form keeps every
    # figure line and loses whole footnotes.
    full, short = visible(summary.html).splitlines(), visible(summary.short_html).splitlines()
    kept = full[3:-2]
    assert kept and all(line.startswith("•") and len(line) > 400 for line in kept)
    figures = [line for line in short if line.startswith("•")]
    assert len(figures) == len(combos)
    assert figures[: len(kept)] == [
        line.split(" — ")[0] + mark for line, mark in zip(kept, "¹²³⁴⁵⁶⁷⁸⁹", strict=False)
    ]


@pytest.mark.parametrize(("lang", "said"), [("en", "(~+6.0% vs Q3 2019)"), ("zh", "~+6.0%")])
def test_a_push_marks_a_change_from_an_about_figure(
    fresh_db: Store, tmp_path: Path, lang: str, said: str
) -> None:
    csv = tmp_path / "about.csv"
    csv.write_text(
        HEADER + "users,pan_auto,,2019Q4,300000000,~,users,aladdin-2019q3-pan-auto,,\n",
        encoding="utf-8",
    )
    ingest_file(fresh_db, csv)
    shown = visible(build_summary(fresh_db, Period(2019, 4), "pan_auto", lang).html)
    line = next(x for x in shown.splitlines() if x.startswith("•"))
    assert said in line
    assert ("about 300 million" if lang == "en" else "约3亿") in line


def test_a_market_with_more_series_than_one_reply_shows_is_still_pushed(
    fresh_db: Store, tmp_path: Path
) -> None:
    # Aftermarket gets eleven more Q3 series (users on new platforms): thirteen, one more than
    # a reply lists. The push still reports the market, every figure of it.
    csv = tmp_path / "wide.csv"
    csv.write_text(
        HEADER
        + "".join(
            f"users,aftermarket,p{i:02d},2019Q3,{1000 + i},=,users,aladdin-2019q3-pan-auto,,\n"
            for i in range(1, 12)
        ),
        encoding="utf-8",
    )
    ingest_file(fresh_db, csv, new_keys=True)
    shown = visible(build_summary(fresh_db, Q3, "aftermarket", "en").html)
    assert "Automotive aftermarket mini programs" in shown
    lines = [x for x in shown.splitlines() if x.startswith("•")]
    assert len(lines) == 13
    assert lines[:2] == [
        "• DAU: 27,200 users (-4.6% vs Q2 2019) — average per aftermarket mini program",
        "• MAU: 401,000 users (-7.0% vs Q2 2019) — average per aftermarket mini program",
    ]
    assert lines[2:] == [f"• p{i:02d} users: {1000 + i:,} users" for i in range(1, 12)]
