"""The period grammar: every quarter form, months and dates via dateparser, bad periods."""

import datetime as dt

import pytest

from bot.models import Period, PeriodSpec
from bot.periods import PeriodError, find_periods

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
    ],
)
def test_period_forms(text: str, spec: PeriodSpec) -> None:
    found, rest = find_periods(text, TODAY)
    assert [(f.spec.kind, f.spec.year, f.spec.quarter) for f in found] == [
        (spec.kind, spec.year, spec.quarter)
    ]
    assert not any(ch.isdigit() for ch in rest), "the period text is consumed"


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
