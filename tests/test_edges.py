"""Issue 9: answers at the edges of periods, comparisons, words and numbers, from the user's side.

Each question is asked through `ask` on a real store file and judged on the reply text, the
figures and the `missing` sides. "Today" is fixed so relative periods are deterministic.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from bot.answer import ask
from bot.format import answer_json, render_text
from bot.ingest import ingest_file
from bot.parse import parse_question

TODAY = dt.date(2026, 11, 26)  # last quarter = Q3 2026, last year = 2025
IN_2019 = dt.date(2019, 11, 26)  # last quarter = Q3 2019, which the store has

HEADER = (
    "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh,"
    "source_title,source_publisher,source_published\n"
)


def facts(answer) -> set[tuple]:
    return {(f.metric, f.segment, f.platform, f.period.label, f.value) for f in answer.facts}


def text(answer, store) -> str:
    return render_text(answer, store.vocabulary)


def sides(answer) -> set[tuple]:
    return {(m["metric"], m["segment"], m["platform"], m["period"]) for m in answer.missing}


def ingest_rows(
    store, tmp_path: Path, rows: list[str], name: str = "extra.csv", *, new_keys: bool = False
) -> None:
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    ingest_file(store, path, new_keys=new_keys)


# -- periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "pan-auto users H1 2019",
        "pan-auto users first half of 2019",
        "pan-auto users 1H19",
        "pan-auto users 2019H1",
        "泛汽车用户 2019年上半年",
        "泛汽车用户 二〇一九年上半年",
        "pan-auto users Jan-Jun 2019",
    ],
)
def test_first_half_is_exactly_q1_and_q2(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("users", "pan_auto", None, "2019Q2", 199_000_000)}  # never Q3
    assert sides(a) == {("users", "pan_auto", None, "2019Q1")}
    reply = text(a, fresh_db)
    assert ("Q1 2019" in reply or "2019年第一季度" in reply) and "283" not in reply
    assert "No period asked" not in reply and "未指定时间" not in reply


@pytest.mark.parametrize(
    "question", ["pan-auto users 2019H2", "pan-auto users H2 2019", "泛汽车用户 2019年下半年"]
)
def test_second_half_is_exactly_q3_and_q4(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert facts(a) == {("users", "pan_auto", None, "2019Q3", 283_000_000)}
    assert sides(a) == {("users", "pan_auto", None, "2019Q4")}
    assert "No period asked" not in text(a, fresh_db)


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("4th qtr 2019 pan-auto users", "Q4 2019"),
        ("pan-auto users fourth quarter of 2019", "Q4 2019"),
        ("pan-auto users Q4'19", "Q4 2019"),
        ("pan-auto users end of 2019", "Q4 2019"),
        ("pan-auto users late 2019", "Q4 2019"),
        ("pan-auto users beginning of 2019", "Q1 2019"),
        ("pan-auto users early 2019", "Q1 2019"),
        ("泛汽车用户 2019年初", "2019年第一季度"),
        ("泛汽车用户 二〇一九年第四季度", "2019年第四季度"),
        ("pan-auto users Oct-Dec 2019", "Q4 2019"),
    ],
)
def test_period_words_are_kept_not_dropped(fresh_db, question: str, asked: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts  # never every 2019 quarter
    assert asked in text(a, fresh_db)
    assert a.available == ["2019Q2", "2019Q3"]


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("pan-auto users Jul-Sep 2019", "2019Q3"),
        ("pan-auto users July to September 2019", "2019Q3"),
        ("泛汽车用户 2019年7-9月", "2019Q3"),
        ("泛汽车用户 2019年7月至9月", "2019Q3"),
        ("aftermarket DAU 2nd qtr 2019", "2019Q2"),
        ("aftermarket DAU 2Q", "2019Q2"),
        ("后市场日活 二〇一九年第二季度", "2019Q2"),
    ],
)
def test_month_ranges_and_quarter_forms(fresh_db, question: str, period: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert {f.period.label for f in a.facts} == {period}


def test_relative_periods_say_what_they_resolved_to(fresh_db) -> None:
    a = ask("aftermarket DAU last year", fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts
    reply = text(a, fresh_db)
    assert "last year = 2025" in reply and "latest is Q3 2019" in reply
    assert "No period asked" not in reply

    a = ask("aftermarket DAU last quarter", fresh_db, today=TODAY)
    assert a.status == "not_found"
    assert "last quarter = Q3 2026" in text(a, fresh_db)

    a = ask("aftermarket DAU last quarter", fresh_db, today=IN_2019)
    assert facts(a) == {("dau", "aftermarket", None, "2019Q3", 27200)}
    assert "last quarter = Q3 2019" in text(a, fresh_db)

    a = ask("aftermarket DAU this year", fresh_db, today=IN_2019)
    assert {f.period.label for f in a.facts} == {"2019Q2", "2019Q3"}
    assert "this year = 2019" in text(a, fresh_db)


@pytest.mark.parametrize(
    ("question", "today", "expect"),
    [
        ("后市场日活 上季度", IN_2019, {"2019Q3"}),
        ("后市场日活 本季度", IN_2019, set()),  # Q4 2019: no figure
        ("后市场日活 今年", IN_2019, {"2019Q2", "2019Q3"}),
        ("后市场日活 去年", TODAY, set()),
        ("后市场日活 去年三季度", dt.date(2020, 3, 1), {"2019Q3"}),
    ],
)
def test_chinese_relative_periods(fresh_db, question: str, today: dt.date, expect: set) -> None:
    a = ask(question, fresh_db, today=today)
    assert {f.period.label for f in a.facts} == expect
    assert a.status == ("answered" if expect else "not_found")
    assert "未指定时间" not in text(a, fresh_db)


@pytest.mark.parametrize(
    "question", ["aftermarket MAU yoy", "后市场月活 同比", "aftermarket MAU vs year-ago"]
)
def test_yoy_without_the_year_ago_quarter_computes_no_change(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("mau", "aftermarket", None, "2019Q3", 401000)}
    assert a.changes == []
    assert ("mau", "aftermarket", None, "2018Q3") in sides(a)
    reply = text(a, fresh_db)
    assert "Q3 2018" in reply or "2018年第三季度" in reply
    assert "No period asked" not in reply and "未指定时间" not in reply
    assert "%" not in reply


def test_yoy_compares_with_the_same_quarter_a_year_earlier(fresh_db, tmp_path: Path) -> None:
    ingest_rows(
        fresh_db,
        tmp_path,
        ["mau,aftermarket,,2018Q3,500000,=,users,old,,,,Old report,Old Research,2018-11-01"],
    )
    a = ask("aftermarket MAU YoY", fresh_db, today=TODAY)
    assert [(c.from_period.label, c.to_period.label, round(c.pct, 1)) for c in a.changes] == [
        ("2018Q3", "2019Q3", -19.8)
    ]
    assert "-19.8%" in text(a, fresh_db)
    # Q2 2019 lies between them: year on year never compares with the previous quarter.
    assert {f.period.label for f in a.facts} == {"2018Q3", "2019Q3"}


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("aftermarket DAU mid 2019", "mid"),
        ("aftermarket DAU quarter", "quarter"),
        ("后市场日活 季度", "季度"),
        ("aftermarket DAU 3 months ago", "month ago"),
        # Inside a Chinese word: no space sets it apart.
        ("后市场日活 前两季度", "季度"),
        ("后市场日活 旺季", "季"),
        ("aftermarket DAU quarter and half", "quarter half"),  # several: each is named
        ("后市场日活 季度 半年", "季度 半年"),
    ],
)
def test_period_like_words_not_understood_are_named(fresh_db, question: str, phrase: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "invalid" and not a.facts
    assert f"“{phrase}”" in a.message


def test_never_no_period_asked_when_a_period_word_is_present(fresh_db) -> None:
    for question in (
        "pan-auto users H1 2019",
        "2019H2 pan-auto users",
        "aftermarket DAU last year",
        "aftermarket MAU yoy",
        "aftermarket MAU 同比",
        "4th qtr 2019 pan-auto users",
        "pan-auto users beginning of 2019",
        "aftermarket DAU this quarter",
    ):
        a = ask(question, fresh_db, today=TODAY)
        assert "No period asked" not in text(a, fresh_db), question


# -- comparisons with partial data -------------------------------------------------------------


def test_quarter_comparison_shows_the_side_that_exists(fresh_db) -> None:
    a = ask("aftermarket MAU Q1 vs Q3", fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("mau", "aftermarket", None, "2019Q3", 401000)}
    assert sides(a) == {("mau", "aftermarket", None, "Q1")}
    reply = text(a, fresh_db)
    assert "401,000" in reply and "Q1: no MAU figure" in reply
    assert "Q3: no" not in reply  # never claim the existing side is missing


def test_year_comparison_shows_the_side_that_exists(fresh_db) -> None:
    a = ask("pan-auto users 2019Q3 vs 2018Q3", fresh_db, today=TODAY)
    assert facts(a) == {("users", "pan_auto", None, "2019Q3", 283_000_000)}
    assert sides(a) == {("users", "pan_auto", None, "2018Q3")}
    assert "Q3 2018: no users figure" in text(a, fresh_db)


@pytest.mark.parametrize(
    "question", ["wechat provinces vs alipay provinces", "乘车码省份 微信和支付宝对比"]
)
def test_platform_comparison_names_the_platform_without_a_figure(fresh_db, question) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("provinces", "ride_code", "wechat", "2019Q3", 28)}
    assert sides(a) == {("provinces", "ride_code", "alipay", None)}
    reply = text(a, fresh_db)
    assert "Alipay: no provinces figure" in reply or "支付宝：没有省份数据" in reply


def test_missing_sides_are_in_json(fresh_db) -> None:
    a = ask("wechat provinces vs alipay provinces", fresh_db, today=TODAY)
    obj = answer_json(a, text(a, fresh_db))
    assert obj["missing"] == [
        {"metric": "provinces", "segment": "ride_code", "platform": "alipay", "period": None}
    ]
    full = ask("aftermarket DAU Q3", fresh_db, today=TODAY)
    assert answer_json(full, "")["missing"] == []


# -- words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("How many aftermarket mini programs are there in total?", ["total"]),
        ("Tesla sales Q3", ["tesla", "sales"]),
        ("Didi users", ["didi"]),
        ("二手车小程序用户", ["二手车"]),
        ("aftermarket revenue Q3", ["revenue"]),
        # Near a known word but not a typo of it: "buyers" is two letters from "users", and a
        # one-letter slip in a short word is all that is forgiven.
        ("pan-auto buyers Q3", ["buyers"]),
        # Three slips are too many even in a long word ("partners" is not "quarters").
        ("ride code partners", ["partners"]),
        # One slip from two known words ("scale", "small"): no guessing which was meant.
        ("pan-auto smale Q3", ["smale"]),
    ],
)
def test_unknown_words_are_named_with_what_the_store_covers(fresh_db, question, words) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts  # never "ambiguous", never another metric
    for word in words:
        assert f"“{word}”" in a.message
    assert ("pan-auto users" in a.message) or ("泛汽车 用户" in a.message)
    assert ("aftermarket DAU, MAU" in a.message) or ("后市场 日活、月活" in a.message)


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        ("aftermarket dua q3", {("dau", "aftermarket", None, "2019Q3", 27200)}),
        ("pan car usres Q3", {("users", "pan_auto", None, "2019Q3", 283_000_000)}),
        ("alipy carcode cities", {("cities", "ride_code", "alipay", "2019Q3", 200)}),
        ("泛汽車 用戶 三季度", {("users", "pan_auto", None, "2019Q3", 283_000_000)}),
        ("支付寶乘車碼覆蓋多少個城市", {("cities", "ride_code", "alipay", "2019Q3", 200)}),
        ("ＡＦＴＥＲＭＡＲＫＥＴ ＤＡＵ Ｑ３", {("dau", "aftermarket", None, "2019Q3", 27200)}),
        # Two slips in an eight-letter word are forgiven.
        ("alipay overseas taxi cuntires", {("countries", "overseas_taxi", "alipay", "2019Q3", 10)}),
        # A plural of a known word is that word, even when it is one letter from two others.
        ("wechat ride code scales", {("users", "ride_code", "wechat", "2019Q3", 100_000_000)}),
    ],
)
def test_typos_joined_words_traditional_and_full_width(fresh_db, question, expect) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == expect


@pytest.mark.parametrize("question", ["aftermarket day Q3", "aftermarket 2091 Q3"])
def test_no_correction_into_another_word(fresh_db, question: str) -> None:
    # "day" is not "DAU" (a different word, not a swapped pair); digits are never corrected.
    a = ask(question, fresh_db, today=TODAY)
    assert a.status != "answered" or not any(f.metric == "dau" for f in a.facts)


def test_question_at_the_end_of_a_long_message(fresh_db) -> None:
    chatter = (
        "Hi team, hope everyone had a good weekend. I was reading the deck from the partner "
        "meeting yesterday and our manager wants the slides updated before Friday. "
    ) * 20
    message = (chatter + "Quick one: what was the aftermarket DAU in Q3 2019?")[-4096:]
    assert len(message) > 2000
    a = ask(message, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("dau", "aftermarket", None, "2019Q3", 27200)}


def test_question_in_the_middle_of_a_long_chinese_message(fresh_db) -> None:
    chatter = "大家好，周末过得怎么样？我在准备明天下午的汇报材料。" * 30
    message = chatter + "泛汽车小程序用户 三季度是多少？" + "谢谢大家的帮助！" * 20
    a = ask(message, fresh_db, today=TODAY)
    assert facts(a) == {("users", "pan_auto", None, "2019Q3", 283_000_000)}


# -- numbers ----------------------------------------------------------------------------------


def test_exact_figures_are_shown_exactly(fresh_db, tmp_path: Path) -> None:
    src = "exact,,,,Exact report,Exact Research,2020-02-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            f"users,pan_auto,,2019Q4,283456789,=,users,{src}",
            f"mau,aftermarket,,2019Q4,1999999,=,users,{src}",
        ],
    )
    a = ask("pan-auto users Q4 2019", fresh_db, today=TODAY)
    assert "283,456,789 users" in text(a, fresh_db)
    assert "283.46 million" not in text(a, fresh_db)
    assert answer_json(a, "")["facts"][0]["value"] == 283456789
    zh = ask("泛汽车用户 2019年第四季度", fresh_db, today=TODAY)
    assert "2.83456789亿" in text(zh, fresh_db)
    mau = ask("aftermarket MAU Q4 2019", fresh_db, today=TODAY)
    assert "1,999,999 users" in text(mau, fresh_db) and "2 million" not in text(mau, fresh_db)


def test_no_pct_change_between_bounds(fresh_db, tmp_path: Path) -> None:
    src = "bounds,,,,Bounds report,Bounds Research,2019-08-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            f"users,ride_code,alipay,2019Q2,150000000,>,users,{src}",
            f"cities,ride_code,alipay,2019Q2,180,=,cities,{src}",
        ],
    )
    both = ask("alipay ride code users Q2 vs Q3", fresh_db, today=TODAY)
    assert {f.period.label for f in both.facts} == {"2019Q2", "2019Q3"}
    assert both.changes == []
    reply = text(both, fresh_db)
    assert "No % change" in reply and "over 150 million" in reply and "+33.3%" not in reply
    # One side a bound, the other exact: still no % change.
    mixed = ask("alipay ride code cities QoQ", fresh_db, today=TODAY)
    assert {f.qualifier for f in mixed.facts} == {"=", ">"} and mixed.changes == []
    assert "No % change" in text(mixed, fresh_db)


def test_long_message_keeps_a_period_fragment_and_reads_repeats_once(fresh_db) -> None:
    chatter = "Hi team, hope everyone had a good weekend. " * 10
    a = ask(chatter + "What was the aftermarket DAU? Q2 2019!", fresh_db, today=TODAY)
    assert facts(a) == {("dau", "aftermarket", None, "2019Q2", 28500)}
    repeated = ask(("pan-auto users Q2 vs Q3. " * 40) + chatter, fresh_db, today=TODAY)
    assert [round(c.pct, 1) for c in repeated.changes] == [42.2]


def test_long_message_without_a_known_word_names_what_it_did_not_know(fresh_db) -> None:
    message = "Hi team, hope everyone had a good weekend. " * 10 + "How is Tesla doing?"
    a = ask(message, fresh_db, today=TODAY)
    # No sentence names anything the store knows: the whole message is the question.
    assert a.status == "invalid" and not a.facts
    assert "tesla" in a.query.unknown and "“tesla”" in a.message


def test_chatter_after_a_short_question_is_not_the_question(fresh_db) -> None:
    # The first sentence is the question (it starts the message); the second names nothing.
    a = ask("Aftermarket DAU Q3. I love my Tesla.", fresh_db, today=TODAY)
    assert a.status == "answered" and "tesla" not in a.query.unknown
    assert facts(a) == {("dau", "aftermarket", None, "2019Q3", 27200)}


def test_long_message_keeps_a_sentence_that_asks_another_period(fresh_db) -> None:
    # The period is in a sentence of its own with no market or metric word; a short message
    # reads it, and so must a long one (never the latest quarter instead of the one asked).
    chatter = "Hi team, hope everyone had a good weekend. " * 10
    question = "What was the aftermarket MAU? What about in 2019 Q2?"
    assert facts(ask(question, fresh_db, today=TODAY)) == {
        ("mau", "aftermarket", None, "2019Q2", 431300)
    }
    a = ask(chatter + question, fresh_db, today=TODAY)
    assert facts(a) == {("mau", "aftermarket", None, "2019Q2", 431300)}


def test_long_message_names_unknown_words_beside_a_known_one(fresh_db) -> None:
    # A sentence that names a market is part of the question, words it does not know too: the
    # reply names them rather than answering only the other sentence.
    chatter = "Hi team, hope everyone had a good weekend. " * 10
    message = chatter + "Aftermarket MAU for Q2 2019. Pan-auto users for my slide deck please."
    a = ask(message, fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts
    assert "“slide”, “deck”" in a.message


def test_long_message_reads_past_an_empty_sentence(fresh_db) -> None:
    # "!!" makes an empty sentence between the question and its period fragment.
    chatter = "Hi team, hope everyone had a good weekend. " * 10
    a = ask("Aftermarket MAU please!! For Q2 2019. " + chatter, fresh_db, today=TODAY)
    assert facts(a) == {("mau", "aftermarket", None, "2019Q2", 431300)}


def test_long_message_question_first_and_short_period_fragment(fresh_db) -> None:
    chatter = "Hi team, hope everyone had a good weekend. " * 10
    first = ask("aftermarket DAU Q2 2019. " + chatter, fresh_db, today=TODAY)
    assert facts(first) == {("dau", "aftermarket", None, "2019Q2", 28500)}
    fragment = ask(chatter + "What was the aftermarket DAU? For Q2 2019!", fresh_db, today=TODAY)
    assert facts(fragment) == {("dau", "aftermarket", None, "2019Q2", 28500)}


# -- sources that disagree, and what the store covers -------------------------------------------


def test_disagreeing_sources_are_each_named_with_their_figure(fresh_db, tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    path.write_text(
        HEADER.rstrip("\n")
        + ",source_title_zh\n"
        + "users,pan_auto,,2019Q3,301000000,=,users,research-a,,,,Research A,A Inc,2020-02-01,\n"
        + "users,pan_auto,,2019Q3,290000000,>,users,research-b,,,,Research B,B Inc,2020-01-15,"
        + "乙研究\n",
        encoding="utf-8",
    )
    ingest_file(fresh_db, path)
    en = text(ask("pan-auto users Q3 2019", fresh_db, today=TODAY), fresh_db).splitlines()
    # The newest source answers; the others follow, newest first, each with its own qualifier.
    assert en[1] == "Q3 2019: 301 million users"
    assert en[2] == (
        "Also: Research B (2020-01-15) gives over 290 million users; Q3 2019 Pan-Automotive "
        "Industry Mini Program Report (2019-11-11) gives 283 million users"
    )
    zh = text(ask("泛汽车用户 2019年第三季度", fresh_db, today=TODAY), fresh_db).splitlines()
    assert zh[1] == "2019年第三季度：3.01亿人"
    # A Chinese title where the source has one, else its English title.
    assert (
        zh[2]
        == "另：乙研究（2020-01-15）给出超过2.9亿人；2019年第三季度泛汽车行业小程序报告（2019-11-11）给出2.83亿人"
    )


def test_catalogue_lines_name_market_platform_metric_periods_and_sources(
    fresh_db, tmp_path: Path
) -> None:
    from bot.format import catalogue_line

    ingest_rows(
        fresh_db,
        tmp_path,
        ["dau,aftermarket,,2019Q4,26900,=,users,research-a,,,,Research A,A Inc,2020-02-01"],
    )
    v = fresh_db.vocabulary
    rows = {(r["segment"], r["platform"], r["metric"]): r for r in fresh_db.catalogue()}
    dau = rows[("aftermarket", None, "dau")]
    assert catalogue_line(dau, v) == (
        "Automotive aftermarket mini programs: DAU (2019Q2, 2019Q3, 2019Q4) — "
        "aladdin-2019q3-pan-auto, research-a"
    )
    assert catalogue_line(dau, v, "zh") == (
        "汽车后市场小程序: 日活 (2019Q2, 2019Q3, 2019Q4) — aladdin-2019q3-pan-auto, research-a"
    )
    cities = rows[("ride_code", "alipay", "cities")]
    assert catalogue_line(cities, v) == (
        "Ride code (乘车码) / Alipay: cities (2019Q3) — aladdin-2019q3-pan-auto"
    )
    assert (
        catalogue_line(cities, v, "zh")
        == "乘车码 / 支付宝: 城市 (2019Q3) — aladdin-2019q3-pan-auto"
    )


def test_json_says_no_chart_unless_told(fresh_db) -> None:
    a = ask("aftermarket DAU Q3", fresh_db, today=TODAY)
    assert answer_json(a, "")["chart"] is False
    assert answer_json(a, "", has_chart=True)["chart"] is True


def test_two_platforms_each_get_their_change_with_their_own_note(fresh_db, tmp_path) -> None:
    src = "research-a,,{},{},Research A,A Inc,2020-02-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            "mau,aftermarket,wechat,2019Q2,300000,=,users," + src.format("per program", "单个平均"),
            "mau,aftermarket,wechat,2019Q3,330000,=,users," + src.format("per program", "单个平均"),
            # No Chinese note: the English one is shown; HTML replies escape it.
            "mau,aftermarket,alipay,2019Q2,100000,=,users," + src.format("A & <B>", ""),
            "mau,aftermarket,alipay,2019Q3,90000,=,users," + src.format("A & <B>", ""),
        ],
    )
    en = ask("aftermarket MAU wechat vs alipay Q2 vs Q3", fresh_db, today=TODAY)
    assert text(en, fresh_db).splitlines()[5:7] == [
        "Change WeChat Q2 2019 → Q3 2019: +10.0% (300,000 → 330,000, per program)",
        "Change Alipay Q2 2019 → Q3 2019: -10.0% (100,000 → 90,000, A & <B>)",
    ]
    assert render_text(en, fresh_db.vocabulary, html=True).splitlines()[3:7] == [
        "• Alipay, Q2 2019: <b>100,000 users</b> (A &amp; &lt;B&gt;)",
        "• Alipay, Q3 2019: <b>90,000 users</b> (A &amp; &lt;B&gt;)",
        "Change WeChat Q2 2019 → Q3 2019: <b>+10.0%</b> (300,000 → 330,000, per program)",
        "Change Alipay Q2 2019 → Q3 2019: <b>-10.0%</b> (100,000 → 90,000, A &amp; &lt;B&gt;)",
    ]
    # One platform: named in the heading, not again on the change line.
    one = text(ask("aftermarket MAU wechat Q2 vs Q3", fresh_db, today=TODAY), fresh_db)
    assert one.splitlines()[0].endswith("mini programs WeChat · monthly active users (MAU)")
    assert "Change Q2 2019 → Q3 2019: +10.0% (300,000 → 330,000, per program)" in one
    zh = ask("后市场月活 微信和支付宝 二季度和三季度对比", fresh_db, today=TODAY)
    assert text(zh, fresh_db).splitlines()[5:7] == [
        "变化 微信 2019年第二季度 → 2019年第三季度：+10.0%（30万 → 33万，单个平均）",
        "变化 支付宝 2019年第二季度 → 2019年第三季度：-10.0%（10万 → 9万，A & <B>）",
    ]


def test_coverage_names_eight_markets_then_points_to_metrics(fresh_db, tmp_path: Path) -> None:
    src = "zones,,,,Zones report,Zones Research,2020-02-01"
    shipped = (
        "aftermarket DAU, MAU; overseas taxi cities, countries, platforms; pan-auto users; "
        "ride code cities, users, provinces"
    )
    zones = [f"users,zone_{n},,2019Q3,{n}000,=,users,{src}" for n in range(1, 6)]
    ingest_rows(fresh_db, tmp_path, zones[:4], "four.csv", new_keys=True)
    eight = ask("tesla Q3", fresh_db, today=TODAY)  # exactly eight markets: all named
    assert eight.message.endswith(
        f"It covers: {shipped}; zone 1 users; zone 2 users; zone 3 users; zone 4 users."
    )
    ingest_rows(fresh_db, tmp_path, zones[4:], "fifth.csv", new_keys=True)
    nine = ask("tesla Q3", fresh_db, today=TODAY)
    assert nine.message.endswith("; zone 3 users; zone 4 users; and more (/metrics).")
    assert "zone 5" not in nine.message
    zh = ask("特斯拉 三季度", fresh_db, today=TODAY)
    assert zh.message.endswith("；zone 3 用户；zone 4 用户；等（/metrics）。")


def test_stored_nearby_names_at_most_four_series(fresh_db, tmp_path: Path) -> None:
    src = "more,,,,More report,More Research,2020-02-01"
    rows = [f"{m},aftermarket,,2019Q3,10,=,{m},{src}" for m in ("cities", "countries", "provinces")]
    ingest_rows(fresh_db, tmp_path, rows)
    a = ask("aftermarket wechat", fresh_db, today=TODAY)
    # Five aftermarket series; the reply names the first four, like its four buttons.
    assert a.message == (
        "No figure for “Automotive aftermarket mini programs WeChat” in the store. "
        "Stored nearby: cities, countries, DAU, MAU."
    )
    assert len(a.suggestions) == 4


def test_report_text_shows_only_the_newest_period(fresh_db) -> None:
    # A later report's single note on the same topic replaces the three of Q3 2019.
    with fresh_db.transaction() as conn:
        conn.execute(
            "INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "aftermarket",
                "2020Q1",
                "characteristics",
                1,
                "Players have consolidated.",
                "行业开始整合。",
                "aladdin-2019q3-pan-auto",
            ),
        )
    newest = ask("aftermarket characteristics", fresh_db, today=TODAY)
    assert [(n.period.label, n.text_en) for n in newest.notes] == [
        ("2020Q1", "Players have consolidated.")
    ]
    asked = ask("aftermarket characteristics Q3 2019", fresh_db, today=TODAY)
    assert {n.period.label for n in asked.notes} == {"2019Q3"} and len(asked.notes) == 3


@pytest.mark.parametrize(
    ("question", "series"),
    [
        (
            "ride code vs pan-auto users",
            [("ride_code", "alipay"), ("ride_code", "wechat"), ("pan_auto", None)],
        ),
        ("aftermarket MAU and DAU", [("aftermarket", None), ("aftermarket", None)]),
    ],
)
def test_figures_come_in_the_order_asked(fresh_db, question: str, series: list) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert [(f.segment, f.platform) for f in a.facts] == series
    if "MAU and DAU" in question:
        assert [f.metric for f in a.facts] == ["mau", "dau"]


def test_a_series_without_the_quarter_does_not_hide_the_next(fresh_db) -> None:
    a = ask("ride code vs pan-auto users Q2 2019", fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("users", "pan_auto", None, "2019Q2", 199_000_000)}
    assert sides(a) == {
        ("users", "ride_code", "alipay", "2019Q2"),
        ("users", "ride_code", "wechat", "2019Q2"),
    }


def test_yoy_of_an_asked_quarter_and_of_a_year(fresh_db, tmp_path: Path) -> None:
    alone = ask("aftermarket MAU Q3 2019 YoY", fresh_db, today=TODAY)
    assert facts(alone) == {("mau", "aftermarket", None, "2019Q3", 401000)}
    assert alone.message == "No figure for Q3 2018, a year before Q3 2019: no year-on-year change."
    src = "old,,,,Old report,Old Research,2018-11-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            f"mau,aftermarket,,2018Q2,400000,=,users,{src}",
            f"mau,aftermarket,,2018Q3,500000,=,users,{src}",
        ],
    )
    # Each quarter with its own year-ago quarter, never 2018Q3 with 2019Q2.
    a = ask("aftermarket MAU 2019 YoY", fresh_db, today=TODAY)
    assert [(c.from_period.label, c.to_period.label) for c in a.changes] == [
        ("2018Q2", "2019Q2"),
        ("2018Q3", "2019Q3"),
    ]


def test_bare_quarter_is_the_latest_year_of_any_series_asked(fresh_db, tmp_path: Path) -> None:
    src = "new,,,,New report,New Research,2020-11-01"
    ingest_rows(fresh_db, tmp_path, [f"users,pan_auto,,2020Q3,300000000,=,users,{src}"])
    # Pan-auto has Q3 2020, aftermarket only Q3 2019: Q3 is Q3 2020 for both, never 2019.
    a = ask("pan-auto vs aftermarket users MAU Q3", fresh_db, today=TODAY)
    assert facts(a) == {("users", "pan_auto", None, "2020Q3", 300_000_000)}
    assert sides(a) == {("mau", "aftermarket", None, "2020Q3")}
    assert a.message == "aftermarket, Q3 2020: no MAU figure in the store."


def test_bound_note_and_platform_change_in_full(fresh_db, tmp_path: Path) -> None:
    src = "bounds,,,,Bounds report,Bounds Research,2019-08-01"
    ingest_rows(
        fresh_db,
        tmp_path,
        [
            f"users,ride_code,alipay,2019Q2,150000000,>,users,{src}",
            f"provinces,ride_code,wechat,2019Q2,20,=,provinces,{src}",
        ],
    )
    en = ask("alipay ride code users Q2 vs Q3", fresh_db, today=TODAY)
    assert en.message == "No % change: at least one figure is a bound, not exact."
    zh = ask("支付宝 乘车码 用户 二季度 vs 三季度", fresh_db, today=TODAY)
    assert zh.message == "至少一个数字是区间下限/上限，不计算变化率。"
    # A platform's change keeps its platform in --json.
    wechat = ask("ride code wechat provinces QoQ", fresh_db, today=TODAY)
    assert answer_json(wechat, "")["changes"] == [
        {
            "metric": "provinces",
            "segment": "ride_code",
            "platform": "wechat",
            "from_period": "2019Q2",
            "to_period": "2019Q3",
            "from_value": 20,
            "to_value": 28,
            "pct": 40.0,
            "approximate": False,
        }
    ]


def test_a_metric_no_asked_market_has_is_named_for_each_market(fresh_db) -> None:
    # Neither pan-auto nor ride code has MAU: say so for each, never ": no MAU figure".
    en = ask("pan-auto vs ride code users MAU", fresh_db, today=TODAY)
    assert "pan-auto: no MAU figure in the store; ride code: no MAU figure in the store." in (
        text(en, fresh_db).splitlines()
    )
    assert sides(en) == {("mau", "pan_auto", None, None), ("mau", "ride_code", None, None)}
    zh = ask("泛汽车 vs 乘车码 用户 月活", fresh_db, today=TODAY)
    assert "泛汽车：没有月活数据；乘车码：没有月活数据。" in text(zh, fresh_db).splitlines()


# -- two quarters each written after its year (issue 9) ---------------------------------------


@pytest.mark.parametrize(
    "question", ["后市场日活 2019年Q2 2019年Q3", "aftermarket DAU 2019年Q2 2019年7月"]
)
def test_quarters_written_after_their_years_are_both_answered(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert {f.period.label for f in a.facts} == {"2019Q2", "2019Q3"}


def test_a_quarter_after_its_year_is_not_taken_by_the_next_year(fresh_db) -> None:
    a = ask("后市场日活 2018年Q4 2019年Q3", fresh_db, today=TODAY)
    assert {f.period.label for f in a.facts} == {"2019Q3"}
    assert {side[3] for side in sides(a)} == {"2018Q4"}  # named as missing, not 2019Q4


@pytest.mark.parametrize("question", ["泛汽车用户 2019年H1", "pan-auto users 2019年 h1"])
def test_a_half_after_its_year_is_that_half(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert {f.period.label for f in a.facts} == {"2019Q2"}  # not Q3 2019: H1 is Q1 and Q2
    assert {side[3] for side in sides(a)} == {"2019Q1"}


# -- what the parser understands: the periods asked and what is compared ----------------------


@pytest.mark.parametrize(
    ("question", "periods", "comparison"),
    [
        # "latest" is a period asked (the newest stored quarter), not "no period asked".
        ("aftermarket DAU latest", ("latest",), "none"),
        ("后市场日活 最新", ("latest",), "none"),
        ("aftermarket DAU Q3 2019", ("2019Q3",), "none"),
        # A trend is every stored quarter, compared with each other.
        ("aftermarket DAU trend", ("all",), "periods"),
        ("aftermarket DAU by quarter", ("all",), "periods"),
        ("后市场日活 趋势", ("all",), "periods"),
        # A year or a half holds several quarters: its quarters are compared.
        ("pan-auto users 2019", ("2019",), "periods"),
        ("泛汽车用户 2019年", ("2019",), "periods"),
        ("pan-auto users H1 2019", ("2019H1",), "periods"),
        ("pan-auto users H2", ("H2",), "periods"),
        ("泛汽车用户 下半年", ("H2",), "periods"),
        # Two markets are compared with each other.
        ("pan-auto vs ride code users", (), "segments"),
        ("泛汽车和乘车码 用户", (), "segments"),
    ],
)
def test_periods_asked_and_what_is_compared(fresh_db, question, periods, comparison) -> None:
    query = parse_question(question, fresh_db.vocabulary, TODAY)
    assert tuple(p.label for p in query.periods) == periods
    assert query.comparison == comparison


@pytest.mark.parametrize(
    "question", ["aftermarket DAU latest", "aftermarket DAU most recent", "后市场日活 最新"]
)
def test_latest_asked_is_answered_as_asked(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert facts(a) == {("dau", "aftermarket", None, "2019Q3", 27200)}
    reply = text(a, fresh_db)
    assert "No period asked" not in reply and "未指定时间" not in reply


@pytest.mark.parametrize(
    "question",
    ["aftermarket MAU H2 2019 growth", "aftermarket MAU H2 change", "后市场月活 下半年 环比"],
)
def test_change_asked_in_a_half_stays_in_that_half(fresh_db, question: str) -> None:
    # H2 2019 is exactly Q3 and Q4: Q4 has no figure, and Q2 is no part of it.
    a = ask(question, fresh_db, today=TODAY)
    assert facts(a) == {("mau", "aftermarket", None, "2019Q3", 401000)}
    assert a.changes == []
    assert sides(a) == {("mau", "aftermarket", None, "2019Q4")}
    reply = text(a, fresh_db)
    assert "431,300" not in reply and "43.13万" not in reply


def test_change_asked_in_a_year_stays_in_that_year(fresh_db, tmp_path: Path) -> None:
    src = "next,,,,Next report,Next Research,2020-05-01"
    ingest_rows(fresh_db, tmp_path, [f"mau,aftermarket,,2020Q1,420000,=,users,{src}"])
    for question in ("aftermarket MAU 2020 growth", "后市场月活 2020年 环比"):
        a = ask(question, fresh_db, today=TODAY)
        assert facts(a) == {("mau", "aftermarket", None, "2020Q1", 420000)}, question
        assert a.changes == [], question  # never Q3 2019 → Q1 2020: 2019 was not asked


def test_a_message_up_to_the_long_message_size_is_read_whole(fresh_db) -> None:
    # 280 characters is still a short message: every sentence is read, typos forgiven in each.
    chatter = "Hi team, hope everyone had a good weekend. " * 5
    message = chatter + "What is the aftermarket DAU in Q3? And the aftermaket mua please."
    assert len(message) == 280
    a = ask(message, fresh_db, today=TODAY)
    assert facts(a) == {
        ("dau", "aftermarket", None, "2019Q3", 27200),
        ("mau", "aftermarket", None, "2019Q3", 401000),
    }


@pytest.mark.parametrize(
    "question", ["Q2 2019. What was the aftermarket DAU?", "2019年第二季度。后市场日活是多少？"]
)
def test_a_period_fragment_before_the_question_is_read(fresh_db, question: str) -> None:
    # The first sentence names no market but holds nothing unknown: it completes the question.
    a = ask(question, fresh_db, today=TODAY)
    assert facts(a) == {("dau", "aftermarket", None, "2019Q2", 28500)}


# -- words, word by word: unknown words in order, whole metric names, taught joined phrases ----


def named(answer) -> list[str]:
    """The words a not-found reply names, in the order it names them."""
    return re.findall(r"“([^”]*)”", answer.message)


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("二手车用户", ["二手车"]),
        ("特斯拉用户二手车", ["特斯拉", "二手车"]),
        # Unknown Chinese at the end of a run of characters, between Latin words.
        ("tesla 泛汽车用户二手车 didi", ["tesla", "二手车", "didi"]),
        # Unknown Chinese between two known phrases, well into the run.
        ("tesla 泛汽车用户特斯拉二手车日活 didi", ["tesla", "特斯拉二手车", "didi"]),
    ],
)
def test_unknown_words_are_named_once_in_the_order_asked(fresh_db, question, words) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts
    assert named(a) == words


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        # A metric's full name is that metric alone: "users" inside it is not a second metric.
        ("aftermarket daily active users Q3 2019", {("dau", "aftermarket", None, "2019Q3", 27200)}),
        (
            "aftermarket monthly active users Q3 2019",
            {("mau", "aftermarket", None, "2019Q3", 401_000)},
        ),
        ("aftermarket monthly users Q3 2019", {("mau", "aftermarket", None, "2019Q3", 401_000)}),
        ("aftermarket daily actives Q3 2019", {("dau", "aftermarket", None, "2019Q3", 27200)}),
        # The plural of a market's name is that market.
        ("alipay taxis countries", {("countries", "overseas_taxi", "alipay", "2019Q3", 10)}),
        # "as of" is how a date is often asked: no word of it is unknown.
        ("aftermarket DAU as of Q3 2019", {("dau", "aftermarket", None, "2019Q3", 27200)}),
    ],
)
def test_whole_names_plurals_and_as_of(fresh_db, question: str, expect: set) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == expect


def test_a_two_letter_word_is_never_read_as_another(fresh_db) -> None:
    # "Qs" is not the filler "q": short words are not corrected, not even to their singular.
    a = ask("aftermarket DAU Qs", fresh_db, today=TODAY)
    assert a.status == "not_found" and not a.facts
    assert named(a) == ["qs"]


@pytest.mark.parametrize(
    ("phrase", "key", "question", "expect"),
    [
        # A curator's phrase typed as one word is split wherever its two words meet: after one
        # letter, after two, before the last letter, before the last two. The keys are only
        # there to be answered; the shape of each phrase is what is tested.
        ("e-car", "pan_auto", "ecar users Q3", ("users", "pan_auto", None, "2019Q3", 283e6)),
        ("hk taxi", "overseas_taxi", "alipay hktaxi countries", None),
        ("gen z", "pan_auto", "genz users Q3", ("users", "pan_auto", None, "2019Q3", 283e6)),
        ("taxi hk", "overseas_taxi", "alipay taxihk countries", None),
    ],
)
def test_taught_two_word_phrase_typed_as_one_word(fresh_db, phrase, key, question, expect):
    from bot.teaching import teach

    expect = expect or ("countries", "overseas_taxi", "alipay", "2019Q3", 10)
    before = ask(question, fresh_db, today=TODAY)
    assert before.status == "not_found"  # not known before it is taught
    teach(fresh_db, phrase, key, "curator")
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {expect}


def test_taught_phrase_with_a_plural_is_matched_as_taught(fresh_db) -> None:
    from bot.teaching import teach

    # "markets" is only known inside the taught phrase: it is not cut to the filler "market".
    teach(fresh_db, "e-hailing markets", "overseas_taxi", "curator")
    a = ask("alipay e-hailing markets countries", fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == {("countries", "overseas_taxi", "alipay", "2019Q3", 10)}


# -- what a pasted or typed message may hold around the question ------------------------------

DAU_Q3 = {("dau", "aftermarket", None, "2019Q3", 27200)}


@pytest.mark.parametrize(
    "question",
    [
        "Q3 2019 aftermarket DAU.",  # a full stop ends the last word, it is no part of it
        "12) aftermarket DAU Q3 2019",  # list numbers and letters carry no meaning
        "b) aftermarket DAU Q3 2019",
    ],
)
def test_full_stops_and_list_markers_are_not_words(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == DAU_Q3


@pytest.mark.parametrize(
    "message",
    [
        # Each line is a sentence: the greeting and the sign-off lines are not the question.
        "hello team\naftermarket DAU Q3 2019\nthanks bob",
        "aftermarket DAU\nQ3 2019",
        # Pasted text: a tab, markup, an en dash or full-width tilde in a month range.
        "aftermarket\tDAU Q3 2019",
        "<b>aftermarket DAU</b> Q3 2019",
        "aftermarket DAU Jul–Sep 2019",
        "aftermarket DAU Jul～Sep 2019",
        # An undecodable byte, as `marketbot ask` receives it from a shell (surrogateescape).
        "\udcff后市场日活 2019年三季度",
    ],
)
def test_line_breaks_tabs_markup_dashes_and_bad_bytes(fresh_db, message: str) -> None:
    a = ask(message, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == DAU_Q3


LONG_CHATTER = (
    "Hi team, hope everyone had a good weekend and the trip back went fine for all of you, "
    "thanks again for the dinner on Friday and the slides you shared with the partners last "
    "week before the review meeting with our manager and the budget talk that followed it"
)


@pytest.mark.parametrize(
    "message",
    [
        # Two sentences (one sentence end): the chatter one is still not the question.
        LONG_CHATTER + " and we met in Aug-Oct 2019. aftermarket DAU Q3 2019",
        "aftermarket DAU Q3 2019. " + LONG_CHATTER + " and we met in Aug-Oct 2019",
        # A four-word sentence is no fragment of the question ("Q3 2019?" is).
        LONG_CHATTER + ". Aug-Oct 2019 was busy. aftermarket DAU Q3 2019",
        LONG_CHATTER + ". we met in Q5. aftermarket DAU Q3 2019",
    ],
)
def test_long_message_chatter_naming_a_period_is_not_the_question(fresh_db, message) -> None:
    # A period in chatter, even one that is no quarter, neither answers nor spoils the question.
    assert len(message) > 280
    a = ask(message, fresh_db, today=TODAY)
    assert a.status == "answered"
    assert facts(a) == DAU_Q3


def test_this_years_q3_is_not_answered_with_another_years_q3(fresh_db) -> None:
    a = ask("泛汽车用户 今年q3", fresh_db, today=TODAY)
    assert not a.facts
    reply = text(a, fresh_db)
    assert "2026年第三季度" in reply and "2.83亿" not in reply
    half = ask("pan-auto users 去年H2", fresh_db, today=TODAY)
    assert not half.facts
    assert "没有去年（2025年下半年）的数据" in text(half, fresh_db)


def test_underscores_join_words_as_spaces_do(fresh_db) -> None:
    # A spreadsheet-style name reads as the words it joins: one period, Q3 2019.
    a = ask("aftermarket_DAU_Q3_2019", fresh_db, today=TODAY)
    assert a.status == "answered" and facts(a) == DAU_Q3
    # Underscores keep every sentence of a message where it is: the chatter sentence with an
    # unknown word ("Tesla") is still left out, and the question answered.
    b = ask("x" + "_" * 60 + ". Aftermarket DAU Q3 2019? I love my Tesla.", fresh_db, today=TODAY)
    assert b.status == "answered" and facts(b) == DAU_Q3
