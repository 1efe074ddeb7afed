"""Render an Answer as reply text: plain for the CLI, HTML (every piece escaped) for Telegram."""

from __future__ import annotations

import html as _html
import json

from .models import Answer, Fact, Lang, Period, Source
from .numbers import human_number, plain_number, short_number, signed_pct
from .vocab import Vocabulary

_EN_DASH = " → "


class _Markup:
    """Plain text or Telegram HTML: one renderer, two outputs."""

    def __init__(self, html: bool) -> None:
        self.html = html

    def esc(self, text: str) -> str:
        return _html.escape(text, quote=False) if self.html else text

    def b(self, text: str) -> str:
        return f"<b>{self.esc(text)}</b>" if self.html else text

    def i(self, text: str) -> str:
        return f"<i>{self.esc(text)}</i>" if self.html else text


def figure_text(fact: Fact, vocab: Vocabulary, lang: Lang) -> str:
    """“over 200 million users” / “超过2亿人”."""
    if fact.unit == "percent":
        return f"{human_number(fact.value, fact.qualifier, lang)}%"
    unit = vocab.label("unit", fact.unit, lang)
    number = human_number(fact.value, fact.qualifier, lang)
    if lang == "zh":
        return f"{number}{unit}"
    return f"{number} {unit}".rstrip()


def alternatives_line(fact: Fact, vocab: Vocabulary, lang: Lang) -> str:
    """ "Research A (2020-02-01) gives 301 million users": sources that disagree."""
    said = [
        f"{a.source.title_zh or a.source.title}（{a.source.published}）给出{figure_text(a, vocab, lang)}"
        if lang == "zh"
        else f"{a.source.title} ({a.source.published}) gives {figure_text(a, vocab, lang)}"
        for a in fact.alternatives
    ]
    return ("另：" + "；".join(said)) if lang == "zh" else ("Also: " + "; ".join(said))


def fact_note(fact: Fact, lang: Lang) -> str:
    """What the figure is, in the reply's language ("average per aftermarket mini program")."""
    return (fact.note_zh or fact.note) if lang == "zh" else fact.note


def compact_figure(fact: Fact, vocab: Vocabulary, lang: Lang) -> str:
    """A short label that keeps the qualifier and the note: "200M+ users", "≈283.46M",
    "401K (average per aftermarket mini program)". For charts, buttons and pushes, where a bare
    "401K" would read as a total."""
    unit = "" if fact.unit == "percent" else vocab.label("unit", fact.unit, lang, short=True)
    number = short_number(fact.value, fact.qualifier, lang)
    if fact.unit == "percent":
        number += "%"
    text = f"{number}{unit}" if lang == "zh" else f"{number} {unit}".rstrip()
    note = fact_note(fact, lang)
    if note:
        text += f"（{note}）" if lang == "zh" else f" ({note})"
    return text


def source_line(source: Source, lang: Lang) -> str:
    if lang == "zh":
        return (
            f"来源：{source.title_zh or source.title}，{source.publisher_zh or source.publisher}，"
            f"{source.published}发布"
        )
    return f"Source: {source.title}, {source.publisher}, released {source.published}"


def render_text(answer: Answer, vocab: Vocabulary, *, html: bool = False) -> str:
    """The whole reply for one answer."""
    m = _Markup(html)
    lang = answer.query.lang
    lines: list[str] = []
    if answer.status == "answered" and answer.notes:
        first = answer.notes[0]  # an answer's notes share their market, topic and quarter
        topic = vocab.label("topic", first.topic, lang)
        segment = vocab.label("segment", first.segment, lang)
        head = f"{segment}：{topic}" if lang == "zh" else f"{segment}: {topic}"
        lines.append(m.b(f"{head} ({first.period.human(lang)})"))
        for n in answer.notes:
            lines.append(
                m.esc(f"{n.ordinal}. {(n.text_zh or n.text_en) if lang == 'zh' else n.text_en}")
            )
    elif answer.status == "answered":
        lines.extend(_figure_lines(answer, vocab, m))
    else:
        lines.append(m.esc(answer.message))
        if answer.available:
            periods = [Period.parse(p).human(lang) for p in answer.available]
            lines.append(
                m.esc(
                    ("已有数据的时间：" if lang == "zh" else "Periods with figures: ")
                    + ", ".join(periods)
                )
            )
        if answer.suggestions:
            lines.append(
                m.esc(("可以试试：" if lang == "zh" else "Try: ") + " · ".join(answer.suggestions))
            )
        return "\n".join(lines)

    extra = [t for t in (answer.period_note, answer.message) if t]
    if extra:
        lines.append("")
        lines.extend(m.i(t) for t in extra)
    sources = answer.sources
    if sources:
        lines.append("")
        lines.extend(m.esc(source_line(s, lang)) for s in sources)
    return "\n".join(lines)


def _figure_lines(answer: Answer, vocab: Vocabulary, m: _Markup) -> list[str]:
    lang = answer.query.lang
    groups: dict[tuple[str, str], list[Fact]] = {}
    for f in answer.facts:
        groups.setdefault((f.segment, f.metric), []).append(f)
    lines: list[str] = []
    for (segment, metric), facts in groups.items():
        platforms = {f.platform for f in facts}
        head = vocab.label("segment", segment, lang)
        if len(platforms) == 1 and facts[0].platform:
            head += " " + vocab.label("platform", facts[0].platform, lang)
        head += " · " + vocab.label("metric", metric, lang)
        if lines:
            lines.append("")
        lines.append(m.b(head))
        colon, comma = ("：", "，") if lang == "zh" else (": ", ", ")
        stated = {f.period: f.stated_pct for f in facts if f.stated_pct is not None}
        for f in facts:
            where = f.period.human(lang)
            if len(platforms) > 1 and f.platform:
                where = f"{vocab.label('platform', f.platform, lang)}{comma}{where}"
            note = fact_note(f, lang)
            tail = (f"（{note}）" if lang == "zh" else f" ({note})") if note else ""
            bullet = "• " if len(facts) > 1 else ""
            lines.append(
                f"{m.esc(bullet + where + colon)}{m.b(figure_text(f, vocab, lang))}{m.esc(tail)}"
            )
            if f.alternatives:  # sources disagree: name the others (issue 11 part 4)
                lines.append(m.esc(alternatives_line(f, vocab, lang)))
        for c in answer.changes:
            if (c.segment, c.metric) != (segment, metric):
                continue
            label = "变化" if lang == "zh" else "Change"
            who = (
                f" {vocab.label('platform', c.platform, lang)}"
                if len(platforms) > 1 and c.platform
                else ""
            )
            span = f"{c.from_period.human(lang)}{_EN_DASH}{c.to_period.human(lang)}"
            values = f"{plain_number(c.from_value, lang)}{_EN_DASH}{plain_number(c.to_value, lang)}"
            said = ""
            # The note says what the moving figure is (an average, not a total).
            notes = {fact_note(f, lang) for f in facts if f.platform == c.platform}
            if len(notes) == 1 and (note := notes.pop()):
                values += f"，{note}" if lang == "zh" else f", {note}"
            if c.to_period in stated and c.to_period.previous() == c.from_period:
                pct = signed_pct(stated[c.to_period])
                said = f"；报告称{pct}" if lang == "zh" else f"; the report states {pct}"
            lines.append(
                m.esc(f"{label}{who} {span}{colon}")
                + m.b(signed_pct(c.pct, c.approximate))
                + m.esc(f"（{values}{said}）" if lang == "zh" else f" ({values}{said})")
            )
    return lines


def answer_json(answer: Answer, text: str, *, has_chart: bool = False) -> dict:
    """The `marketbot ask --json` object (a contract scripts rely on)."""
    return {
        "question": answer.query.text,
        "status": answer.status,
        "lang": answer.query.lang,
        "facts": [f.as_json() for f in answer.facts],
        "changes": [c.as_json() for c in answer.changes],
        "notes": [
            {
                "segment": n.segment,
                "period": n.period.label,
                "topic": n.topic,
                "text": n.text_en,
                "text_zh": n.text_zh,
                "source": n.source.as_json(),
            }
            for n in answer.notes
        ],
        "available_periods": answer.available,
        "missing": answer.missing,
        "text": text,
        "suggestions": answer.suggestions,
        "chart": has_chart,
    }


def dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False)


def catalogue_line(row: dict, vocab: Vocabulary, lang: Lang = "en") -> str:
    """One series of `Store.catalogue()`: “Ride code (乘车码) / Alipay: cities (2019Q3)”."""
    where = vocab.label("segment", row["segment"], lang)
    if row["platform"]:
        where += " / " + vocab.label("platform", row["platform"], lang)
    metric = vocab.label("metric", row["metric"], lang, short=True)
    return f"{where}: {metric} ({', '.join(row['periods'])}) — {', '.join(row['sources'])}"
