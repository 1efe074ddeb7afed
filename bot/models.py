"""The typed values every stage passes on: Period, Source, Fact, Query, Change, Answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Qualifier = Literal["=", ">", "<", "~"]
QUALIFIERS: tuple[str, ...] = ("=", ">", "<", "~")
Status = Literal["answered", "not_found", "ambiguous", "invalid"]
Lang = Literal["en", "zh"]

_ZH_QUARTER = {1: "一", 2: "二", 3: "三", 4: "四"}
_PERIOD_RE = re.compile(r"^(\d{4})Q([1-4])$")


class Period(NamedTuple):
    """A calendar quarter; orders by time and prints as ``2019Q3``."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, label: str) -> Period:
        """Read the canonical ``2019Q3`` form (raises ValueError otherwise)."""
        m = _PERIOD_RE.match(label.strip().upper())
        if not m:
            raise ValueError(f"not a period like 2019Q3: {label!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.quarter}"

    def human(self, lang: Lang = "en") -> str:
        if lang == "zh":
            return f"{self.year}年第{_ZH_QUARTER[self.quarter]}季度"
        return f"Q{self.quarter} {self.year}"

    def previous(self) -> Period:
        return (
            Period(self.year - 1, 4) if self.quarter == 1 else Period(self.year, self.quarter - 1)
        )

    def __str__(self) -> str:
        return self.label


class Source(NamedTuple):
    """Where a figure comes from: the report, who published it and when."""

    id: str
    title: str
    publisher: str
    published: str  # ISO date, e.g. "2019-11-11"
    title_zh: str = ""
    publisher_zh: str = ""
    article: str = ""
    url: str = ""

    def as_json(self) -> dict[str, str]:
        return {"title": self.title, "publisher": self.publisher, "published": self.published}


class Fact(NamedTuple):
    """One stored figure: metric of a segment (on a platform) in a period."""

    metric: str
    segment: str
    platform: str | None
    period: Period
    value: float
    qualifier: str
    unit: str
    source: Source
    note: str = ""
    note_zh: str = ""
    stated_pct: float | None = None  # the growth rate the source itself states
    # Other sources' different figures for the same series and period, newest first.
    alternatives: tuple[Fact, ...] = ()

    def as_json(self) -> dict:
        value: float | int = int(self.value) if float(self.value).is_integer() else self.value
        return {
            "metric": self.metric,
            "segment": self.segment,
            "platform": self.platform,
            "period": self.period.label,
            "value": value,
            "qualifier": self.qualifier,
            "unit": self.unit,
            "note": self.note,
            "source": self.source.as_json(),
            "alternatives": [a.as_json() for a in self.alternatives],
        }


PeriodKind = Literal["quarter", "bare_quarter", "half", "bare_half", "year", "all", "latest"]


class PeriodSpec(NamedTuple):
    """A period as asked: an exact quarter, a quarter of unknown year, a half, a year, or latest.

    ``kind`` is ``quarter`` (year and quarter), ``bare_quarter`` (quarter only: the latest
    year that has it), ``half`` (``quarter`` holds the half, 1 or 2: exactly its two
    quarters), ``bare_half``, ``year`` (every quarter of a year), ``all`` (every stored
    quarter) or ``latest``. ``relative`` keeps a phrase such as "last year" that was
    resolved against today's date, so the reply can say what it resolved to.
    """

    kind: PeriodKind
    year: int | None = None
    quarter: int | None = None
    text: str = ""
    relative: str = ""

    def quarters(self) -> tuple[int, ...]:
        """The quarters of the year this spec covers (all four for a year)."""
        if self.kind in ("quarter", "bare_quarter"):
            return (self.quarter or 0,)
        if self.kind in ("half", "bare_half"):
            h = self.quarter or 1
            return (2 * h - 1, 2 * h)
        return (1, 2, 3, 4)

    @property
    def label(self) -> str:
        """Language-free form for --json: 2019Q1, Q1, 2019H1, H1, 2019, all, latest."""
        if self.kind == "quarter":
            return f"{self.year}Q{self.quarter}"
        if self.kind == "bare_quarter":
            return f"Q{self.quarter}"
        if self.kind == "half":
            return f"{self.year}H{self.quarter}"
        if self.kind == "bare_half":
            return f"H{self.quarter}"
        if self.kind == "year":
            return str(self.year)
        return self.kind

    def _plain(self, lang: Lang) -> str:
        if self.kind == "quarter" and self.year and self.quarter:
            return Period(self.year, self.quarter).human(lang)
        if self.kind == "bare_quarter":
            return f"第{_ZH_QUARTER[self.quarter or 1]}季度" if lang == "zh" else f"Q{self.quarter}"
        if self.kind in ("half", "bare_half"):
            zh = "上半年" if self.quarter == 1 else "下半年"
            if self.kind == "half":
                return f"{self.year}年{zh}" if lang == "zh" else f"H{self.quarter} {self.year}"
            return zh if lang == "zh" else f"H{self.quarter}"
        if self.kind == "year":
            return f"{self.year}年" if lang == "zh" else str(self.year)
        if self.kind == "all":
            return "全部季度" if lang == "zh" else "all quarters"
        return "最新" if lang == "zh" else "latest"

    def describe(self, lang: Lang = "en") -> str:
        """ "H1 2019", "last year = 2025": a relative phrase says what it resolved to."""
        plain = self._plain(lang)
        if self.relative:
            return f"{self.relative}（{plain}）" if lang == "zh" else f"{self.relative} = {plain}"
        return plain


Comparison = Literal["none", "periods", "change", "yoy", "platforms", "segments"]


class Query(NamedTuple):
    """What a question asks, understood: the one value the look-up and formatter consume."""

    text: str
    metrics: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    periods: tuple[PeriodSpec, ...] = ()
    comparison: Comparison = "none"
    topic: str | None = None  # a text topic such as "characteristics"
    lang: Lang = "en"
    want_chart: bool = False
    error: str | None = None  # set when the question cannot be a valid question at all
    unknown: tuple[str, ...] = ()  # words that looked meaningful but matched nothing

    @property
    def is_empty(self) -> bool:
        return not (self.metrics or self.segments or self.platforms or self.topic)


class Change(NamedTuple):
    """The move of one series between two periods."""

    metric: str
    segment: str
    platform: str | None
    from_period: Period
    to_period: Period
    from_value: float
    to_value: float
    pct: float  # percent, e.g. -4.6
    from_qualifier: str = "="
    to_qualifier: str = "="

    @property
    def approximate(self) -> bool:
        """Whether either figure is an "about" one: the change is then shown as ~+3.5%."""
        return "~" in (self.from_qualifier, self.to_qualifier)

    def as_json(self) -> dict:
        return {
            "metric": self.metric,
            "segment": self.segment,
            "platform": self.platform,
            "from_period": self.from_period.label,
            "to_period": self.to_period.label,
            "from_value": _plain(self.from_value),
            "to_value": _plain(self.to_value),
            "pct": round(self.pct, 1),
            "approximate": self.approximate,
        }


class Note(NamedTuple):
    """A piece of report text (e.g. one of the market's characteristics)."""

    segment: str
    period: Period
    topic: str
    ordinal: int
    text_en: str
    text_zh: str
    source: Source


@dataclass
class Answer:
    """The look-up's result, before any rendering."""

    query: Query
    status: Status
    facts: list[Fact] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    message: str = ""  # why not answered, in the question's language
    period_note: str = ""  # e.g. "latest available: Q3 2019" when no period was asked
    available: list[str] = field(default_factory=list)  # periods that do exist, for not_found
    # Sides asked for that have no figure: {metric, segment, platform, period} (None: any).
    missing: list[dict] = field(default_factory=list)

    @property
    def sources(self) -> list[Source]:
        seen: dict[str, Source] = {}
        for f in self.facts:
            seen.setdefault(f.source.id, f.source)
        for n in self.notes:
            seen.setdefault(n.source.id, n.source)
        return list(seen.values())


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
