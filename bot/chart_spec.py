"""What a chart shows, decided without drawing: which facts, in which order, with which
labels, values, bounds and % changes. Plain Python and cheap, so `has_chart` and `chart_spec`
never import matplotlib; `bot.chart_draw` turns a `ChartSpec` into a PNG.
"""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from typing import Literal

from .models import Answer, Change, Fact, Lang, Period
from .numbers import pct_change, short_number, signed_pct

Labels = Callable[[str, str, str], str]
ChartKind = Literal["bars", "line"]
ChartMode = Literal["series", "categories", "single"]

# Canvas: 1000×625 px at 100 dpi. Phones show it ~2.5× smaller, hence the large type.
WIDTH_PX = 1000
HEIGHT_PX = 625
DPI = 100
_STYLE_VERSION = "2"  # bump when the drawing changes, so cached PNGs are not reused

MAX_BARS = 6  # more periods than this are drawn as a line
MAX_CATEGORIES = 8  # more side-by-side bars would not read on a phone
MAX_POINTS = 40


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Exactly what a chart draws; equal specs give identical PNG bytes."""

    kind: ChartKind  # "bars" or "line"
    mode: ChartMode  # series: periods in order; categories: side by side; single: one bar
    title: str
    subtitle: str  # what the figures are ("average per aftermarket mini program"); "" if plain
    unit: str
    labels: tuple[str, ...]  # one per bar or point, in drawing order
    values: tuple[float, ...]
    value_labels: tuple[str, ...]  # short_number, e.g. "28.5K", "200M+"
    lower_bounds: tuple[bool, ...]  # ">" facts: drawn open-ended, never as an exact bar
    upper_bounds: tuple[bool, ...]  # "<" facts: drawn hatched
    pcts: tuple[str | None, ...]  # change from labels[i] to labels[i + 1]; None: not shown
    footnote: str  # source title, publisher and release date
    note: str  # legend for open-ended/hatched marks; "" when there are none
    lang: Lang

    @property
    def key(self) -> str:
        """A stable hash of everything drawn: the cache key."""
        raw = repr((_STYLE_VERSION, WIDTH_PX, HEIGHT_PX, DPI, astuple(self)))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# --- labels -------------------------------------------------------------------------------

_ACRONYMS = frozenset({"dau", "mau", "wau", "gmv", "arpu"})


# Mutation testing (scripts/mutation.sh) covers how qualifiers, notes and sources are written
# on a chart (issue 9); what is drawn where is left out of it.
# pragma: no mutate start
def default_labels(kind: str, key: str, lang: str) -> str:
    """Fallback display name: the key title-cased ("pan_auto" → "Pan Auto", "dau" → "DAU")."""
    if key.lower() in _ACRONYMS:
        return key.upper()
    if kind == "unit":
        return key.replace("_", " ")
    return key.replace("_", " ").title()


def _label(labels: Labels, kind: str, key: str, lang: str) -> str:
    text = labels(kind, key, lang)
    if text or kind == "unit":  # a blank unit ("count") is meant: no unit word is shown
        return text
    return default_labels(kind, key, lang)


# --- planning: which facts make a chart (no matplotlib) -----------------------------------


def _dedupe(facts: Sequence[Fact]) -> list[Fact]:
    # The look-up may return the same figure from two reports; draw it once (first wins).
    seen: set[tuple] = set()
    out = []
    for f in facts:
        k = (f.metric, f.segment, f.platform, f.period)
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out


def _plan(answer: Answer) -> tuple[ChartMode, list[Fact]] | None:
    if answer.status != "answered" or not answer.facts:
        return None
    facts = _dedupe(answer.facts)
    groups: dict[tuple, list[Fact]] = {}
    for f in facts:
        groups.setdefault((f.metric, f.segment, f.platform, f.unit), []).append(f)
    if len(groups) == 1:
        series = sorted(facts, key=lambda f: f.period)
        if 2 <= len(series) <= MAX_POINTS:
            return "series", series
        if len(series) == 1 and answer.query.want_chart:
            return "single", series
        return None
    # Side by side only when like is compared with like: one metric, one unit, one period.
    if (
        len({f.metric for f in facts}) == 1
        and len({f.unit for f in facts}) == 1
        and len({f.period for f in facts}) == 1
        and len(facts) <= MAX_CATEGORIES
    ):
        return "categories", facts
    return None


def has_chart(answer: Answer) -> bool:
    """Whether this answer gets a chart (cheap: matplotlib is not imported)."""
    return _plan(answer) is not None


def is_wide(ch: str) -> bool:
    """A full-width character (CJK): it takes a whole em and may break anywhere."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _join(parts: Sequence[str], lang: Lang) -> str:
    # Chinese runs together without spaces; Latin words (fallback labels) keep theirs.
    out = ""
    for part in (p for p in parts if p):
        if out and not (lang == "zh" and (is_wide(out[-1]) or is_wide(part[0]))):
            out += " "
        out += part
    return out


def _title(
    metric: str,
    segment: str | None,
    platform: str | None,
    unit: str,
    period: Period | None,
    lang: Lang,
) -> str:
    """ "Ride code · users, Q3 2019" / "汽车后市场小程序 · 日活跃用户（日活），单位：人"."""
    # The unit is named unless it is blank or the metric's name already says it ("users").
    words = metric.lower().replace("(", " ").replace(")", " ").split()
    show_unit = bool(unit) and unit.lower() not in words and unit != metric
    bracketed = metric.rstrip().endswith((")", "）"))  # no "(DAU) (users)" pile-up
    if lang == "zh":
        subject = _join([platform or "", segment or ""], lang)
        text = f"{subject} · {metric}" if subject else metric
        if show_unit:
            text += f"，单位：{unit}" if bracketed else f"（{unit}）"
        if period is not None:
            text += f"，{period.human(lang)}"
        return text
    text = f"{segment} · {metric}" if segment else metric
    text = text[:1].upper() + text[1:]  # "monthly active users" opens a title capitalised
    if platform:
        text += f" on {platform}"
    if show_unit:
        text += f", in {unit}" if bracketed else f" ({unit})"
    if period is not None:
        text += f", {period.human(lang)}"
    return text


# pragma: no mutate end
def _footnote(facts: Sequence[Fact], lang: Lang) -> str:
    sources = []
    for f in facts:
        if f.source not in sources:
            sources.append(f.source)
    parts = []
    for s in sources:
        if lang == "zh":
            title = s.title_zh or s.title
            publisher = s.publisher_zh or s.publisher
            parts.append(f"《{title}》，{publisher}，{s.published}发布")
        else:
            parts.append(f"{s.title}, {s.publisher}, released {s.published}")
    if lang == "zh":
        return "来源：" + "；".join(parts)
    return ("Sources: " if len(parts) > 1 else "Source: ") + "; ".join(parts)


def _note(lower: bool, upper: bool, line: bool, lang: Lang) -> str:
    parts = []
    if lower:
        if lang == "zh":
            mark = "虚线箭头" if line else "虚线部分"
            parts.append(f"+ 表示下限（“超过N”），{mark}表示实际值更高")
        else:
            mark = "dashed arrow" if line else "dashed part"
            parts.append(f"+ = lower bound (“over N”): the {mark} means the true figure is higher")
    if upper:
        if lang == "zh":
            parts.append("< 表示上限（“不到N”）" + ("" if line else "，斜线柱"))
        else:
            parts.append("< = upper bound (“under N”)" + ("" if line else ", hatched bar"))
    return "\n".join(parts)  # one paragraph each, drawn beside its own swatch


def _subtitle(facts: Sequence[Fact], lang: Lang) -> str:
    """The figures' notes, once each: a bar labelled "401K" may be an average, not a total."""
    notes: list[str] = []
    for f in facts:
        note = (f.note_zh or f.note) if lang == "zh" else f.note
        if note and note not in notes:
            notes.append(note)
    if not notes:
        return ""
    text = ("；" if lang == "zh" else "; ").join(notes)
    return text[:1].upper() + text[1:] if lang == "en" else text


def _pct_between(a: Fact, b: Fact, changes: dict[tuple, Change]) -> str | None:
    # A change between bounds ("over 100M" → "over 200M") is not a measured change.
    if a.qualifier in (">", "<") or b.qualifier in (">", "<"):
        return None
    ch = changes.get((a.metric, a.segment, a.platform, a.period, b.period))
    if ch is not None:
        pct = ch.pct  # the figure the text answer states, so chart and text agree
    elif a.value:
        pct = pct_change(a.value, b.value)
    else:
        return None
    return signed_pct(pct, "~" in (a.qualifier, b.qualifier))


def _bounds(facts: Sequence[Fact]) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
    """Which figures are lower bounds ("over N") and which upper ("under N")."""
    return tuple(f.qualifier == ">" for f in facts), tuple(f.qualifier == "<" for f in facts)


def _value_label(fact: Fact, lang: Lang) -> str:
    text = short_number(fact.value, fact.qualifier, lang)
    if fact.unit == "percent":  # "45.2" alone would read as a count
        return text[:-1] + "%+" if text.endswith("+") else text + "%"
    return text


# pragma: no mutate start
def chart_spec(answer: Answer, labels: Labels | None = None) -> ChartSpec | None:
    """What the chart for this answer would draw, or None when it gets no chart."""
    plan = _plan(answer)
    if plan is None:
        return None
    mode, facts = plan
    lab = labels or default_labels
    lang: Lang = "zh" if answer.query.lang == "zh" else "en"
    first = facts[0]
    metric = _label(lab, "metric", first.metric, lang)
    unit = _label(lab, "unit", first.unit, lang)

    def platform_name(key: str | None) -> str:
        if key is None:
            return "全平台" if lang == "zh" else "All platforms"
        return _label(lab, "platform", key, lang)

    segments = {f.segment for f in facts}
    platforms = {f.platform for f in facts}
    common_segment = _label(lab, "segment", first.segment, lang) if len(segments) == 1 else None
    common_platform = (
        platform_name(first.platform)
        if len(platforms) == 1 and first.platform is not None
        else None
    )
    if mode == "categories":
        names = []
        for f in facts:
            parts = []
            if len(segments) > 1:
                parts.append(_label(lab, "segment", f.segment, lang))
            if len(platforms) > 1:
                parts.append(platform_name(f.platform))
            names.append(" · ".join(parts))
        title_period: Period | None = first.period
    else:
        # A line has many periods: "2019年第三季度" is too long to label each, "2019Q3" is not.
        compact = lang == "zh" and len(facts) > MAX_BARS
        names = [f.period.label if compact else f.period.human(lang) for f in facts]
        title_period = first.period if mode == "single" else None

    by_key = {
        (c.metric, c.segment, c.platform, c.from_period, c.to_period): c for c in answer.changes
    }
    pcts: tuple[str | None, ...] = ()
    if mode == "series":
        pcts = tuple(_pct_between(a, b, by_key) for a, b in itertools.pairwise(facts))
    lower, upper = _bounds(facts)
    kind: ChartKind = "line" if len(facts) > MAX_BARS else "bars"
    return ChartSpec(
        kind=kind,
        mode=mode,
        title=_title(metric, common_segment, common_platform, unit, title_period, lang),
        subtitle=_subtitle(facts, lang),
        unit=unit,
        labels=tuple(names),
        values=tuple(float(f.value) for f in facts),
        value_labels=tuple(_value_label(f, lang) for f in facts),
        lower_bounds=lower,
        upper_bounds=upper,
        pcts=pcts,
        footnote=_footnote(facts, lang),
        note=_note(any(lower), any(upper), kind == "line", lang),
        lang=lang,
    )


# pragma: no mutate end
# --- text fitting (estimates; drawing re-measures and shrinks if one is off) --------------
