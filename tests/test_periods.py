"""The period grammar: every quarter form, months and dates (held to dateparser), bad periods."""

import datetime as dt

import dateparser
import pytest

from bot.models import Period, PeriodSpec
from bot.parse import parse_question
from bot.periods import (
    PeriodError,
    find_all,
    find_periods,
    find_yoy,
    quarter_of,
    zh_numeral_years,
)
from bot.vocab import shipped_vocabulary

TODAY = dt.date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("q3 2019", PeriodSpec("quarter", 2019, 3)),
        ("2019q3", PeriodSpec("quarter", 2019, 3)),
        ("2019 q3", PeriodSpec("quarter", 2019, 3)),
        ("2019-q3", PeriodSpec("quarter", 2019, 3)),
        ("19q3", PeriodSpec("quarter", 2019, 3)),
        ("3q19", PeriodSpec("quarter", 2019, 3)),
        ("q3 of 2019", PeriodSpec("quarter", 2019, 3)),
        ("third quarter of 2019", PeriodSpec("quarter", 2019, 3)),
        ("the third quarter", PeriodSpec("bare_quarter", None, 3)),
        ("3rd quarter 2019", PeriodSpec("quarter", 2019, 3)),
        ("last quarter of 2019", PeriodSpec("quarter", 2019, 4)),
        ("2019年第三季度", PeriodSpec("quarter", 2019, 3)),
        ("2019年三季度", PeriodSpec("quarter", 2019, 3)),
        ("三季度", PeriodSpec("bare_quarter", None, 3)),
        ("第二季度", PeriodSpec("bare_quarter", None, 2)),
        ("q2", PeriodSpec("bare_quarter", None, 2)),
        ("september 2019", PeriodSpec("quarter", 2019, 3)),
        ("sept 2019", PeriodSpec("quarter", 2019, 3)),
        ("2019-08", PeriodSpec("quarter", 2019, 3)),
        ("2019-05-20", PeriodSpec("quarter", 2019, 2)),
        ("2019年8月", PeriodSpec("quarter", 2019, 3)),
        ("2019", PeriodSpec("year", 2019, None)),
        ("2019年", PeriodSpec("year", 2019, None)),
        ("last quarter", PeriodSpec("quarter", 2026, 3)),
        ("this quarter", PeriodSpec("quarter", 2026, 4)),
        ("sept.", PeriodSpec("bare_quarter", None, 3)),
        ("jan-mar", PeriodSpec("bare_quarter", None, 1)),
        ("jan.through mar 2019", PeriodSpec("quarter", 2019, 1)),
        ("aprtojun 2019", PeriodSpec("quarter", 2019, 2)),
    ],
)
def test_period_forms(text: str, spec: PeriodSpec) -> None:
    found, rest = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [
        (spec.kind, spec.year, spec.quarter)
    ]
    assert not any(ch.isdigit() for ch in rest), "the period text is consumed"


# Every shape the date patterns take, valid and not: months by name and by number, days before
# and after the month, ordinals, dots, slashes, Chinese dates, and days no calendar has.
DATE_SPANS = [
    *("september 2019", "sep 2019", "sep. 2019", "sept 2019", "may 2020", "dec 1999"),
    *("15 september 2019", "september 15 2019", "september 15, 2019", "sep 1st 2019"),
    *("march 3rd, 2020", "feb 29 2020", "feb 29 2019", "september 31 2019", "jan 0 2019"),
    *("2019-08", "2019-8", "2019/08", "2019.08", "2019-05-20", "2019/5/20", "2019.12.31"),
    *("2019-02-30", "2020-02-29", "2019-06-00", "08/2019", "8/2019", "12-2019"),
    *("2019年8月", "2019年12月25日", "2019年2月30日", "3 sep 15 2019", "15 sep 3, 2019"),
    *("31 september 2019", "30 feb 2020", "0 sep 2019", "29 feb 2020"),
]


def dateparser_reading(span: str) -> dt.datetime | None:
    """dateparser's reading of a date span, with the settings a quarter needs."""
    settings = {"PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["month", "year"]}
    return dateparser.parse(span, languages=["en", "zh"], settings=settings)


@pytest.mark.parametrize("span", DATE_SPANS)
def test_dates_are_read_as_dateparser_reads_them(span: str) -> None:
    """Dates are read by their parts (fast); each lands in the quarter dateparser gives."""
    parsed = dateparser_reading(span)
    expected = [PeriodSpec("quarter", *quarter_of(parsed.date()))] if parsed else None
    try:
        found, _ = find_periods(span, TODAY)
    except PeriodError:
        got = None
    else:
        got = [PeriodSpec(f.spec.kind, f.spec.year, f.spec.quarter) for f in found]
    assert got == expected


@pytest.mark.parametrize(
    ("span", "quarter"),
    [
        ("2019年 8 月", (2019, 3)),  # dateparser: March of the year 7
        ("2019年9月1号", (2019, 3)),  # dateparser: nothing (号 is the spoken 日)
        ("2019年13月", None),  # dateparser: March 2019
        ("2019年0月", None),  # dateparser: November of the year 7
    ],
)
def test_dates_dateparser_misreads_are_read_right(span: str, quarter) -> None:
    if quarter is None:
        with pytest.raises(PeriodError):
            find_periods(span, TODAY)
    else:
        found, _ = find_periods(span, TODAY)
        assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [
            ("quarter", *quarter)
        ]


@pytest.mark.parametrize(
    ("today", "phrase", "expect"),
    [
        (dt.date(2026, 1, 1), "this quarter", (2026, 1)),
        (dt.date(2026, 1, 1), "last quarter", (2025, 4)),
        (dt.date(2026, 3, 31), "this quarter", (2026, 1)),
        (dt.date(2026, 4, 1), "this quarter", (2026, 2)),
        (dt.date(2026, 7, 1), "上季度", (2026, 2)),
        (dt.date(2026, 9, 30), "本季度", (2026, 3)),
        (dt.date(2026, 10, 1), "this quarter", (2026, 4)),
        (dt.date(2026, 12, 31), "next quarter", (2027, 1)),
    ],
)
def test_relative_quarters_at_quarter_edges(today: dt.date, phrase: str, expect: tuple) -> None:
    found, _ = find_periods(phrase, today)
    assert [(f.spec.year, f.spec.quarter) for f in found] == [expect]


def test_dateparser_misreading_is_avoided() -> None:
    # dateparser alone reads "Q3 2019" as a day in August; our grammar must win.
    found, _ = find_periods("dau q3 2019", TODAY)
    assert found[0].spec == PeriodSpec("quarter", 2019, 3, "q3 2019")


def test_two_periods_in_order() -> None:
    found, _ = find_periods("q2 vs q3", TODAY)
    assert [f.spec.quarter for f in found] == [2, 3]


@pytest.mark.parametrize("text", ["q5", "Q0 2019".lower(), "第五季度", "2019q7", "13月"])
def test_impossible_periods_raise(text: str) -> None:
    with pytest.raises(PeriodError):
        find_periods(text, TODAY)


def test_period_value() -> None:
    p = Period.parse("2019Q3")
    assert p.label == "2019Q3" and p.human() == "Q3 2019" and p.human("zh") == "2019年第三季度"
    assert Period(2019, 1).previous() == Period(2018, 4)
    assert Period(2019, 2) < Period(2019, 3) < Period(2020, 1)
    with pytest.raises(ValueError):
        Period.parse("2019Q5")


@pytest.mark.parametrize(
    ("text", "kind", "year", "number", "relative"),
    [
        ("h1 2019", "half", 2019, 1, ""),
        ("h2'19", "half", 2019, 2, ""),
        ("2019h2", "half", 2019, 2, ""),
        ("2019 h1", "half", 2019, 1, ""),
        ("1h19", "half", 2019, 1, ""),
        ("19h2", "half", 2019, 2, ""),
        ("first half of 2019", "half", 2019, 1, ""),
        ("the second half of 2019", "half", 2019, 2, ""),
        ("h1", "bare_half", None, 1, ""),
        ("上半年", "bare_half", None, 1, ""),
        ("2019年下半年", "half", 2019, 2, ""),
        ("jan-jun 2019", "half", 2019, 1, ""),
        ("jul-dec 2019", "half", 2019, 2, ""),
        ("q4'19", "quarter", 2019, 4, ""),
        ("4th qtr 2019", "quarter", 2019, 4, ""),
        ("fourth qtr. 2019", "quarter", 2019, 4, ""),
        ("qtr 4 2019", "quarter", 2019, 4, ""),
        ("fourth quarter 2019", "quarter", 2019, 4, ""),
        ("4q", "bare_quarter", None, 4, ""),
        ("四季度", "bare_quarter", None, 4, ""),
        ("第四季度", "bare_quarter", None, 4, ""),
        ("jul-sep 2019", "quarter", 2019, 3, ""),
        ("july through september 2019", "quarter", 2019, 3, ""),
        ("jan-mar", "bare_quarter", None, 1, ""),
        ("2019年7-9月", "quarter", 2019, 3, ""),
        ("7月到9月", "bare_quarter", None, 3, ""),
        ("beginning of 2019", "quarter", 2019, 1, ""),
        ("start of 2019", "quarter", 2019, 1, ""),
        ("early 2019", "quarter", 2019, 1, ""),
        ("end of 2019", "quarter", 2019, 4, ""),
        ("end-2019", "quarter", 2019, 4, ""),
        ("late 2019", "quarter", 2019, 4, ""),
        ("2019 year-end", "quarter", 2019, 4, ""),
        ("2019年初", "quarter", 2019, 1, ""),
        ("2019年底", "quarter", 2019, 4, ""),
        ("2019年末", "quarter", 2019, 4, ""),
        ("last year", "year", 2025, None, "last year"),
        ("this year", "year", 2026, None, "this year"),
        ("去年", "year", 2025, None, "去年"),
        ("今年", "year", 2026, None, "今年"),
        ("前年", "year", 2024, None, "前年"),
        ("上季度", "quarter", 2026, 3, "上季度"),
        ("本季度", "quarter", 2026, 4, "本季度"),
        ("next quarter", "quarter", 2027, 1, "next quarter"),
        ("q3 last year", "quarter", 2025, 3, "last year"),
        ("去年三季度", "quarter", 2025, 3, "去年"),
        ("end of last year", "quarter", 2025, 4, "last year"),
        ("last quarter of last year", "quarter", 2025, 4, "last year"),
        ("去年上半年", "half", 2025, 1, "去年"),
        # A month range keeps its relative year, so the reply can say what it resolved to.
        ("jul-sep last year", "quarter", 2025, 3, "last year"),
        ("去年1-6月", "half", 2025, 1, "去年"),
        ("jan-dec this year", "year", 2026, None, "this year"),
    ],
)
def test_more_period_forms(text, kind, year, number, relative) -> None:
    found, rest = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter, f.spec.relative) for f in found] == [
        (kind, year, number, relative)
    ]
    assert found[0].spec.text == text  # the phrase as asked, for messages
    assert not rest.strip(), "the whole phrase is consumed"


IN_2019 = dt.date(2019, 5, 1)  # far from the real clock: relative periods must use this date


@pytest.mark.parametrize(
    ("text", "kind", "year", "number"),
    [
        ("last year", "year", 2018, None),
        ("去年", "year", 2018, None),
        ("this year", "year", 2019, None),
        ("前年", "year", 2017, None),
        ("q3 last year", "quarter", 2018, 3),
        ("去年三季度", "quarter", 2018, 3),
        ("end of last year", "quarter", 2018, 4),
        ("去年年底", "quarter", 2018, 4),
        ("去年上半年", "half", 2018, 1),
        ("h2 last year", "half", 2018, 2),
        ("first half of last year", "half", 2018, 1),
        ("jul-sep last year", "quarter", 2018, 3),
        ("去年1-6月", "half", 2018, 1),
        ("jan-dec last year", "year", 2018, None),
        ("last quarter", "quarter", 2019, 1),
        ("previous quarter", "quarter", 2019, 1),
        ("上季度", "quarter", 2019, 1),
        ("上一季度", "quarter", 2019, 1),
        ("current quarter", "quarter", 2019, 2),
        ("这个季度", "quarter", 2019, 2),
        ("next quarter", "quarter", 2019, 3),
        ("下季度", "quarter", 2019, 3),
        ("下一季度", "quarter", 2019, 3),
    ],
)
def test_relative_periods_resolve_against_the_given_date(text, kind, year, number) -> None:
    found, _ = find_periods(text, IN_2019)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter, f.spec.text) for f in found] == [
        (kind, year, number, text)
    ]
    assert found[0].spec.relative in {text, "last year", "去年"}  # the words that were relative


@pytest.mark.parametrize("text", ["h3 2019", "h0", "aug-oct 2019", "feb-jun 2019", "2019年8-10月"])
def test_periods_that_are_no_quarter_half_or_year_raise(text: str) -> None:
    with pytest.raises(PeriodError):
        find_periods(text, TODAY)


def test_chinese_numeral_years() -> None:
    assert zh_numeral_years("二〇一九年第三季度") == "2019年第三季度"
    assert zh_numeral_years("二零一九年") == "2019年"
    assert zh_numeral_years("三季度") == "三季度"  # not a year: left alone


@pytest.mark.parametrize(
    "text",
    ["yoy", "y/y", "year on year", "year-over-year", "year-ago", "a year earlier", "同比",
     "去年同期", "same quarter last year", "vs the same period a year ago"],
)  # fmt: skip
def test_year_on_year_phrases(text: str) -> None:
    hit, rest = find_yoy(text)
    assert hit and not rest.strip()
    found, _ = find_periods(rest, TODAY)
    assert found == []  # "last year" inside "same quarter last year" is not a period


def test_describe_says_what_a_relative_period_resolved_to() -> None:
    assert PeriodSpec("year", 2025, None, "last year", "last year").describe() == "last year = 2025"
    assert PeriodSpec("quarter", 2026, 3, "上季度", "上季度").describe("zh") == (
        "上季度（2026年第三季度）"
    )
    assert PeriodSpec("half", 2019, 1).describe() == "H1 2019"
    assert PeriodSpec("half", 2019, 2).describe("zh") == "2019年下半年"
    assert PeriodSpec("half", 2019, 2).quarters() == (3, 4)
    assert [PeriodSpec(k, 2019, 1).label for k in ("quarter", "half", "year")] == [
        "2019Q1",
        "2019H1",
        "2019",
    ]


@pytest.mark.parametrize(
    ("text", "kind", "year", "number"),
    [
        ("apr-jun 2019", "quarter", 2019, 2),
        ("oct-dec", "bare_quarter", None, 4),
        ("jan-dec 2019", "year", 2019, None),
        ("jul-dec", "bare_half", None, 2),
        ("2019年1-3月", "quarter", 2019, 1),
        ("2019年10月-12月", "quarter", 2019, 4),
    ],
)
def test_month_ranges(text, kind, year, number) -> None:
    found, _ = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [(kind, year, number)]
    assert found[0].spec.text == text  # the phrase as asked, for messages


@pytest.mark.parametrize(
    "text", ["jan-dec", "2019年11-13月", "2019年13-15月", "2019年0-2月", "mar-may 2019"]
)
def test_month_ranges_that_are_no_period(text: str) -> None:
    with pytest.raises(PeriodError) as e:
        find_periods(text, TODAY)
    assert str(e.value) == text  # named back to the user


# -- long texts: read in windows around period words, all windows in one pass ----------------

_FILLER = "hello there my friend, nothing to see in this part at all. " * 3


def test_long_text_finds_every_period_where_it_stands() -> None:
    phrases = ["q3 2019", "2019年第三季度", "jul-sep 2019", "yoy", "first half of 2020", "3月"]
    phrases += ["march 2019", "sept."]
    text = _FILLER + _FILLER.join(f"{p} " for p in phrases) + _FILLER
    yoy, found, rest = find_all(text, TODAY)
    assert yoy
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [
        ("quarter", 2019, 3),
        ("quarter", 2019, 3),
        ("quarter", 2019, 3),
        ("half", 2020, 1),
        ("bare_quarter", None, 1),
        ("quarter", 2019, 1),
        ("bare_quarter", None, 3),
    ]
    assert [text[f.start : f.end].strip() for f in found] == [f.spec.text for f in found]
    # Every phrase is blanked in place; the words around them are kept as they were.
    assert len(rest) == len(text) and rest.split() == (_FILLER * (len(phrases) + 1)).split()


def test_long_text_with_periods_at_its_very_edges() -> None:
    text = "q3 2019 " + _FILLER * 2 + "h1 2020"
    yoy, found, rest = find_all(text, TODAY)
    assert not yoy
    assert [(f.start, f.end, f.spec.label) for f in found] == [
        (0, 7, "2019Q3"),
        (len(text) - 7, len(text), "2020H1"),
    ]
    assert rest == " " * 8 + _FILLER * 2 + " " * 7


def test_long_text_without_a_period_word_is_returned_as_it_is() -> None:
    text = _FILLER * 3
    assert find_all(text, TODAY) == (False, [], text)


def test_long_message_names_the_first_wrong_period_it_reads() -> None:
    # Q5 comes first in the message; the month range is checked earlier by the grammar.
    sentences = [f"aftermarket dau for the pan-auto market, take {n}." for n in "abcdef"]
    message = " ".join(["aftermarket dau q5.", *sentences, "aftermarket dau aug-oct 2019."])
    query = parse_question(message, shipped_vocabulary(), TODAY)
    assert query.error == "period:Q5"


# A period form inside a longer word or number is no period: "faq3" is not Q3, "x2019q3" no
# quarter, "tech1" no half. The patterns check the character before their first one.
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("faq3", []),
        ("bbq3 2019", [("year", 2019, None)]),
        ("x2019q3", []),
        ("ab19q3", []),
        ("a3q19", []),
        ("a3q", []),
        ("tech1", []),
        ("x2019h1", []),
        ("ab19h2", []),
        ("a1h19", []),
        ("bh1 2019", [("year", 2019, None)]),
        ("headquarter 4", []),
        ("hqtr 4", []),
        ("xlast quarter", []),
        ("xthis year", []),
        ("x2019 year-end", []),
        ("xyear-end2019", []),
        ("v2019-08", []),
        # the same forms standing alone are periods
        ("q3 2019", [("quarter", 2019, 3)]),
        ("h1 2019", [("half", 2019, 1)]),
        ("1h19", [("half", 2019, 1)]),
        ("quarter 4", [("bare_quarter", None, 4)]),
        ("2019 year-end", [("quarter", 2019, 4)]),
        ("year-end2019", [("quarter", 2019, 4)]),
        ("(2019-08)", [("quarter", 2019, 3)]),
        ("去年", [("year", 2025, None)]),
    ],
)
def test_period_forms_inside_longer_words_are_not_read(text: str, found: list) -> None:
    specs, _ = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in specs] == found


# -- where each kind of phrase stands, what it says, what is named back (issue 9) -------------

# One phrase for each part of the grammar: relative quarters, month ranges (English and
# Chinese), halves, a year's beginning or end, quarters (Chinese ones with Arabic digits too),
# dates, years, relative years and bare months. Today is 26 November 2026.
PHRASE_SPECS = [
    ("last quarter", PeriodSpec("quarter", 2026, 3, "last quarter", "last quarter")),
    ("jul-sep 2019", PeriodSpec("quarter", 2019, 3, "jul-sep 2019")),
    ("2019年7-9月", PeriodSpec("quarter", 2019, 3, "2019年7-9月")),
    ("h1 2019", PeriodSpec("half", 2019, 1, "h1 2019")),
    ("end of 2019", PeriodSpec("quarter", 2019, 4, "end of 2019")),
    ("2019年底", PeriodSpec("quarter", 2019, 4, "2019年底")),
    ("q3 2019", PeriodSpec("quarter", 2019, 3, "q3 2019")),
    ("2019年q3", PeriodSpec("quarter", 2019, 3, "2019年q3")),
    ("19年q2", PeriodSpec("quarter", 2019, 2, "19年q2")),
    ("2019年第3季度", PeriodSpec("quarter", 2019, 3, "2019年第3季度")),
    ("第3季度", PeriodSpec("bare_quarter", None, 3, "第3季度")),
    ("4季度", PeriodSpec("bare_quarter", None, 4, "4季度")),
    ("september 2019", PeriodSpec("quarter", 2019, 3, "september 2019")),
    ("in 2019", PeriodSpec("year", 2019, None, "in 2019")),
    ("2019年", PeriodSpec("year", 2019, None, "2019年")),
    ("last year", PeriodSpec("year", 2025, None, "last year", "last year")),
    ("去年", PeriodSpec("year", 2025, None, "去年", "去年")),
    ("3月", PeriodSpec("bare_quarter", None, 1, "3月")),
]


@pytest.mark.parametrize(("phrase", "spec"), PHRASE_SPECS)
def test_each_phrase_is_read_with_its_words_and_where_it_stands(phrase, spec) -> None:
    text = f"dau {phrase} please"
    found, rest = find_periods(text, TODAY)
    assert found == [(spec, 4, 4 + len(phrase))]
    assert rest == "dau " + " " * len(phrase) + " please"


def test_every_kind_of_phrase_stands_where_it_is_in_a_long_text() -> None:
    text = _FILLER + "".join(f"{phrase} {_FILLER}" for phrase, _ in PHRASE_SPECS)
    _yoy, found, _rest = find_all(text, TODAY)
    assert [f.spec for f in found] == [spec for _, spec in PHRASE_SPECS]
    assert [text[f.start : f.end] for f in found] == [phrase for phrase, _ in PHRASE_SPECS]


# A month without a year is its quarter (of the latest year with figures): the calendar's.
BARE_MONTHS = {
    1: ["january", "jan", "feb", "march", "mar.", "1月", "2月", "3月"],
    2: ["april", "apr", "june", "jun", "4月", "5月", "6月"],
    3: ["july", "jul", "aug", "september", "sep", "7月", "8月", "9月"],
    4: ["october", "oct", "nov", "december", "dec", "10月", "11月", "12月"],
}


@pytest.mark.parametrize(
    ("phrase", "quarter"), [(p, q) for q, phrases in BARE_MONTHS.items() for p in phrases]
)
def test_a_month_alone_is_its_quarter(phrase: str, quarter: int) -> None:
    found, _ = find_periods(phrase, TODAY)
    assert [f.spec for f in found] == [PeriodSpec("bare_quarter", None, quarter, phrase)]


@pytest.mark.parametrize(
    "phrase",
    ["h3 2019", "2019h3", "h0", "september 31 2019", "2019年13月", "2019年2月30日", "13月", "0月"],
)
def test_impossible_periods_are_named_back_as_written(phrase: str) -> None:
    with pytest.raises(PeriodError) as e:
        find_periods(phrase, TODAY)
    assert str(e.value) == phrase
    query = parse_question(f"aftermarket dau {phrase}", shipped_vocabulary(), TODAY)
    assert query.error == f"period:{phrase}"


def test_no_year_on_year_phrase_is_false_not_unknown() -> None:
    assert find_yoy("aftermarket dau q3 2019") == (False, "aftermarket dau q3 2019")
    assert find_all("aftermarket dau q3 2019", TODAY)[0] is False


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # Each year keeps the quarter written after it: "q3 2020" is not asked here.
        ("2019年q3 2020年1月", ["2019Q3", "2020Q1"]),
        ("2018年q4 2019年q3", ["2018Q4", "2019Q3"]),
        ("2019年q2 2019年7月", ["2019Q2", "2019Q3"]),
        # A month written straight after such a quarter is still read.
        ("2019年q3jan 2020", ["2019Q3", "2020Q1"]),
        ("2019年q3jan", ["2019Q3", "Q1"]),
        # Halves written the same way.
        ("2019年h1", ["2019H1"]),
        ("19年 h2", ["2019H2"]),
        ("2019年h1 2020年h2", ["2019H1", "2020H2"]),
    ],
)
def test_a_year_written_before_its_quarter_or_half_keeps_it(text: str, labels: list[str]) -> None:
    found, rest = find_periods(text, TODAY)
    assert [f.spec.label for f in found] == labels
    assert not rest.strip()


# 今年Q3 is this year's Q3 (2026 here), never the year 2026 beside a bare Q3 that would then
# mean the latest stored Q3 (2019): that answered another period than the one asked.
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("今年q3", [("quarter", 2026, 3, "今年")]),
        ("本年 q4", [("quarter", 2026, 4, "本年")]),
        ("去年q2", [("quarter", 2025, 2, "去年")]),
        ("去年h1", [("half", 2025, 1, "去年")]),
        ("明年 h2", [("half", 2027, 2, "明年")]),
        ("2019年q3", [("quarter", 2019, 3, "")]),
        ("19年h2", [("half", 2019, 2, "")]),
    ],
)
def test_a_relative_chinese_year_before_q_or_h_is_that_quarter_or_half(
    text: str, found: list
) -> None:
    specs, rest = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter, f.spec.relative) for f in specs] == found
    assert not rest.strip()


def test_a_long_text_resolves_relative_periods_against_the_given_date() -> None:
    chatter = "Some words about the market and its many mini programs, said over again. " * 3
    yoy, found, _ = find_all(chatter + "what was it last quarter?", dt.date(2020, 5, 1))
    assert not yoy
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [("quarter", 2020, 1)]
