"""From a report (txt, md, html, pdf, docx) to candidate figures for a person to review.

``extract(path, vocab)`` reads the file, finds the report's title, publisher, date and quarter,
and proposes figures with the sentence each came from. Nothing here writes to the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..models import Period
from ..vocab import Vocabulary
from .figures import Candidate, Extractor, document_period
from .keys import Matcher, slug
from .reading import Document, ExtractError, read_document

__all__ = ["Candidate", "ExtractError", "Extraction", "Report", "extract"]


@dataclass
class Report:
    """What the source columns of an ingest file need."""

    title: str
    publisher: str
    published: str  # ISO date, or "" when the report does not say
    period: str  # the quarter the report is about, or ""

    @property
    def source_id(self) -> str:
        name = slug(self.publisher) or "report"
        if not name.isascii() or name == "report":
            digest = hashlib.sha1(f"{self.publisher}|{self.title}".encode()).hexdigest()[:6]
            name = f"report-{digest}"
        return "-".join(x for x in (name.replace("_", "-"), self.period.lower()) if x)


@dataclass
class Extraction:
    report: Report
    candidates: list[Candidate] = field(default_factory=list)

    def new_keys(self) -> dict[tuple[str, str], Candidate]:
        seen: dict[tuple[str, str], Candidate] = {}
        for c in self.candidates:
            for m in (c.metric, c.segment, c.platform):
                if m is not None and m.new:
                    seen.setdefault((m.kind, m.key), c)
        return seen


_MONTHS = "january february march april may june july august september october november december"
_MONTH_NO = {name: i for i, name in enumerate(_MONTHS.split(), start=1)}
_DATE_RES = [
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d\d)[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
    re.compile(
        rf"\b(?P<mn>{'|'.join(_MONTHS.split())})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+"
        r"(?P<y>(?:19|20)\d\d)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b(?P<d>\d{{1,2}})\s+(?P<mn>{'|'.join(_MONTHS.split())}),?\s+(?P<y>(?:19|20)\d\d)\b",
        re.IGNORECASE,
    ),
]
_PARTIAL_DATE_RES = [  # a day without its year ("On November 11th", "11月11日")
    re.compile(
        rf"\b(?P<mn>{'|'.join(_MONTHS.split())})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\d年])(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
]
_PUBLISHER_EN = re.compile(
    r"(?:(?:produced|published|released|issued|compiled|by)\s+(?:by\s+)?)"
    r"(?P<p>(?:[A-Z][\w&'\-]*\s+){0,5}(?:Research Institute|Institute|Research|Consulting|"
    r"Analytics|Data|Intelligence|Group|Insights?))\b"
)
_PUBLISHER_ZH = re.compile(
    r"(?P<p>[\u4e00-\u9fff]{2,10}?(?:研究院|研究所|研究中心|咨询|智库|数据中心|数据))(?:发布|出品|推出|的|《|“|”|，|。)"
)
_QUOTED_REPORT = re.compile(r"[“\"《]([^”\"》]{6,80}?(?:report|报告))[”\"》]", re.IGNORECASE)


def _date(m: re.Match, year: int | None = None) -> dt.date | None:
    g = m.groupdict()
    y = int(g["y"]) if g.get("y") else year
    month = _MONTH_NO[g["mn"].lower()] if g.get("mn") else int(g["m"])
    try:
        return dt.date(y, month, int(g["d"])) if y else None
    except ValueError:
        return None


def report_details(doc: Document) -> tuple[str, str, dt.date | None]:
    """Title, publisher and publication date as the report states them (or "")."""
    text = doc.text
    title = doc.title
    quoted = _QUOTED_REPORT.search(text)
    if quoted and not re.search(r"report|报告", title, re.IGNORECASE):
        title = quoted.group(1).strip()
    publisher = doc.publisher
    if not publisher:
        m = _PUBLISHER_ZH.search(text)
        if m:
            publisher = re.sub(r"^(?:由|据|根据|来自|近日|日前|今天|今日)+", "", m.group("p"))
        else:
            m = _PUBLISHER_EN.search(text)
            publisher = m.group("p").strip() if m else ""
    published = dt.date.fromisoformat(doc.published) if doc.published else None
    if published is None:
        for rx in _DATE_RES:
            m = rx.search(text)
            if m and (published := _date(m)):
                break
    return title.strip(), publisher.strip(), published


def extract(
    path: Path,
    vocab: Vocabulary,
    *,
    title: str | None = None,
    publisher: str | None = None,
    published: dt.date | None = None,
) -> Extraction:
    """Read a report and propose its figures; raises ExtractError for unreadable input."""
    doc = read_document(path)
    found_title, found_publisher, found_date = report_details(doc)
    published = published or found_date
    period: Period | None = document_period(doc, published)
    if published is None and period is not None:
        for rx in _PARTIAL_DATE_RES:  # "On November 11th" in a Q3 2019 report: 2019-11-11
            m = rx.search(doc.text)
            if m and (published := _date(m, period.year)):
                if published < dt.date(period.year, period.quarter * 3, 1):
                    published = None  # a report is published after its quarter
                break
    candidates = Extractor(Matcher(vocab), period).run(doc)
    report = Report(
        title=title or found_title,
        publisher=publisher or found_publisher,
        published=published.isoformat() if published else "",
        period=period.label if period else "",
    )
    return Extraction(report, candidates)
