"""Reply paths the edge tests do not reach: report text (topics), invalid questions in both
languages, follow-ups. Written to kill mutants the mutation run found alive (scripts/mutation.sh)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.answer import answer_query, ask
from bot.format import answer_json, render_text
from bot.models import PeriodSpec, Query
from bot.parse import merge_followup, parse_question

TODAY = dt.date(2026, 11, 26)


def test_topic_text_for_a_quarter_and_for_a_missing_one(fresh_db) -> None:
    a = ask("aftermarket characteristics Q3 2019", fresh_db, today=TODAY)
    assert a.status == "answered" and [n.ordinal for n in a.notes] == [1, 2, 3]
    assert {n.period.label for n in a.notes} == {"2019Q3"}
    reply = render_text(a, fresh_db.vocabulary)
    assert reply.startswith("Automotive aftermarket mini programs: characteristics (Q3 2019)")
    assert "1. Industry concentration is low" in reply

    none = ask("aftermarket characteristics Q2 2019", fresh_db, today=TODAY)
    assert none.status == "not_found" and not none.notes
    assert none.message == "The store has no report text on that."
    assert none.suggestions  # something it can answer instead
    zh = ask("乘车码 特点", fresh_db, today=TODAY)
    assert zh.status == "not_found" and zh.message == "没有相关的报告内容。"
    assert render_text(zh, fresh_db.vocabulary).startswith("没有相关的报告内容。")


def test_topic_in_chinese_uses_the_chinese_text(fresh_db) -> None:
    a = ask("后市场 特点", fresh_db, today=TODAY)
    reply = render_text(a, fresh_db.vocabulary)
    assert reply.startswith("汽车后市场小程序：特点 (2019年第三季度)")
    assert "1. 行业集中度不高" in reply


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("   ", "Ask me about a market figure, e.g. “aftermarket DAU Q3”."),
        ("aftermarket DAU Q5", "“Q5” is not a valid period"),
        ("后市场日活 第五季度", "“Q5”不是有效的时间"),
        (
            "aftermarket DAU aug-oct 2019",
            "“aug-oct 2019” is not a valid period: quarters run Q1 to Q4, halves H1 to H2, "
            "months 1 to 12, and a month range must be a whole quarter, half or year.",
        ),
        ("后市场日活 季度", "无法识别时间“季度”"),
        ("aftermarket DAU mid 2019", "I couldn't read “mid” as a period."),
    ],
)
def test_invalid_messages(fresh_db, question: str, message: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "invalid" and not a.facts
    assert message in a.message, a.message
    if question.strip():
        assert a.suggestions


def test_nonsense_names_its_words_and_hints(fresh_db) -> None:
    a = ask("purple elephants dancing", fresh_db, today=TODAY)
    assert a.status == "invalid"
    assert a.message.startswith("I couldn't find a metric or market in that.")
    assert "“purple”" in a.message and "“elephants”" in a.message
    zh = ask("紫色大象跳舞", fresh_db, today=TODAY)
    assert zh.status == "invalid" and zh.message.startswith("没有识别出要查询的指标或市场。")
    assert "“紫色大象跳舞”" in zh.message


def test_period_without_a_metric_asks_which_figure(fresh_db) -> None:
    en = ask("Q3 2019", fresh_db, today=TODAY)
    assert en.status == "ambiguous" and en.message.startswith("Which figure?")
    zh = ask("2019年第三季度", fresh_db, today=TODAY)
    assert zh.status == "ambiguous" and zh.message.startswith("请说明要查哪个指标或市场")


def test_too_many_markets_ask_which(fresh_db) -> None:
    zh = ask("用户 三季度", fresh_db, today=TODAY)
    assert zh.status == "ambiguous" and zh.message == "该指标有多个市场的数据，请问是哪一个？"
    en = ask("cities", fresh_db, today=TODAY)
    assert en.message == "That figure exists for more than one market. Which one?"


def test_no_earlier_period_to_compare_with(fresh_db) -> None:
    a = ask("ride code provinces change", fresh_db, today=TODAY)
    assert a.status == "answered" and a.changes == []
    assert "No earlier period is stored for" in a.message
    zh = ask("乘车码省份 环比", fresh_db, today=TODAY)
    assert "没有更早的数据可供比较" in zh.message


def test_next_quarter_rolls_over_the_year(fresh_db) -> None:
    a = ask("aftermarket DAU next quarter", fresh_db, today=dt.date(2019, 12, 1))
    assert a.status == "not_found"
    assert "next quarter = Q1 2020" in a.message
    b = ask("aftermarket DAU next quarter", fresh_db, today=dt.date(2019, 5, 1))
    assert {f.period.label for f in b.facts} == {"2019Q3"}


# -- follow-ups ---------------------------------------------------------------------------


def q(text: str, vocab):
    return parse_question(text, vocab, TODAY)


def test_followup_periods_versus_and_replace(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = q("aftermarket DAU Q3", v)
    versus = merge_followup(first, q("vs Q2", v))
    assert versus.metrics == ("dau",) and versus.segments == ("aftermarket",)
    assert [p.quarter for p in versus.periods] == [3, 2] and versus.comparison == "periods"
    assert versus.text == "vs Q2"
    instead = merge_followup(first, q("and Q2?", v))
    assert [p.quarter for p in instead.periods] == [2] and instead.comparison == "none"
    same = merge_followup(first, q("vs Q3", v))
    assert [p.quarter for p in same.periods] == [3] and same.comparison == "none"


def test_followup_platforms(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = q("ride code users wechat Q3", v)
    only = merge_followup(first, q("and Alipay?", v))
    assert only.platforms == ("alipay",) and only.comparison == "none"
    assert only.periods == first.periods  # the period stays
    both = merge_followup(first, q("compared with Alipay", v))
    assert both.platforms == ("wechat", "alipay") and both.comparison == "platforms"
    same = merge_followup(first, q("vs WeChat", v))
    assert same.platforms == ("wechat",) and same.comparison == "none"


def test_followup_language_and_chart(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = q("pan-car users Q2 vs Q3", v)
    zh = merge_followup(first, q("in Chinese", v))
    assert zh.lang == "zh" and zh.comparison == "periods" and zh.periods == first.periods
    en = merge_followup(q("泛汽车用户 二季度和三季度对比", v), q("英文", v))
    assert en.lang == "en" and en.comparison == "periods"
    chart = merge_followup(q("aftermarket DAU Q3", v), q("chart", v))
    assert chart.want_chart and chart.metrics == ("dau",) and chart.lang == "en"
    zh_period = merge_followup(q("aftermarket DAU Q3", v), q("二季度呢", v))
    assert zh_period.lang == "zh" and [p.quarter for p in zh_period.periods] == [2]


def test_not_a_followup(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = q("aftermarket DAU Q3", v)
    assert merge_followup(first, q("pan-car users", v)).segments == ("pan_auto",)
    assert merge_followup(first, q("MAU", v)).segments == ()  # names a metric: a new question
    assert merge_followup(first, q("Q5", v)).error == "period:Q5"
    hello = q("hello", v)
    assert merge_followup(first, hello) == hello  # nothing to add: left alone
    assert merge_followup(first, q("and Q2?", v)).unknown == ()


def test_query_labels_for_json() -> None:
    assert PeriodSpec("bare_half", None, 2).label == "H2"
    assert PeriodSpec("bare_quarter", None, 4).label == "Q4"
    assert PeriodSpec("latest").label == "latest"
    assert PeriodSpec("all").label == "all"


def test_compact_figure_keeps_qualifier_and_note(fresh_db) -> None:
    from bot.format import compact_figure

    v = fresh_db.vocabulary
    mau = ask("aftermarket MAU Q3", fresh_db, today=TODAY).facts[0]
    assert compact_figure(mau, v, "en") == "401K users (average per aftermarket mini program)"
    assert compact_figure(mau, v, "zh") == "40.1万人（单个后市场小程序平均）"
    bound = ask("alipay ride code cities", fresh_db, today=TODAY).facts[0]
    assert compact_figure(bound, v, "en") == "200+ cities"
    # Compact labels take the unit's short name (城市, not 个城市).
    assert compact_figure(bound, v, "zh") == "200+城市"
    rounded = mau._replace(value=283_456_789, note="", note_zh="")
    assert compact_figure(rounded, v, "en") == "≈283.46M users"
    assert compact_figure(rounded, v, "zh") == "约2.83亿人"


@pytest.mark.parametrize(
    ("question", "message", "suggestions"),
    [
        (
            "alipay ride code provinces",
            "No figure for “provinces” of Ride code (乘车码) Alipay in the store. "
            "Stored nearby: cities, users.",
            ["ride code Alipay cities 2019Q3", "ride code Alipay users 2019Q3"],
        ),
        (
            "支付宝乘车码省份",
            "没有乘车码 支付宝的“省份”数据。 现有相关数据：城市、用户。",
            ["乘车码 支付宝 城市 2019Q3", "乘车码 支付宝 用户 2019Q3"],
        ),
        (
            "wechat overseas taxi",
            "No figure for “Overseas Taxi (境外打车) WeChat” in the store. "
            "Stored nearby: cities, countries, platforms.",
            [
                "overseas taxi Alipay cities 2019Q3",
                "overseas taxi Alipay countries 2019Q3",
                "overseas taxi Alipay platforms 2019Q3",
            ],
        ),
        (
            "泛汽车日活",
            "没有泛汽车小程序的“日活”数据。 现有相关数据：用户。",
            ["泛汽车 用户 2019Q3"],
        ),
        (
            "wechat pan-auto users",
            "No figure for “users” of Pan-automotive mini programs WeChat in the store. "
            "Stored nearby: users.",
            ["pan-auto users 2019Q3"],
        ),
    ],
)
def test_no_series_says_what_exists_nearby(fresh_db, question, message, suggestions) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts
    assert a.message == message
    assert a.suggestions == suggestions


def test_unknown_words_get_hints_and_chinese_coverage(fresh_db) -> None:
    a = ask("aftermarket revenu dau", fresh_db, today=TODAY)
    assert a.status == "not_found"
    assert a.message.startswith("No figure for “revenu”: not in the store. It covers: ")
    zh = ask("二手车 用户", fresh_db, today=TODAY)
    assert zh.message.startswith("没有“二手车”的数据：数据库中没有这些内容。现有数据：")
    assert "后市场 日活、月活；" in zh.message
    # Too far for a typo (three extra letters), near enough for a hint.
    hinted = ask("overseas taxi countriessss", fresh_db, today=TODAY)
    assert hinted.status == "not_found" and hinted.message.endswith(" Did you mean: countries?")
    zh_hint = ask("后市场 countriessss", fresh_db, today=TODAY)
    assert zh_hint.message.endswith(" 您是不是想问：countries？")


def test_compact_figure_for_percent_and_count(fresh_db) -> None:
    from bot.format import compact_figure

    v = fresh_db.vocabulary
    base = ask("aftermarket MAU Q3", fresh_db, today=TODAY).facts[0]
    share = base._replace(value=12.5, unit="percent", note="", note_zh="")
    assert compact_figure(share, v, "en") == "12.5%"
    assert compact_figure(share, v, "zh") == "12.5%"
    count = base._replace(value=5, unit="count", note="", note_zh="")
    assert compact_figure(count, v, "en") == "5"
    assert compact_figure(count, v, "zh") == "5个"


def test_figure_text_for_percent_and_count(fresh_db) -> None:
    from bot.format import figure_text

    v = fresh_db.vocabulary
    base = ask("aftermarket MAU Q3", fresh_db, today=TODAY).facts[0]
    share = base._replace(value=12.5, qualifier=">", unit="percent")
    assert figure_text(share, v, "en") == "over 12.5%"
    assert figure_text(share, v, "zh") == "超过12.5%"
    # A unit without an English word: the number alone, no trailing space.
    count = base._replace(value=5, unit="count")
    assert figure_text(count, v, "en") == "5"
    assert figure_text(count, v, "zh") == "5个"


def test_followup_language_is_kept_unless_named(fresh_db) -> None:
    v = fresh_db.vocabulary
    zh_first = q("后市场日活 三季度", v)
    assert merge_followup(zh_first, q("in English", v)).lang == "en"
    assert merge_followup(zh_first, q("vs Q2", v)).lang == "zh"  # Latin text, same language
    assert merge_followup(zh_first, q("Q5", v)).error == "period:Q5"


def test_followup_with_its_own_market_or_metric_is_a_new_question(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = q("aftermarket DAU Q3", v)
    market = merge_followup(first, q("后市场", v))
    assert market.metrics == () and market.segments == ("aftermarket",) and market.lang == "zh"
    metric = merge_followup(first, q("月活", v))
    assert metric.metrics == ("mau",) and metric.segments == ()


def test_followup_platform_and_period_both_given(fresh_db) -> None:
    v = fresh_db.vocabulary
    both = merge_followup(q("ride code users wechat Q3", v), q("alipay Q2", v))
    assert both.platforms == ("alipay",) and [p.quarter for p in both.periods] == [2]


def test_followup_comparison_is_inherited_only_for_a_language_switch(fresh_db) -> None:
    v = fresh_db.vocabulary
    compare = q("pan-car users Q2 vs Q3", v)
    assert merge_followup(compare, q("and Q2?", v)).comparison == "none"
    assert merge_followup(compare, q("中文 二季度", v)).comparison == "none"
    assert merge_followup(compare, q("中文", v)).comparison == "periods"


def test_followup_unknown_words_are_the_new_question_s(fresh_db) -> None:
    v = fresh_db.vocabulary
    first = parse_question("aftermarket DAU Q3 tesla", v, TODAY)
    assert first.unknown == ("tesla",)
    assert merge_followup(first, q("and Q2?", v)).unknown == ()


def test_characteristics_of_every_market(fresh_db) -> None:
    a = ask("characteristics", fresh_db, today=TODAY)
    assert a.status == "answered" and len(a.notes) == 3


def test_coverage_separators(fresh_db) -> None:
    en = ask("Tesla users Q3", fresh_db, today=TODAY)
    assert "It covers: aftermarket DAU, MAU; overseas taxi cities, countries, platforms; " in (
        en.message
    )
    zh = ask("特斯拉 用户", fresh_db, today=TODAY)
    assert "现有数据：后市场 日活、月活；境外打车 城市、国家、平台；" in zh.message


# -- whole replies for what cannot be answered --------------------------------------------
# Each message compared whole, so a dropped sentence, a wrong separator or a reply in the
# other language fails; the suggestions are the buttons the user gets.

EN_DEFAULT = [
    "aftermarket DAU 2019Q3",
    "overseas taxi Alipay cities 2019Q3",
    "pan-auto users 2019Q3",
    "ride code Alipay cities 2019Q3",
]  # one series per market, so the examples show what the store holds
ZH_DEFAULT = [
    "后市场 日活 2019Q3",
    "境外打车 支付宝 城市 2019Q3",
    "泛汽车 用户 2019Q3",
    "乘车码 支付宝 城市 2019Q3",
]
EN_NOT_A_WORD = "I couldn't find a metric or market in that. Not in the store: "
EN_COVERS = (
    "It covers: aftermarket DAU, MAU; overseas taxi cities, countries, platforms; pan-auto "
    "users; ride code cities, users, provinces."
)
ZH_COVERS = (
    "现有数据：后市场 日活、月活；境外打车 城市、国家、平台；泛汽车 用户；乘车码 城市、用户、省份。"
)


@pytest.mark.parametrize(
    ("question", "status", "message", "suggestions"),
    [
        ("   ", "invalid", "Ask me about a market figure, e.g. “aftermarket DAU Q3”.", EN_DEFAULT),
        (
            "mid 2019 aftermarket DAU",
            "invalid",
            "I couldn't read “mid” as a period. Ask e.g. Q3 2019, H1 2019, Jul-Sep 2019, "
            "last quarter or 2019.",
            EN_DEFAULT,
        ),
        (
            "后市场 日活 年中",
            "invalid",
            "无法识别时间“年中”。可以问：2019年第三季度、2019年上半年、上季度、2019年。",
            ZH_DEFAULT,
        ),
        (
            "后市场 日活 2019年第五季度",
            "invalid",
            "“Q5”不是有效的时间：季度为一至四季度，半年为上、下半年，月份为1至12月，"
            "月份区间须为整季度、半年或全年。",
            ZH_DEFAULT,
        ),
        # At most five unknown words are named; none is near a known word: no hint.
        (
            "purple elephants dancing wildly tonight and tomorrow morning",
            "invalid",
            EN_NOT_A_WORD + "“purple”, “elephants”, “dancing”, “wildly”, “tonight”.",
            EN_DEFAULT,
        ),
        (
            "紫色 大象 跳舞 唱歌 喝水 吃饭",
            "invalid",
            "没有识别出要查询的指标或市场。 数据库中没有：“紫色”、“大象”、“跳舞”、“唱歌”、“喝水”。",
            ZH_DEFAULT,
        ),
        (
            "countriessss",
            "invalid",
            EN_NOT_A_WORD + "“countriessss”. Did you mean: countries?",
            EN_DEFAULT,
        ),
        # A two-character word gets no hint, and the words after it are still looked at.
        (
            "紫色 countriessss",
            "invalid",
            "没有识别出要查询的指标或市场。 数据库中没有：“紫色”、“countriessss”。 "
            "您是不是想问：countries？",
            ZH_DEFAULT,
        ),
        (
            "countriessss usersss",
            "invalid",
            EN_NOT_A_WORD + "“countriessss”, “usersss”. Did you mean: countries, users?",
            EN_DEFAULT,
        ),
        (
            "紫色 countriessss usersss",
            "invalid",
            "没有识别出要查询的指标或市场。 数据库中没有：“紫色”、“countriessss”、“usersss”。 "
            "您是不是想问：countries、users？",
            ZH_DEFAULT,
        ),
        # Three letters are enough for a hint, and a score of exactly 75 is near enough.
        ("cty", "invalid", EN_NOT_A_WORD + "“cty”. Did you mean: city?", EN_DEFAULT),
        ("citz", "invalid", EN_NOT_A_WORD + "“citz”. Did you mean: city?", EN_DEFAULT),
        # Near only a filler ("about") or a word that means nothing alone ("abroad" of
        # "abroad taxi"): no hint.
        ("aboutss", "invalid", EN_NOT_A_WORD + "“aboutss”.", EN_DEFAULT),
        ("abroadsss", "invalid", EN_NOT_A_WORD + "“abroadsss”.", EN_DEFAULT),
        (
            "aftermarket countriessss usersss",
            "not_found",
            f"No figure for “countriessss”, “usersss”: not in the store. {EN_COVERS[:-1]}. "
            "Did you mean: countries, users?",
            ["aftermarket DAU 2019Q3", "aftermarket MAU 2019Q3"],
        ),
        (
            "后市场 countriessss usersss",
            "not_found",
            f"没有“countriessss”、“usersss”的数据：数据库中没有这些内容。{ZH_COVERS} "
            "您是不是想问：countries、users？",
            ["后市场 日活 2019Q3", "后市场 月活 2019Q3"],
        ),
        # Nothing known to look near: the default examples.
        (
            "tesla Q3",
            "not_found",
            f"No figure for “tesla”: not in the store. {EN_COVERS}",
            EN_DEFAULT,
        ),
        (
            "overseas taxi DAU MAU",
            "not_found",
            "No figure for “DAU MAU” of Overseas Taxi (境外打车) in the store. "
            "Stored nearby: cities, countries, platforms.",
            [
                "overseas taxi Alipay cities 2019Q3",
                "overseas taxi Alipay countries 2019Q3",
                "overseas taxi Alipay platforms 2019Q3",
            ],
        ),
        (
            "alipay aftermarket",
            "not_found",
            "No figure for “Automotive aftermarket mini programs Alipay” in the store. "
            "Stored nearby: DAU, MAU.",
            ["aftermarket DAU 2019Q3", "aftermarket MAU 2019Q3"],
        ),
        (
            "后市场 支付宝",
            "not_found",
            "没有“汽车后市场小程序 支付宝”的数据。 现有相关数据：日活、月活。",
            ["后市场 日活 2019Q3", "后市场 月活 2019Q3"],
        ),
        # The series named in full: market, platform and the metric's short name.
        (
            "ride code wechat users vs alipay Q1 2019",
            "not_found",
            "No figure for Q1 2019 in the store for Ride code (乘车码) WeChat · users; "
            "Ride code (乘车码) Alipay · users. The latest is Q3 2019.",
            ["ride code WeChat users 2019Q3", "ride code Alipay users 2019Q3"],
        ),
        (
            "乘车码 微信 用户 2019年第一季度",
            "not_found",
            "没有2019年第一季度的数据：乘车码 微信 · 用户。最新数据为2019年第三季度。",
            ["乘车码 微信 用户 2019Q3"],
        ),
        (
            "aftermarket DAU Q1 2019",
            "not_found",
            "No figure for Q1 2019 in the store for Automotive aftermarket mini programs · DAU. "
            "The latest is Q3 2019.",
            ["aftermarket DAU 2019Q3"],
        ),
    ],
)
def test_whole_reply_when_there_is_no_figure(
    fresh_db, question: str, status: str, message: str, suggestions: list[str]
) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert (a.status, a.message, a.suggestions) == (status, message, suggestions)
    assert not a.facts
    assert answer_json(a, a.message)["question"] == question  # the reply is to this question


def test_empty_question_in_a_chinese_chat(fresh_db) -> None:
    # answer_query is also called with a Query built by the caller (pushes): its language rules.
    a = answer_query(Query(text="", lang="zh", error="empty"), fresh_db)
    assert (a.status, a.message) == ("invalid", "请提问市场数据，例如“后市场 日活 三季度”。")
    assert a.suggestions == ZH_DEFAULT


@pytest.mark.parametrize(
    ("question", "message"),
    [
        (
            "ride code alipay users change",
            "No earlier period is stored for Ride code (乘车码) Alipay · users to compare with.",
        ),
        ("乘车码 支付宝 用户 环比", "乘车码 支付宝 · 用户没有更早的数据可供比较。"),
        ("乘车码 省份 微信 vs 支付宝", "乘车码 支付宝：没有省份数据。"),
        (
            "ride code provinces wechat vs alipay",
            "ride code Alipay: no provinces figure in the store.",
        ),
        ("pan-auto users Q1 vs Q3 2019", "pan-auto, Q1: no users figure in the store."),
        ("泛汽车 用户 2019年第一季度 vs 第三季度", "泛汽车2019年第一季度：没有用户数据。"),
        # No metric asked: the side names no metric either.
        ("overseas taxi wechat vs alipay", "overseas taxi WeChat: no figure in the store."),
    ],
)
def test_whole_note_beside_the_figures(fresh_db, question: str, message: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered" and a.facts
    assert a.message == message


def test_relative_periods_are_spelled_out_in_order(fresh_db) -> None:
    in_2019 = dt.date(2019, 11, 26)
    en = ask("aftermarket DAU last quarter vs this quarter", fresh_db, today=in_2019)
    assert en.period_note == "Asked: last quarter = Q3 2019, this quarter = Q4 2019."
    zh = ask("后市场 日活 上季度 本季度", fresh_db, today=in_2019)
    assert zh.period_note == "所问时间：上季度（2019年第三季度）、本季度（2019年第四季度）。"
    assert zh.message == "后市场2019年第四季度：没有日活数据。"


NO_SIDE: list[dict] = []


@pytest.mark.parametrize(
    ("question", "periods", "message", "period_note", "missing"),
    [
        # A bare half is the latest year's two quarters, the missing one named.
        (
            "pan-auto users H1",
            ["2019Q2"],
            "pan-auto, Q1 2019: no users figure in the store.",
            "",
            [{"metric": "users", "segment": "pan_auto", "platform": None, "period": "2019Q1"}],
        ),
        ("aftermarket DAU all quarters", ["2019Q2", "2019Q3"], "", "", NO_SIDE),
        # A market or a metric asked beside one that has figures: named as missing.
        (
            "pan-auto vs aftermarket DAU",
            ["2019Q3"],
            "pan-auto: no DAU figure in the store.",
            "No period asked: showing the latest available (Q3 2019).",
            [{"metric": "dau", "segment": "pan_auto", "platform": None, "period": None}],
        ),
        (
            "pan-auto users DAU",
            ["2019Q3"],
            "pan-auto: no DAU figure in the store.",
            "No period asked: showing the latest available (Q3 2019).",
            [{"metric": "dau", "segment": "pan_auto", "platform": None, "period": None}],
        ),
        (
            "后市场 月活 同比",
            ["2019Q3"],
            "没有2018年第三季度（上年同期）的数据，无法计算同比。",
            "同比，按最新季度（2019年第三季度）。",
            [{"metric": "mau", "segment": "aftermarket", "platform": None, "period": "2018Q3"}],
        ),
        (
            "后市场 月活 环比",
            ["2019Q2", "2019Q3"],
            "",
            "未指定时间，比较最近的季度（2019年第二季度、2019年第三季度）。",
            NO_SIDE,
        ),
        ("后市场 日活", ["2019Q3"], "", "未指定时间，显示最新数据（2019年第三季度）。", NO_SIDE),
    ],
)
def test_periods_notes_and_missing_sides_of_an_answer(
    fresh_db, question: str, periods: list, message: str, period_note: str, missing: list
) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert [f.period.label for f in a.facts] == periods
    assert (a.message, a.period_note) == (message, period_note)
    assert answer_json(a, a.message)["missing"] == missing
