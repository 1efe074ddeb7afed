"""The quarterly summary a push delivers: headline figures, % change, chart and source.

It is built by the answer pipeline, per market, in the subscriber's language.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, field
from typing import Any

from .answer import answer_query
from .db import Store
from .format import figure_text, source_line
from .models import Answer, Change, Fact, Lang, Period, PeriodSpec, Query, Source
from .numbers import signed_pct
from .subscriptions import TOPIC_ALL, lang_text, period_segments

# Telegram's limits on what one message shows (visible characters, after HTML parsing).
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096


@dataclass
class Summary:
    """One push message: HTML text and (maybe) the chart answer to draw."""

    html: str
    short_html: str  # notes as numbered footnotes, each once: compact enough for a caption
    chart: Answer | None = None
    png: bytes | None = None
    file_id: str | None = None  # Telegram's id of the uploaded chart, reused for later chats
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def caption(self) -> str | None:
        """The text to put under the chart, if one fits a caption (else no chart: the figures
        and their notes matter more than the picture)."""
        for text in (self.html, self.short_html):
            if len(visible(text)) <= CAPTION_LIMIT:
                return text
        return None


_MARKS = ("¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹", "*")


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _esc(text: str) -> str:
    # Stored text (titles, notes) may hold <, > and &; quotes need no escaping outside tags.
    return html.escape(text, quote=False)


def _segment_answer(store: Store, segment: str, period: Period, lang: Lang) -> Answer:
    """The answer pipeline for "<segment> <period> change", for all of the market's series."""
    query = Query(
        text=f"{segment} {period.label} change",
        segments=(segment,),
        periods=(PeriodSpec("quarter", period.year, period.quarter, period.label),),
        comparison="change",
        lang=lang,
    )
    return answer_query(query, store, max_series=None)  # every figure, however many


def build_summary(store: Store, period: Period, topics: str, lang: str) -> Summary:
    """The summary of ``period`` for ``topics`` (``*`` or comma-joined segments) in ``lang``."""
    lg: Lang = "zh" if lang == "zh" else "en"
    v = store.vocabulary
    in_period = period_segments(store, period)
    wanted = in_period if topics == TOPIC_ALL else [t for t in topics.split(",") if t]
    head = lang_text(lg, f"New figures: {period.human()}", f"最新数据：{period.human('zh')}")
    full = [f"<b>📊 {_esc(head)}</b>"]
    short = list(full)
    footnotes: list[str] = []  # the short form's notes, numbered in order of first use
    sources: dict[str, Source] = {}
    chart: Answer | None = None
    answers = [_segment_answer(store, segment, period, lg) for segment in wanted]
    # The market that moved most leads (and gives the chart); the rest keep catalogue order.
    answers.sort(
        key=lambda a: -max((abs(c.pct) for c in a.changes if c.to_period == period), default=-1)
    )
    for answer in answers:
        segment = answer.query.segments[0]
        facts = [f for f in answer.facts if f.period == period]
        if not facts:  # only an answered market has figures
            continue
        changes = {(c.metric, c.platform): c for c in answer.changes if c.to_period == period}
        title = f"<b>{_esc(v.label('segment', segment, lg))}</b>"
        full += ["", title]
        short += ["", title]
        for f in facts:
            sources.setdefault(f.source.id, f.source)
            line, note = _fact_line(f, changes.get((f.metric, f.platform)), v, lg)
            full.append(line + note)
            if note:
                if note not in footnotes:
                    footnotes.append(note)
                line += _MARKS[min(footnotes.index(note), len(_MARKS) - 1)]
            short.append(line)
        if chart is None:
            chart = _chart_answer(answer, facts, list(changes.values()))
    tail = [""] + [_esc(source_line(s, lg)) for s in sources.values()]
    marked = [
        f"{_MARKS[min(i, len(_MARKS) - 1)]}{n.removeprefix(' — ')}" for i, n in enumerate(footnotes)
    ]
    return Summary(
        html=_fit("\n".join(full + tail), TEXT_LIMIT),
        short_html=_fit("\n".join(short + (["", *marked] if marked else []) + tail), TEXT_LIMIT),
        chart=chart,
    )


def _fact_line(f: Fact, change: Change | None, v: Any, lang: Lang) -> tuple[str, str]:
    name = v.label("metric", f.metric, lang, short=True)
    if f.platform:
        name = f"{v.label('platform', f.platform, lang, short=True)} {name}"
    line = f"• {_esc(name)}: <b>{_esc(figure_text(f, v, lang))}</b>"
    if change is not None:
        vs = change.from_period.human(lang)
        pct = signed_pct(change.pct, change.approximate)
        line += _esc(lang_text(lang, f" ({pct} vs {vs})", f"（较{vs} {pct}）"))
    note = (f.note_zh or f.note) if lang == "zh" else f.note
    return line, (_esc(f" — {note}") if note else "")


def _chart_answer(answer: Answer, facts: list[Fact], changes: list[Change]) -> Answer | None:
    """One chart for the summary: the first series with a change, else a same-metric compare."""
    from .chart_spec import has_chart

    for c in changes:
        pair = [
            f
            for f in answer.facts
            if (f.metric, f.platform) == (c.metric, c.platform)
            and f.period in (c.from_period, c.to_period)
        ]
        # The chart is drawn from its facts and changes; of the query only the language
        # matters, so the segment's own query is kept as it is.
        sub = Answer(answer.query, "answered", facts=pair, changes=[c])
        if has_chart(sub):
            return sub
    by_metric: dict[str, list[Fact]] = {}
    for f in facts:
        by_metric.setdefault(f.metric, []).append(f)
    for group in by_metric.values():
        if len(group) >= 2:
            sub = Answer(answer.query, "answered", facts=group)
            if has_chart(sub):
                return sub
    return None


def _fit(text: str, limit: int) -> str:
    """Drop whole lines from the end (keeping the source) until the text fits ``limit``."""
    if len(visible(text)) <= limit:
        return text
    *body, tail = text.split("\n")
    while body and len(visible("\n".join([*body, "…", tail]))) > limit:
        body.pop()
    return "\n".join([*body, "…", tail])
