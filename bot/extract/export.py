"""Candidates as an ingest file (CSV or XLSX) for a curator to edit, and as a review table.

The columns are those of data/facts.csv, then `accept` (yes/no), the evidence, the source
columns filled from the report, and the display names of any new key the row proposes.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..db import FACT_FIELDS
from ..numbers import human_number
from . import Extraction
from .figures import Candidate

FACT_COLUMNS = list(FACT_FIELDS)  # the order of data/facts.csv
COLUMNS = [
    *FACT_COLUMNS,
    "accept",
    "confidence",
    "evidence",
    "evidence_page",
    "source_title",
    "source_publisher",
    "source_published",
    "metric_en",
    "metric_zh",
    "segment_en",
    "segment_zh",
    "platform_en",
    "platform_zh",
]


def rows(extraction: Extraction) -> list[dict[str, str]]:
    """One row per candidate, every value as text."""
    r = extraction.report
    out = []
    for c in extraction.candidates:
        row = {
            "metric": c.metric.key if c.metric else "",
            "segment": c.segment.key if c.segment else "",
            "platform": c.platform.key if c.platform else "",
            "period": c.period,
            "value": _number(c.value),
            "qualifier": c.qualifier,
            "unit": c.unit,
            "source": r.source_id,
            "stated_pct": _number(c.stated_pct) if c.stated_pct is not None else "",
            "note": "",
            "note_zh": "",
            "accept": "yes" if c.accept else "no",
            "confidence": f"{c.confidence:.2f}",
            "evidence": _evidence(c),
            "evidence_page": str(c.page) if c.page else "",
            "source_title": r.title,
            "source_publisher": r.publisher,
            "source_published": r.published,
        }
        for kind, m in (("metric", c.metric), ("segment", c.segment), ("platform", c.platform)):
            new = m is not None and m.new
            row[f"{kind}_en"] = m.en if new else ""
            row[f"{kind}_zh"] = m.zh if new else ""
        out.append(row)
    return out


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _evidence(c: Candidate) -> str:
    """The sentence with the number marked: … reached [283 million], up 42.2% …"""
    s = c.sentence
    return f"{s[: c.start]}[{s[c.start : c.end]}]{s[c.end :]}"


def write_csv(extraction: Extraction, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows(extraction))
    tmp.replace(path)  # never leave a half-written file under the real name


def write_xlsx(extraction: Extraction, path: Path) -> None:
    from openpyxl import Workbook  # lazy: only when an XLSX is asked for

    wb = Workbook()
    ws = wb.active
    ws.title = "facts"
    ws.append(COLUMNS)
    for row in rows(extraction):
        ws.append([_cell(col, row[col]) for col in COLUMNS])
    ws.freeze_panes = "A2"
    tmp = path.with_name(path.name + ".tmp")
    wb.save(tmp)
    tmp.replace(path)


def _cell(col: str, text: str) -> str | int | float:
    """Numbers as numbers so a spreadsheet sums and sorts them; everything else as text."""
    if col in ("value", "stated_pct", "confidence", "evidence_page") and text:
        f = float(text)
        return int(f) if f.is_integer() and col != "confidence" else f
    return text


def review_table(extraction: Extraction, width: int = 60) -> str:
    """A plain-text table: one candidate per line with the words around its number."""
    r = extraction.report
    lines = [
        f"{r.title or '(no title)'} · {r.publisher or '(no publisher)'} · "
        f"{r.published or '(no date)'} · period {r.period or '?'}",
        f"{'#':>3} {'ok':<3} {'conf':>4}  {'value':<18} {'unit':<10} {'period':<7} "
        f"{'metric':<12} {'segment':<16} {'platform':<9} {'pct':>6}  evidence",
    ]
    for i, c in enumerate(extraction.candidates, start=1):
        pct = f"{c.stated_pct:+.1f}" if c.stated_pct is not None else ""
        seg = (c.segment.key + ("*" if c.segment.new else "")) if c.segment else "-"
        met = (c.metric.key + ("*" if c.metric.new else "")) if c.metric else "-"
        lines.append(
            f"{i:>3} {'yes' if c.accept else 'no':<3} {c.confidence:>4.2f}  "
            f"{human_number(c.value, c.qualifier):<18} {c.unit:<10} {c.period or '-':<7} "
            f"{met:<12} {seg:<16} {c.platform.key if c.platform else '-':<9} {pct:>6}  "
            f"{_snippet(c, width)}"
        )
    n_new = len(extraction.new_keys())
    lines.append(
        f"{len(extraction.candidates)} candidate(s), "
        f"{sum(c.accept for c in extraction.candidates)} proposed (ok=yes), "
        f"{n_new} new key(s) (marked *)"
    )
    return "\n".join(lines)


def _snippet(c: Candidate, width: int) -> str:
    s = _evidence(c)
    mid = c.start + 1
    a = max(0, mid - width // 2)
    text = s[a : a + width]
    page = f"p.{c.page} " if c.page else ""
    return page + ("…" if a > 0 else "") + text + ("…" if a + width < len(s) else "")
