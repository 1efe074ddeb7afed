"""Understand + look up + format on the shipped store: figures, honesty, follow-ups."""

import datetime as dt
import re

import pytest

from bot.answer import ask
from bot.chart_spec import chart_spec
from bot.format import answer_json, render_text
from bot.ingest import ingest_file
from bot.parse import merge_followup, parse_question

TODAY = dt.date(2026, 11, 26)


def facts(answer):
    return {
        (f.metric, f.segment, f.platform, f.period.label, f.value, f.qualifier)
        for f in answer.facts
    }


def test_single_figure_with_period_qualifier_and_source(fresh_db) -> None:
    a = ask("aftermarket DAU Q3", fresh_db)
    assert a.status == "answered"
    assert facts(a) == {("dau", "aftermarket", None, "2019Q3", 27200, "=")}
    text = render_text(a, fresh_db.vocabulary)
    assert "27,200" in text and "Q3 2019" in text
    assert "Aladdin Research Institute" in text and "2019-11-11" in text
    assert "average per aftermarket mini program" in text


def test_lower_bound_is_never_a_plain_number(fresh_db) -> None:
    a = ask("car code cities Alipay", fresh_db)
    assert facts(a) == {("cities", "ride_code", "alipay", "2019Q3", 200, ">")}
    text = render_text(a, fresh_db.vocabulary)
    assert "over 200 cities" in text
    assert "latest available" in text  # no period asked: said so


def test_chinese_question_gets_chinese_numbers(fresh_db) -> None:
    a = ask("泛汽车小程序用户 三季度", fresh_db)
    assert facts(a) == {("users", "pan_auto", None, "2019Q3", 283_000_000, "=")}
    text = render_text(a, fresh_db.vocabulary)
    assert "2.83亿" in text and "来源" in text and "阿拉丁研究院" in text


def test_period_comparison_has_change(fresh_db) -> None:
    a = ask("pan-car users Q2 vs Q3", fresh_db)
    assert [(c.from_period.label, c.to_period.label, round(c.pct, 1)) for c in a.changes] == [
        ("2019Q2", "2019Q3", 42.2)
    ]
    text = render_text(a, fresh_db.vocabulary)
    assert "+42.2%" in text and "the report states +42.2%" in text


def test_change_word_compares_with_previous_period(fresh_db) -> None:
    a = ask("aftermarket MAU QoQ", fresh_db)
    assert [(c.from_value, c.to_value, round(c.pct, 1)) for c in a.changes] == [
        (431300, 401000, -7.0)
    ]


def test_platform_comparison_keeps_asked_order(fresh_db) -> None:
    a = ask("ride code users WeChat vs Alipay", fresh_db)
    assert [f.platform for f in a.facts] == ["wechat", "alipay"]
    assert a.query.comparison == "platforms"
    assert not a.changes  # lower bounds: no % change invented


def test_mixed_language_comparison_keeps_asked_order(fresh_db) -> None:
    # Chinese and latin words are read apart; their order in the question is kept.
    a = ask("乘车码 wechat vs 支付宝 用户", fresh_db)
    assert [f.platform for f in a.facts] == ["wechat", "alipay"]
    assert a.query.comparison == "platforms"


def test_no_platform_answers_all_platforms(fresh_db) -> None:
    a = ask("ride code cities", fresh_db)
    assert {f.platform for f in a.facts} == {"wechat", "alipay"}


def test_missing_period_is_not_found_and_lists_what_exists(fresh_db) -> None:
    for q in (
        "aftermarket DAU Q1 2019",
        "aftermarket DAU last quarter of 2019",
        "aftermarket DAU 2018",
    ):
        a = ask(q, fresh_db, today=TODAY)
        assert a.status == "not_found", q
        assert a.facts == [], q
        assert a.available == ["2019Q2", "2019Q3"], q
        text = render_text(a, fresh_db.vocabulary)
        assert "Q2 2019" in text and "27,200" not in text


def test_bare_quarter_means_latest_year_with_it(fresh_db) -> None:
    assert ask("aftermarket DAU Q2", fresh_db).facts[0].period.label == "2019Q2"
    assert ask("aftermarket DAU Q1", fresh_db).status == "not_found"


def test_ambiguous_metric_asks_which_market(fresh_db) -> None:
    a = ask("users Q3", fresh_db)
    assert a.status == "ambiguous" and not a.facts
    assert any("pan-auto" in s for s in a.suggestions)
    assert any("ride code" in s for s in a.suggestions)


def test_unknown_metric_is_not_answered_with_another(fresh_db) -> None:
    a = ask("aftermarket revenue Q3", fresh_db)
    assert a.status == "not_found" and not a.facts
    assert "aftermarket DAU 2019Q3" in a.suggestions


def test_invalid_period_and_nonsense(fresh_db) -> None:
    assert ask("aftermarket DAU Q5", fresh_db).status == "invalid"
    nonsense = ask("purple elephants dancing", fresh_db)
    assert nonsense.status == "invalid" and nonsense.suggestions
    assert ask("   ", fresh_db).status == "invalid"


def test_typos_and_synonyms(fresh_db) -> None:
    assert facts(ask("aftermaket monthly actives 2019Q2", fresh_db)) == {
        ("mau", "aftermarket", None, "2019Q2", 431300, "=")
    }
    assert facts(ask("后市场 日活 二季度", fresh_db)) == {
        ("dau", "aftermarket", None, "2019Q2", 28500, "=")
    }


def test_characteristics_are_retrievable_text(fresh_db) -> None:
    a = ask("aftermarket characteristics", fresh_db)
    assert a.status == "answered" and len(a.notes) == 3
    assert "regionalised" in render_text(a, fresh_db.vocabulary)
    assert "地域" in render_text(ask("后市场 特点", fresh_db), fresh_db.vocabulary)


def test_html_escapes_everything(fresh_db) -> None:
    for q in ("<b>aftermarket</b> & DAU <i Q3", "<script> & revenue aftermarket", "a<b & c>d"):
        text = render_text(ask(q, fresh_db), fresh_db.vocabulary, html=True)
        assert set(re.findall(r"<[^>]*>", text)) <= {"<b>", "</b>", "<i>", "</i>"}, text
        assert not re.search(r"&(?!(lt|gt|amp|quot);)", text), text


def test_followups_reuse_the_previous_question(fresh_db) -> None:
    vocab = fresh_db.vocabulary
    first = parse_question("aftermarket DAU Q3", vocab)
    again = merge_followup(first, parse_question("and Q2?", vocab))
    assert again.metrics == ("dau",) and again.periods[0].quarter == 2
    vs = merge_followup(
        parse_question("ride code users wechat", vocab), parse_question("vs Alipay", vocab)
    )
    assert vs.platforms == ("wechat", "alipay") and vs.comparison == "platforms"
    zh = merge_followup(first, parse_question("in Chinese", vocab))
    assert zh.lang == "zh" and zh.metrics == ("dau",)
    fresh = merge_followup(first, parse_question("pan-car users", vocab))
    assert fresh.segments == ("pan_auto",)


def test_followup_language_is_the_one_named_or_the_one_written_in(fresh_db) -> None:
    vocab = fresh_db.vocabulary
    zh_first = parse_question("后市场 日活 三季度", vocab)
    # An English follow-up to a Chinese question keeps the Chinese reply, unless it asks for
    # English by name.
    assert merge_followup(zh_first, parse_question("and Q2?", vocab)).lang == "zh"
    assert merge_followup(zh_first, parse_question("Q2 in English", vocab)).lang == "en"
    assert merge_followup(zh_first, parse_question("二季度 英文", vocab)).lang == "en"
    en_first = parse_question("aftermarket DAU Q3", vocab)
    assert merge_followup(en_first, parse_question("二季度呢", vocab)).lang == "zh"


def test_unanswered_questions_are_recorded(fresh_db) -> None:
    ask("aftermarket revenue", fresh_db, chat_kind="private")
    ask("aftermarket revenue", fresh_db, chat_kind="group")
    ask("aftermarket DAU Q3", fresh_db)
    rows = fresh_db.unanswered()
    assert rows[0]["question"] == "aftermarket revenue" and rows[0]["count"] == 2
    assert len(rows) == 1


# -- mutation survivors of bot/answer.py (issue 9): each test pins a reply a user reads ---------

SOURCE = "Source: Q3 2019 Pan-Automotive Industry Mini Program Report, Aladdin Research Institute"


def ingest_rows(
    store, tmp_path, rows: list[str], name: str = "more.csv", *, new_keys: bool = False
) -> None:
    header = (
        "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh,"
        "source_title,source_publisher,source_published\n"
    )
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    ingest_file(store, path, new_keys=new_keys)


def test_a_period_alone_asks_which_figure_with_one_example_per_market(fresh_db) -> None:
    # The examples show the breadth of the store: one series of each of its four markets.
    en = ask("Q3 2019", fresh_db, today=TODAY)
    assert en.status == "ambiguous" and not en.facts
    assert render_text(en, fresh_db.vocabulary) == (
        "Which figure? Name a metric or market, e.g. one of these.\n"
        "Try: aftermarket DAU 2019Q3 · overseas taxi Alipay cities 2019Q3 · "
        "pan-auto users 2019Q3 · ride code Alipay cities 2019Q3"
    )
    zh = ask("2019年第三季度", fresh_db, today=TODAY)
    assert zh.status == "ambiguous"
    assert render_text(zh, fresh_db.vocabulary) == (
        "请说明要查哪个指标或市场，例如：\n"
        "可以试试：后市场 日活 2019Q3 · 境外打车 支付宝 城市 2019Q3 · 泛汽车 用户 2019Q3 · "
        "乘车码 支付宝 城市 2019Q3"
    )


def test_too_many_matching_figures_ask_to_be_more_specific(fresh_db, tmp_path) -> None:
    # Ten more aftermarket series make twelve, as many as one reply shows: all answered.
    src = "wide,,,,Wide report,Wide Research,2020-02-01"
    rows = [
        f"{m},aftermarket,{p},2019Q3,10,=,{m},{src}"
        for p in ("", "wechat")
        for m in ("cities", "countries", "platforms", "provinces", "users")
    ]
    ingest_rows(fresh_db, tmp_path, rows)
    assert len(ask("aftermarket Q3", fresh_db, today=TODAY).facts) == 12
    # A thirteenth is one too many.
    ingest_rows(fresh_db, tmp_path, [f"dau,aftermarket,wechat,2019Q3,10,=,users,{src}"], "13.csv")
    en = ask("aftermarket Q3", fresh_db, today=TODAY)
    assert en.status == "ambiguous" and not en.facts
    # The first four series, in the store's order (market, platform, metric), as buttons.
    assert render_text(en, fresh_db.vocabulary) == (
        "That matches too many figures; please be more specific.\n"
        "Try: aftermarket cities 2019Q3 · aftermarket countries 2019Q3 · aftermarket DAU 2019Q3 · "
        "aftermarket MAU 2019Q3"
    )
    zh = ask("后市场 三季度", fresh_db, today=TODAY)
    assert zh.status == "ambiguous"
    assert render_text(zh, fresh_db.vocabulary) == (
        "匹配的数据太多，请说得更具体一些。\n"
        "可以试试：后市场 城市 2019Q3 · 后市场 国家 2019Q3 · 后市场 日活 2019Q3 · 后市场 月活 2019Q3"
    )


@pytest.mark.parametrize(
    ("question", "said"),
    [
        # No market asked: the one that has the figure is the one without MAU.
        ("wechat provinces MAU", "ride code: no MAU figure in the store."),
        ("微信 省份 月活", "乘车码：没有月活数据。"),
        # Two markets, one with a figure: provinces is missing for that one, and the other is
        # named once, with nothing at all.
        (
            "aftermarket vs overseas taxi DAU provinces",
            "overseas taxi: no figure in the store; aftermarket: no provinces figure in the store.",
        ),
        ("后市场 vs 境外打车 日活 省份", "境外打车：没有数据；后市场：没有省份数据。"),
        ("乘车码 微信省份 vs 支付宝省份", "乘车码 支付宝：没有省份数据。"),
    ],
)
def test_a_missing_side_is_named_with_its_own_market(fresh_db, question: str, said: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert a.message == said


def test_missing_sides_come_first_then_each_note_once(fresh_db) -> None:
    en = ask("wechat provinces MAU QoQ", fresh_db, today=TODAY)
    assert [(f.platform, f.period.label, f.value) for f in en.facts] == [("wechat", "2019Q3", 28)]
    assert en.message == (
        "ride code: no MAU figure in the store. No earlier period is stored for "
        "Ride code (乘车码) WeChat · provinces to compare with."
    )
    zh = ask("乘车码 微信 省份 月活 环比", fresh_db, today=TODAY)
    assert zh.message == "乘车码：没有月活数据。 乘车码 微信 · 省份没有更早的数据可供比较。"


def test_not_found_names_every_period_and_series_asked(fresh_db) -> None:
    two_quarters = ask("aftermarket DAU Q1 2019 vs Q4 2019", fresh_db, today=TODAY)
    assert two_quarters.status == "not_found" and not two_quarters.facts
    assert two_quarters.message == (
        "No figure for Q1 2019, Q4 2019 in the store for Automotive aftermarket mini programs "
        "· DAU. The latest is Q3 2019."
    )
    two_series = ask("后市场 日活 月活 2019年第一季度", fresh_db, today=TODAY)
    assert two_series.status == "not_found"
    assert two_series.message == (
        "没有2019年第一季度的数据：汽车后市场小程序 · 日活；汽车后市场小程序 · 月活。"
        "最新数据为2019年第三季度。"
    )


@pytest.mark.parametrize("question", ["users wechat vs alipay", "微信 支付宝 用户"])
def test_two_platforms_of_one_market_are_answered_not_asked_back(fresh_db, question) -> None:
    # Only ride code has WeChat and Alipay users: no market needs naming.
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert [(f.segment, f.platform, f.value, f.qualifier) for f in a.facts] == [
        ("ride_code", "wechat", 100_000_000, ">"),
        ("ride_code", "alipay", 200_000_000, ">"),
    ]


def test_a_followup_asked_through_ask_reuses_the_previous_question(fresh_db) -> None:
    first = ask("aftermarket DAU Q3", fresh_db, today=TODAY)
    again = ask("and Q2?", fresh_db, today=TODAY, previous=first.query)
    assert facts(again) == {("dau", "aftermarket", None, "2019Q2", 28500, "=")}
    # Without the previous question, "and Q2?" names no figure.
    assert ask("and Q2?", fresh_db, today=TODAY).status == "ambiguous"


def test_empty_questions_are_not_recorded_and_the_cli_is_the_default_chat_kind(fresh_db) -> None:
    for blank in ("", "   ", "？"):
        assert ask(blank, fresh_db).status == "invalid"
    assert fresh_db.unanswered() == []
    ask("aftermarket revenue", fresh_db)
    assert [(r["question"], r["chat_kinds"]) for r in fresh_db.unanswered()] == [
        ("aftermarket revenue", "cli")
    ]


def test_a_metric_of_several_markets_asks_which_one(fresh_db) -> None:
    en = ask("cities", fresh_db, today=TODAY)
    assert en.status == "ambiguous" and not en.facts
    assert render_text(en, fresh_db.vocabulary) == (
        "That figure exists for more than one market. Which one?\n"
        "Try: overseas taxi Alipay cities 2019Q3 · ride code Alipay cities 2019Q3 · "
        "ride code WeChat cities 2019Q3"
    )
    zh = ask("城市", fresh_db, today=TODAY)
    assert render_text(zh, fresh_db.vocabulary) == (
        "该指标有多个市场的数据，请问是哪一个？\n"
        "可以试试：境外打车 支付宝 城市 2019Q3 · 乘车码 支付宝 城市 2019Q3 · 乘车码 微信 城市 2019Q3"
    )


def test_every_market_counts_however_many_series_one_market_has(fresh_db, tmp_path) -> None:
    # Thirteen aftermarket user series (on new platforms) sort before pan-auto's one: the
    # question still names two markets, so the bot asks which, not "too many figures".
    src = "wide,,,,Wide report,Wide Research,2020-02-01"
    rows = [f"users,aftermarket,p{i:03d},2019Q3,10,=,users,{src}" for i in range(1, 14)]
    ingest_rows(fresh_db, tmp_path, rows, "wide.csv", new_keys=True)
    a = ask("users Q3 2019", fresh_db, today=TODAY)
    assert a.status == "ambiguous"
    assert a.message == "That figure exists for more than one market. Which one?"
    zh = ask("用户 2019年三季度", fresh_db, today=TODAY)
    assert zh.message == "该指标有多个市场的数据，请问是哪一个？"


def test_coverage_names_every_market_however_many_series_come_first(fresh_db, tmp_path) -> None:
    # 201 aftermarket series sort first; "It covers" still names the other three markets.
    src = "wide,,,,Wide report,Wide Research,2020-02-01"
    rows = [f"users,aftermarket,p{i:03d},2019Q3,10,=,users,{src}" for i in range(1, 202)]
    ingest_rows(fresh_db, tmp_path, rows, "wide.csv", new_keys=True)
    a = ask("Tesla users Q3", fresh_db, today=TODAY)
    assert a.status == "not_found", a.message
    covers = a.message.split("It covers: ", 1)[1]
    assert covers.startswith("aftermarket ")
    for market in ("pan-auto users", "ride code cities", "overseas taxi"):
        assert market in covers
    assert "and more" not in covers
    # The examples show one series of each market, not four of the first.
    q3 = ask("Q3 2019", fresh_db, today=TODAY)
    assert [s.split()[0] for s in q3.suggestions] == ["aftermarket", "overseas", "pan-auto", "ride"]


def test_a_change_with_an_about_figure_is_marked_approximate(fresh_db, tmp_path) -> None:
    # Q4 is "about 300 million" after Q3's exact 283 million: the change is ~+6.0%, in the
    # text, the JSON and the chart; a step to a bound ("over 310 million") has none.
    src = "est,,,,Estimate,Est Research,2020-02-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            f"users,pan_auto,,2019Q4,300000000,~,users,{src}",
            f"users,pan_auto,,2020Q1,310000000,>,users,{src}",
        ],
    )
    a = ask("pan-auto users Q3 2019 vs Q4 2019", fresh_db, today=TODAY)
    text = render_text(a, fresh_db.vocabulary)
    assert "Change Q3 2019 → Q4 2019: ~+6.0% (283 million → 300 million)" in text
    assert "bound" not in text
    assert [(c["pct"], c["approximate"]) for c in answer_json(a, text)["changes"]] == [(6.0, True)]
    zh = render_text(
        ask("泛汽车 用户 2019年三季度 vs 2019年四季度", fresh_db, today=TODAY), fresh_db.vocabulary
    )
    assert "~+6.0%" in zh and "区间" not in zh
    spec = chart_spec(a)
    assert spec is not None and spec.pcts[-1] == "~+6.0%"
    # Exact figures keep a plain change; a bound gets the note and no change.
    # The earlier figure approximate, the later exact: approximate too.
    ingest_rows(fresh_db, tmp_path, [f"dau,aftermarket,,2019Q4,28000,~,users,{src}"], "q4.csv")
    ingest_rows(fresh_db, tmp_path, [f"dau,aftermarket,,2020Q1,29400,=,users,{src}"], "q1.csv")
    later = ask("aftermarket DAU Q4 2019 vs Q1 2020", fresh_db, today=TODAY)
    assert [(c["pct"], c["approximate"]) for c in answer_json(later, "")["changes"]] == [
        (5.0, True)
    ]
    assert "~+5.0%" in render_text(later, fresh_db.vocabulary)
    exact = ask("pan-auto users Q2 vs Q3 2019", fresh_db, today=TODAY)
    assert [c["approximate"] for c in answer_json(exact, "")["changes"]] == [False]
    bound = ask("pan-auto users Q4 2019 vs Q1 2020", fresh_db, today=TODAY)
    assert not bound.changes
    assert "No % change: at least one figure is a bound, not exact." in render_text(
        bound, fresh_db.vocabulary
    )


def test_no_change_is_computed_from_zero(fresh_db, tmp_path) -> None:
    src = "zero,,,,Zero,Zero Research,2020-02-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [f"dau,aftermarket,,2019Q4,0,=,users,{src}", f"dau,aftermarket,,2020Q1,100,=,users,{src}"],
    )
    a = ask("aftermarket DAU Q4 2019 vs Q1 2020", fresh_db, today=TODAY)
    assert a.status == "answered" and not a.changes
    text = render_text(a, fresh_db.vocabulary)
    assert "No % change from a figure of zero." in text.splitlines() and "bound" not in text
    zh = ask("后市场 日活 2019年四季度 vs 2020年一季度", fresh_db, today=TODAY)
    assert "上期数字为零，不计算变化率。" in render_text(zh, fresh_db.vocabulary).splitlines()


@pytest.mark.parametrize(
    ("question", "status"),
    [
        # DAU is an aftermarket figure only: answered, not asked back.
        ("DAU Q3 2019", "answered"),
        ("日活 2019年三季度", "answered"),
        # Alipay cities exist for ride code and for overseas taxi: which one?
        ("alipay cities Q3 2019", "ambiguous"),
        ("支付宝 城市 2019年三季度", "ambiguous"),
    ],
)
def test_which_market_is_asked_only_when_the_figure_has_several(
    fresh_db, question: str, status: str
) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == status
    if status == "answered":
        assert {(f.metric, f.segment, f.period.label) for f in a.facts} == {
            ("dau", "aftermarket", "2019Q3")
        }
