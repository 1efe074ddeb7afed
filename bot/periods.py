"""Period phrases: quarters need their own grammar; months and dates go to dateparser.

dateparser knows no quarters (it reads "Q3 2019" as a day in August), so quarter forms
are matched here first. What is left that looks like a month or a date is handed to
dateparser and mapped to the quarter that contains it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import NamedTuple

from .models import Period, PeriodSpec

_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": 4,
    "final": 4,
    "fifth": 5,
    "5th": 5,
}
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)

_B = r"(?<![a-z0-9])"  # a latin word boundary that also works next to CJK characters
_E = r"(?![a-z0-9])"


def _year(text: str | None) -> int | None:
    if not text:
        return None
    text = text.lstrip("'’")
    y = int(text)
    return 2000 + y if y < 100 else y


class Found(NamedTuple):
    spec: PeriodSpec
    start: int
    end: int


class PeriodError(ValueError):
    """A period that cannot exist, such as Q5 or month 13."""


# Each pattern yields named groups y (year), q (quarter) or m (month). Order matters:
# longer, more specific forms first; matched spans are blanked so later ones skip them.
_QUARTER_PATTERNS = [
    # 2019Q3, 2019 Q3, 2019-Q3, 2019 q3
    rf"{_B}(?P<y>(?:19|20)\d\d)\s*[-/ ]?\s*q(?P<q>\d){_E}",
    # Q3 2019, Q3-2019, Q3/19, Q3 '19, Q3 of 2019
    rf"{_B}q(?P<q>\d)\s*(?:of\s+|[-/ ]\s*)?(?P<y>(?:19|20)\d\d|['’]\d\d|\d\d(?!\d)){_E}",
    # 19Q3
    rf"{_B}(?P<y>\d\d)q(?P<q>\d){_E}",
    # 3Q19, 3Q2019
    rf"{_B}(?P<q>\d)q(?P<y>\d\d|(?:19|20)\d\d){_E}",
    # third quarter (of 2019), 3rd quarter 2019, last quarter of 2019
    rf"{_B}(?:the\s+)?(?P<o>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|final)"
    rf"\s+quarter(?:\s+(?:of\s+|in\s+)?(?P<y>(?:19|20)\d\d))?{_E}",
    # 2019年第三季度, 2019年三季度, 2019年Q3, 19年第3季度
    r"(?P<y>(?:19|20)?\d\d)\s*年\s*(?:第\s*)?(?P<zq>[一二三四五六七八九1-9])\s*季度?",
    r"(?P<y2>(?:19|20)?\d\d)\s*年\s*q(?P<q>\d)",
    # 第三季度, 三季度, 第3季度, Q3季度
    r"(?:第\s*)?(?P<zq>[一二三四五六七八九1-9])\s*季度",
    # bare Q3
    rf"{_B}q(?P<q>\d){_E}",
]
_QUARTER_RES = [re.compile(p) for p in _QUARTER_PATTERNS]

_RELATIVE_RE = re.compile(
    rf"{_B}(?P<rel>last quarter|previous quarter|this quarter|current quarter){_E}"
    r"(?!\s+(?:of\s+|in\s+)?(?:19|20)\d\d)"
    r"|(?P<zrel>上个?季度|本季度|这个?季度|上一季度)"
)

# Spans that look like a month or a date: given to dateparser.
_DATE_RES = [
    re.compile(
        rf"{_B}(?:\d{{1,2}}\s+)?(?:{_MONTHS})\.?\s*(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s*)?"
        rf"(?:(?:19|20)\d\d){_E}"
    ),
    re.compile(rf"{_B}(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])(?:[-/.]\d{{1,2}})?{_E}"),
    re.compile(rf"{_B}(?:0?[1-9]|1[0-2])[-/](?:19|20)\d\d{_E}"),
    re.compile(r"(?:19|20)\d\d\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?"),
]
# "may" is left out: far more often the verb than the month.
_MONTH_ONLY_RE = re.compile(
    rf"{_B}(?P<m>{_MONTHS.replace('may|', '')})\.?{_E}|(?<!\d)(?P<zm>\d{{1,2}})\s*月"
)
_MONTH_NUMBER = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_YEAR_RES = [
    re.compile(r"(?P<y>(?:19|20)\d\d)\s*年(?!\s*\d{1,2}\s*月)"),
    re.compile(rf"{_B}(?:in\s+|year\s+)?(?P<y>(?:19|20)\d\d){_E}"),
]

_DATEPARSER_SETTINGS = {
    "PREFER_DAY_OF_MONTH": "first",
    "REQUIRE_PARTS": ["month", "year"],
    "RETURN_AS_TIMEZONE_AWARE": False,
}
_LANGUAGES = ["en", "zh"]


def quarter_of(day: dt.date) -> Period:
    return Period(day.year, (day.month - 1) // 3 + 1)


@functools.lru_cache(maxsize=1024)  # month and year are required: the result never changes
def parse_date_span(text: str) -> dt.datetime | None:
    """A month or date phrase read by dateparser, restricted to our languages (fast)."""
    import dateparser  # lazy: only questions with a date pay for the import

    return dateparser.parse(text, languages=_LANGUAGES, settings=_DATEPARSER_SETTINGS)


def warm_up() -> None:
    """Pay dateparser's one-off start-up cost now rather than on a user's first question."""
    parse_date_span("September 2019")
    parse_date_span("2019年9月")


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def find_periods(text: str, today: dt.date | None = None) -> tuple[list[Found], str]:
    """Every period phrase in normalised ``text``, in order, and the text with them blanked.

    Raises PeriodError for a period that cannot exist (Q5, month 13).
    """
    today = today or dt.date.today()
    found: list[Found] = []

    for m in _RELATIVE_RE.finditer(text):
        rel = m.group("rel") or m.group("zrel")
        current = quarter_of(today)
        p = (
            current
            if ("this" in rel or "current" in rel or "本" in rel or "这" in rel)
            else (current.previous())
        )
        found.append(Found(PeriodSpec("quarter", p.year, p.quarter, rel), m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    for rx in _QUARTER_RES:
        for m in rx.finditer(text):
            g = m.groupdict()
            if g.get("o"):
                q = _ORDINALS[g["o"]]
            elif g.get("zq"):
                zq = g["zq"]
                q = _ZH_DIGITS.get(zq) or int(zq)
            else:
                q = int(g["q"])
            if not 1 <= q <= 4:
                raise PeriodError(f"Q{q}")
            y = _year(g.get("y") or g.get("y2"))
            spec = (
                PeriodSpec("quarter", y, q, m.group(0).strip())
                if y
                else PeriodSpec("bare_quarter", None, q, m.group(0).strip())
            )
            found.append(Found(spec, m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx in _DATE_RES:
        for m in rx.finditer(text):
            span = m.group(0).strip()
            parsed = parse_date_span(span)
            if parsed is None:
                raise PeriodError(span)
            p = quarter_of(parsed.date())
            found.append(Found(PeriodSpec("quarter", p.year, p.quarter, span), m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx in _YEAR_RES:
        for m in rx.finditer(text):
            y = int(m.group("y"))
            found.append(Found(PeriodSpec("year", y, None, m.group(0).strip()), m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    # A month without a year means its quarter in the latest year that has figures.
    for m in _MONTH_ONLY_RE.finditer(text):
        month = _MONTH_NUMBER[m.group("m")] if m.group("m") else int(m.group("zm"))
        if not 1 <= month <= 12:
            raise PeriodError(m.group(0).strip())
        spec = PeriodSpec("bare_quarter", None, (month - 1) // 3 + 1, m.group(0).strip())
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    found.sort(key=lambda f: f.start)
    return found, text
