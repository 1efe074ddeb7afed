"""Period phrases: quarters need their own grammar; months and dates are read by their parts.

dateparser knows no quarters (it reads "Q3 2019" as a day in August), so quarter forms
are matched here first. What is left that looks like a month or a date is read by its parts,
with calendar checks, and mapped to the quarter that contains it. The forms are few and fixed;
tests/test_periods.py holds their reading to dateparser's on every shape the patterns take
(dateparser itself costs 2–5 ms per new phrase, and misreads some Chinese dates).
"""

from __future__ import annotations

import bisect
import datetime as dt
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


# pragma: no mutate start
# These two build patterns once, at import: mutmut cannot switch their mutants in at run time
# (it reports them as reached by no test). The patterns they build are held by the tests of
# period forms inside longer words in tests/test_periods.py.
def _after_b(head: str, width: int) -> str:
    """``_B + head`` for a ``head`` that always matches ``width`` characters, written so that
    the pattern starts with ``head``: Python's re then jumps to where ``head``'s first character
    occurs instead of trying the whole pattern at every position (several times faster on a
    long message). The boundary is checked just after ``head``, ``width`` characters back."""
    return rf"{head}(?<![a-z0-9][\s\S]{{{width}}})"


def _after_b_words(words: str, not_before: str = "a-z0-9") -> str:
    """``_B(?:words)`` for a ``|``-separated list of literal words, in ``_after_b``'s form
    (after no character of the class ``[not_before]``)."""
    return "|".join(rf"{w[0]}(?<![{not_before}][\s\S]){w[1:]}" for w in words.split("|"))


# pragma: no mutate end


# Relative years, resolved against today's date (an offset in years).
_REL_YEARS = {
    "this year": 0,
    "current year": 0,
    "last year": -1,
    "previous year": -1,
    "next year": 1,
    "今年": 0,
    "本年": 0,
    "去年": -1,
    "上年": -1,
    "前年": -2,
    "明年": 1,
}
_ZH_REL_YEAR = "今年|本年|去年|上年|前年|明年"
_REL_YEAR = rf"this year|current year|last year|previous year|next year|{_ZH_REL_YEAR}"
_YEAR = rf"(?:19|20)\d\d|{_REL_YEAR}"
_ZH_NUMERAL_YEAR_RE = re.compile(r"[〇零一二三四五六七八九]{4}(?=\s*年)")
_ZH_NUMERAL = {"〇": "0", "零": "0", **{k: str(v) for k, v in _ZH_DIGITS.items()}}


def _year(text: str | None, today: dt.date | None = None) -> int | None:
    if not text:
        return None
    if text in _REL_YEARS:
        return (today or dt.date.today()).year + _REL_YEARS[text]
    digits = text.lstrip("'’")
    return 2000 + int(digits) if len(digits) == 2 else int(digits)  # '19 and 19 are 2019


def _relative(text: str | None) -> str:
    return text if text in _REL_YEARS else ""


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
    _after_b(r"(?P<y>(?:19|20)\d\d)", 4) + rf"\s*[-/ ]?\s*q(?P<q>\d){_E}",
    # 2019年Q3, 19年q3, 今年Q3: before "Q3 2020" takes the q from its year ("2019年q3 2020年1月").
    # A relative year already ends in 年; digits need one.
    rf"(?P<y2>(?:19|20)?\d\d|{_ZH_REL_YEAR})(?:(?<=年)|\s*年)\s*q(?P<q>\d)",
    # Q3 2019, Q3-2019, Q3/19, Q3 '19, Q3 of 2019
    _after_b("q", 1) + rf"(?P<q>\d)\s*(?:of\s+|[-/ ]\s*)?(?P<y>{_YEAR}|['’]\d\d|\d\d(?!\d)){_E}",
    # 19Q3
    _after_b(r"(?P<y>\d\d)", 2) + rf"q(?P<q>\d){_E}",
    # 3Q19, 3Q2019
    _after_b(r"(?P<q>\d)", 1) + rf"q(?P<y>\d\d|(?:19|20)\d\d){_E}",
    # third quarter (of 2019), 3rd quarter 2019, last quarter of 2019
    rf"{_B}(?:the\s+)?(?P<o>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|final)"
    rf"\s+(?:quarter|qtr\.?)(?:\s+(?:of\s+|in\s+)?(?P<y>{_YEAR}))?(?![a-z0-9])",
    # qtr 4 2019, quarter 4
    _after_b("q", 1) + rf"(?:tr\.?|uarter)\s*(?P<q>\d)(?:\s+(?:of\s+)?(?P<y>(?:19|20)\d\d))?{_E}",
    # 2019年第三季度, 2019年三季度, 19年第3季度; then 今年第三季度, 去年四季度. Two patterns, each
    # starting with one character class, so re skips ahead to candidates (no match of one can
    # overlap a match of the other). The year is (?:19|20)?\d\d, written digits first.
    r"(?P<y>\d\d(?:(?<=19|20)\d\d)?)\s*年\s*(?:的\s*)?(?:第\s*)?"
    r"(?P<zq>[一二三四五六七八九1-9])\s*季度?(?!月)",
    rf"(?P<yr>{_ZH_REL_YEAR})\s*(?:的\s*)?(?:第\s*)?"
    r"(?P<zq>[一二三四五六七八九1-9])\s*季度?(?!月)",
    # 第三季度, 三季度, 第3季度, Q3季度
    r"(?:第\s*)?(?P<zq>[一二三四五六七八九1-9])\s*季度",
    # bare Q3, 4Q
    _after_b("q", 1) + rf"(?P<q>\d){_E}",
    _after_b(r"(?P<q>\d)", 1) + rf"q{_E}",
]
_QUARTER_RES = [re.compile(p) for p in _QUARTER_PATTERNS]

# Half years: H1 2019, 2019H1, 2019年H1, 1H19, 19H1, H1'19, first half of 2019, 2019年上半年.
_HALF_PATTERNS = [
    _after_b(r"(?P<y>(?:19|20)\d\d)", 4) + rf"\s*[-/ ]?\s*h(?P<h>\d){_E}",
    # 2019年H1, 19年h2, 去年H1: before "H1 2020" can take the h from its year
    rf"(?P<y>(?:19|20)?\d\d|{_ZH_REL_YEAR})(?:(?<=年)|\s*年)\s*h(?P<h>\d)",
    _after_b("h", 1) + rf"(?P<h>\d)\s*(?:of\s+|[-/ ]\s*)?(?P<y>{_YEAR}|['’]\d\d|\d\d(?!\d)){_E}",
    _after_b(r"(?P<y>\d\d)", 2) + rf"h(?P<h>\d){_E}",
    _after_b(r"(?P<h>\d)", 1) + rf"h(?P<y>\d\d|(?:19|20)\d\d){_E}",
    rf"{_B}(?:the\s+)?(?P<o>first|1st|second|2nd|latter|last)\s+half"
    rf"(?:\s+(?:of\s+|in\s+)?(?:the\s+)?(?P<y>{_YEAR}))?{_E}",
    rf"(?P<y>(?:19|20)?\d\d|{_ZH_REL_YEAR})\s*(?:年\s*)?(?:的\s*)?(?P<zh>上|下)半年",
    r"(?P<zh>上|下)半年",
    _after_b("h", 1) + rf"(?P<h>\d){_E}",
]
_HALF_RES = [re.compile(p) for p in _HALF_PATTERNS]
_HALF_WORDS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "latter": 2,
    "last": 2,
    "上": 1,
    "下": 2,
}

# The beginning or the end of a year: Q1 or Q4.
_EDGE_RES = [
    re.compile(
        rf"{_B}(?:the\s+)?(?P<edge>beginning|start|early|end|late|close)(?:\s+|-)(?:of\s+)?"
        rf"(?:the\s+)?(?P<y>{_YEAR}){_E}"
    ),
    re.compile(_after_b(r"(?P<y>(?:19|20)\d\d)", 4) + rf"\s*(?:year[- ]?)?(?P<edge>end|start){_E}"),
    re.compile(
        _after_b("y", 1) + rf"ear[- ]?(?P<edge>end|start)\s*(?:of\s+)?(?P<y>(?:19|20)\d\d){_E}"
    ),
    re.compile(
        rf"(?P<y>(?:19|20)\d\d|{_ZH_REL_YEAR})\s*(?:年\s*)?(?P<edge>年初|年底|年末|初|底|末)"
    ),
]
_EDGE_QUARTER = {
    "beginning": 1,
    "start": 1,
    "early": 1,
    "年初": 1,
    "初": 1,
    "end": 4,
    "late": 4,
    "close": 4,
    "年底": 4,
    "年末": 4,
    "底": 4,
    "末": 4,
}

# Month ranges: Jul-Sep 2019, July to September 2019, 2019年7-9月, 7月至9月.
_RANGE_RES = [
    re.compile(
        rf"{_B}(?P<m1>{_MONTHS})\.?\s*(?:-|to|through|thru|until|till)\s*(?P<m2>{_MONTHS})\.?"
        rf"(?:\s*,?\s*(?:of\s+)?(?P<y>{_YEAR}))?{_E}"
    ),
    re.compile(
        rf"(?:(?P<y>(?:19|20)\d\d|{_ZH_REL_YEAR})\s*年?\s*)?(?P<m1>\d{{1,2}})\s*月?\s*"
        r"(?:-|至|到)\s*(?P<m2>\d{1,2})\s*月(?!活)"
    ),
]

_RELATIVE_RE = re.compile(
    "(?P<rel>"
    + _after_b_words("last quarter|previous quarter|this quarter|current quarter|next quarter")
    + rf"){_E}"
    rf"(?!\s+(?:of\s+|in\s+)?(?:{_YEAR}))"
    r"|(?P<zrel>上个?季度|本季度|这个?季度|上一季度|下个?季度|下一季度)"
)
# Year on year: compare with the same quarter a year earlier (not a period of its own).
_YOY_RE = re.compile(
    rf"{_B}(?:yoy|y/y|y-o-y|year[- ]on[- ]year|year[- ]over[- ]year|(?:a\s+)?year[- ]ago"
    rf"|(?:a\s+)?year[- ]earlier|(?:vs\.?\s+|against\s+)?(?:the\s+)?same (?:quarter|period)"
    rf"(?:\s+(?:of\s+|in\s+)?(?:the\s+)?(?:last|previous|prior) year|\s+a year (?:ago|earlier))?){_E}"
    r"|同比|去年同期|上年同期"
)
_REL_YEAR_RE = re.compile(rf"(?P<rel>{_after_b_words(_REL_YEAR)}){_E}")

# Spans that look like a month or a date. Their year, month and day are read from the groups
# (`_read_date`).
_DATE_RES = [
    re.compile(
        rf"{_B}(?:(?P<d1>\d{{1,2}})\s+)?(?P<mn>{_MONTHS})\.?\s*"
        rf"(?:(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s*)?(?P<y>(?:19|20)\d\d){_E}"
    ),
    re.compile(
        _after_b(r"(?P<y>(?:19|20)\d\d)", 4)
        + rf"[-/.](?P<m>0?[1-9]|1[0-2])(?:[-/.](?P<d>\d{{1,2}}))?{_E}"
    ),
    re.compile(rf"{_B}(?P<m>0?[1-9]|1[0-2])[-/](?P<y>(?:19|20)\d\d){_E}"),
    re.compile(r"(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*[日号])?"),
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

# What each pattern cannot match without: groups of literals, one of each group present. Looked
# for once per text (a substring test is far cheaper than a regex scan), they skip the patterns
# that cannot match, such as every Chinese one on English text. A gate is only ever a necessary
# condition, so no match is lost.
_DIGIT = "<digit>"  # any \d, Unicode digits included: tested with _DIGIT_RE
_DIGIT_RE = re.compile(r"\d")
# A month name as every month pattern holds it: before no letter but the t or u of "to",
# "through", "until" (so "market" does not open them), and after no letter. A digit may stand
# before it: blanking "2019年q3" frees "jan" in "2019年q3jan 2020". No blanked phrase ends in a
# latin letter just before a month (those that end in one end at a word boundary), so "smart"
# or "dismay" never open the month patterns. (Each name starts the pattern: re skips ahead.)
_MONTH = "<month>"
_MONTH_RE = re.compile(rf"(?:{_after_b_words(_MONTHS, not_before='a-z')})(?![a-sv-z])")
_GATE_LITERALS = (
    *("q", "h", "quarter", "qtr", "half", "year", "same", "yoy", "y/y", "y-o-y"),
    *("beginning", "start", "early", "end", "late", "close"),
    *("季", "年", "月", "半年", "初", "底", "末", "同比", "同期"),
)
_Q_DIGIT = (("q",), (_DIGIT,))
_H_DIGIT = (("h",), (_DIGIT,))
_QUARTER_WORD = (("quarter", "qtr"),)
_RELATIVE_NEEDS = (("quarter", "季"),)
_RANGE_NEEDS = [((_MONTH,),), (("月",),)]
_HALF_NEEDS = [_H_DIGIT, (("年",), ("h",))] + [_H_DIGIT] * 3
_HALF_NEEDS += [(("half",),), (("半年",),), (("半年",),), _H_DIGIT]
_EDGE_NEEDS = [
    (("beginning", "start", "early", "end", "late", "close"),),
    (("end", "start"),),
    (("year",),),
    (("初", "底", "末"),),
]
_QUARTER_NEEDS = [_Q_DIGIT, (("年",), ("q",))] + [_Q_DIGIT] * 3 + [_QUARTER_WORD, _QUARTER_WORD]
_QUARTER_NEEDS += [(("季",),), (("季",),), (("季",),), _Q_DIGIT, _Q_DIGIT]
_DATE_NEEDS = [((_MONTH,), (_DIGIT,)), ((_DIGIT,),), ((_DIGIT,),), (("年",), ("月",))]
_YEAR_NEEDS = [(("年",),), ((_DIGIT,),)]
_REL_YEAR_NEEDS = (("year", "年"),)
_MONTH_ONLY_NEEDS = ((_MONTH, "月"),)
_YOY_NEEDS = (("yoy", "y/y", "y-o-y", "year", "same", "同比", "同期"),)


def _present(text: str) -> set[str]:
    """The gate literals ``text`` holds."""
    found = {lit for lit in _GATE_LITERALS if lit in text}
    if _DIGIT_RE.search(text):
        found.add(_DIGIT)
    if _MONTH_RE.search(text):
        found.add(_MONTH)
    return found


def _may(present: set[str], needs: tuple[tuple[str, ...], ...]) -> bool:
    return all(not present.isdisjoint(group) for group in needs)


def quarter_of(day: dt.date) -> Period:
    return Period(day.year, (day.month - 1) // 3 + 1)


def _read_date(m: re.Match) -> dt.date | None:
    """The day (or the month's first day) a `_DATE_RES` match names; None if there is none.

    Read from the match's groups with calendar checks (see the module's docstring).
    """
    g = m.groupdict()
    if g.get("d1") and g.get("d"):  # "3 sep 15 2019": two days are no date (dateparser agrees)
        return None
    month = _MONTH_NUMBER[g["mn"]] if g.get("mn") else int(g["m"])
    day = g.get("d1") or g.get("d")
    try:
        return dt.date(int(g["y"]), month, int(day) if day else 1)
    except ValueError:  # month 13, 31 September, day 0
        return None


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def zh_numeral_years(text: str) -> str:
    """二〇一九年 → 2019年 (same length, so positions keep their meaning)."""
    if "年" not in text:  # the pattern needs it: a long message is not scanned for nothing
        return text
    return _ZH_NUMERAL_YEAR_RE.sub(lambda m: "".join(_ZH_NUMERAL[c] for c in m.group(0)), text)


def _next(p: Period) -> Period:
    return Period(p.year + 1, 1) if p.quarter == 4 else Period(p.year, p.quarter + 1)


# The month ranges that are a period: (first month, last month) -> kind, quarter or half.
_MONTH_SPANS = {
    (1, 3): ("quarter", 1),
    (4, 6): ("quarter", 2),
    (7, 9): ("quarter", 3),
    (10, 12): ("quarter", 4),
    (1, 6): ("half", 1),
    (7, 12): ("half", 2),
    (1, 12): ("year", None),
}


def _range_spec(m1: int, m2: int, y: int | None, span: str, rel: str) -> PeriodSpec:
    """A month range that is exactly a quarter, a half or a year; anything else is refused."""
    kind, number = _MONTH_SPANS.get((m1, m2), ("", None))
    if not kind or (kind == "year" and not y):
        raise PeriodError(span)  # figures are quarterly: Aug-Oct is no quarter
    return PeriodSpec(kind if y else f"bare_{kind}", y, number, span, rel)


def find_periods(text: str, today: dt.date | None = None) -> tuple[list[Found], str]:
    """Every period phrase in normalised ``text``, in order, and the text with them blanked.

    Relative phrases (last quarter, 去年) are resolved against ``today``. A year-on-year
    phrase yields a spec of kind ``yoy``-free form: see ``find_yoy``.
    Raises PeriodError for a period that cannot exist (Q5, month 13, Aug-Oct).
    """
    today = today or dt.date.today()
    found: list[Found] = []
    present = _present(text)  # blanking only removes text: what is absent stays absent

    for m in _RELATIVE_RE.finditer(text) if _may(present, _RELATIVE_NEEDS) else ():
        rel = m.group("rel") or m.group("zrel")
        current = quarter_of(today)
        if "this" in rel or "current" in rel or "本" in rel or "这" in rel:
            p = current
        elif "next" in rel or "下" in rel:
            p = _next(current)
        else:
            p = current.previous()
        spec = PeriodSpec("quarter", p.year, p.quarter, rel, rel)
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    for m in _RANGE_RES[0].finditer(text) if _may(present, _RANGE_NEEDS[0]) else ():
        y = _year(m.group("y"), today)
        spec = _range_spec(
            _MONTH_NUMBER[m.group("m1")],
            _MONTH_NUMBER[m.group("m2")],
            y,
            m.group(0).strip(),
            _relative(m.group("y")),
        )
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())
    for m in _RANGE_RES[1].finditer(text) if _may(present, _RANGE_NEEDS[1]) else ():
        y = _year(m.group("y"), today)
        spec = _range_spec(
            int(m.group("m1")), int(m.group("m2")), y, m.group(0).strip(), _relative(m.group("y"))
        )
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    for rx, needs in zip(_HALF_RES, _HALF_NEEDS, strict=True):
        for m in rx.finditer(text) if _may(present, needs) else ():
            g = m.groupdict()
            word = g.get("o") or g.get("zh")
            h = _HALF_WORDS[word] if word else int(g["h"])
            if not 1 <= h <= 2:
                raise PeriodError(m.group(0).strip())
            y = _year(g.get("y"), today)
            kind = "half" if y else "bare_half"
            spec = PeriodSpec(kind, y, h, m.group(0).strip(), _relative(g.get("y")))
            found.append(Found(spec, m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx, needs in zip(_EDGE_RES, _EDGE_NEEDS, strict=True):
        for m in rx.finditer(text) if _may(present, needs) else ():
            y = _year(m.group("y"), today)
            q = _EDGE_QUARTER[m.group("edge")]
            spec = PeriodSpec("quarter", y, q, m.group(0).strip(), _relative(m.group("y")))
            found.append(Found(spec, m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx, needs in zip(_QUARTER_RES, _QUARTER_NEEDS, strict=True):
        for m in rx.finditer(text) if _may(present, needs) else ():
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
            ytext = g.get("y") or g.get("y2") or g.get("yr")
            y = _year(ytext, today)
            spec = (
                PeriodSpec("quarter", y, q, m.group(0).strip(), _relative(ytext))
                if y
                else PeriodSpec("bare_quarter", None, q, m.group(0).strip())
            )
            found.append(Found(spec, m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx, needs in zip(_DATE_RES, _DATE_NEEDS, strict=True):
        for m in rx.finditer(text) if _may(present, needs) else ():
            span = m.group(0).strip()
            day = _read_date(m)
            if day is None:
                raise PeriodError(span)
            p = quarter_of(day)
            found.append(Found(PeriodSpec("quarter", p.year, p.quarter, span), m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for rx, needs in zip(_YEAR_RES, _YEAR_NEEDS, strict=True):
        for m in rx.finditer(text) if _may(present, needs) else ():
            y = int(m.group("y"))
            found.append(Found(PeriodSpec("year", y, None, m.group(0).strip()), m.start(), m.end()))
            text = _blank(text, m.start(), m.end())

    for m in _REL_YEAR_RE.finditer(text) if _may(present, _REL_YEAR_NEEDS) else ():
        rel = m.group("rel")
        spec = PeriodSpec("year", _year(rel, today), None, rel, rel)
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    # A month without a year means its quarter in the latest year that has figures.
    for m in _MONTH_ONLY_RE.finditer(text) if _may(present, _MONTH_ONLY_NEEDS) else ():
        month = _MONTH_NUMBER[m.group("m")] if m.group("m") else int(m.group("zm"))
        if not 1 <= month <= 12:
            raise PeriodError(m.group(0).strip())
        spec = PeriodSpec("bare_quarter", None, (month - 1) // 3 + 1, m.group(0).strip())
        found.append(Found(spec, m.start(), m.end()))
        text = _blank(text, m.start(), m.end())

    found.sort(key=lambda f: f.start)
    return found, text


def find_yoy(text: str) -> tuple[bool, str]:
    """Whether ``text`` asks year on year (YoY, 同比, year-ago), and the text with it blanked.

    Run before ``find_periods``: "same quarter last year" must not read as "last year".
    """
    hit = False
    for m in _YOY_RE.finditer(text) if _may(_present(text), _YOY_NEEDS) else ():
        hit = True
        text = _blank(text, m.start(), m.end())
    return hit, text


# Words that speak of time. One left over after the grammar has run means a period phrase was
# not understood: it is named back to the user, never dropped.
PERIOD_WORD_RE = re.compile(
    rf"{_B}(?:quarters?|qtrs?|halfs?|halves|half-year|years?|yrs?|months?|mid|midyear|"
    rf"beginning|early|late|ago|fy\d*|ytd|h\d|q\d+|{_MONTHS.replace('may|', '')})(?![a-z])"
    r"|季度?|半年|年初|年底|年末|年中|月(?!活)|同期|上月|本月"
)


# Every period phrase holds one of these; long messages are read only around them.
_ANCHOR_RE = re.compile(
    rf"\d|(?<![a-z])(?:quarters?|qtr|half|year|yoy|y/y|y-o-y|same|beginning|start|early|end|late"
    rf"|close|{_MONTHS})(?![a-z])|[季年月〇零]|同比|同期"
)


def may_hold_period(text: str) -> bool:
    """Whether ``text`` holds a word every period phrase needs (a digit, "quarter", 季…)."""
    return _ANCHOR_RE.search(text) is not None


_WINDOW = 48  # characters kept on each side of an anchor: longer than any period phrase
_SHORT = 2 * _WINDOW + 40  # below this, the whole text is read directly
_WINDOW_JOIN = "。"


def find_all(text: str, today: dt.date | None = None) -> tuple[bool, list[Found], str]:
    """``find_yoy`` then ``find_periods``, reading a long text only in windows around the
    words every period phrase holds, so a 4,096-character message costs little more than a
    short one. Positions refer to ``text``; the returned text has the phrases blanked."""
    if len(text) <= _SHORT:
        yoy, rest = find_yoy(text)
        found, rest = find_periods(rest, today)
        return yoy, found, rest
    windows: list[list[int]] = []
    for m in _ANCHOR_RE.finditer(text):
        a, b = max(0, m.start() - _WINDOW), min(len(text), m.end() + _WINDOW)
        if windows and a <= windows[-1][1]:
            windows[-1][1] = b
        else:
            windows.append([a, b])
    if not windows:
        return False, [], text
    # All windows are read in one pass, joined by a character no period phrase can hold or
    # cross (not a space, letter or digit), which saves the grammar's ~30 regex scans per window.
    joined = _WINDOW_JOIN.join(text[a:b] for a, b in windows)
    try:
        yoy, rest = find_yoy(joined)
        joined_found, rest = find_periods(rest, today)
    except PeriodError:
        # The period named back must be the first wrong one in reading order; the one-pass read
        # raises in the grammar's order instead. No phrase crosses a window's edge, so a window
        # read alone raises as it did in the one pass: the first window that raises names it.
        # (No period error depends on today's date.)
        for a, b in windows:
            find_periods(find_yoy(text[a:b])[1])
        raise
    at, shift = [], []  # where each window starts in ``joined``, and its offset to ``text``
    j = 0
    for a, b in windows:
        at.append(j)
        shift.append(a - j)
        j += b - a + len(_WINDOW_JOIN)
    found = []
    for f in joined_found:
        d = shift[bisect.bisect_right(at, f.start) - 1]
        found.append(f._replace(start=f.start + d, end=f.end + d))
    parts, last = [], 0
    for (a, b), j in zip(windows, at, strict=True):
        parts.extend((text[last:a], rest[j : j + b - a]))
        last = b
    parts.append(text[last:])
    return yoy, found, "".join(parts)
