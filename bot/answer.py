"""Look up a Query in the store and decide the Answer: figures, changes or an honest no."""

from __future__ import annotations

import datetime as dt
import itertools

from rapidfuzz import fuzz, process

from .db import Store
from .models import Answer, Change, Fact, Lang, Period, PeriodSpec, Query
from .numbers import pct_change
from .parse import merge_followup, parse_question
from .vocab import normalize

MAX_SERIES = 12
MAX_SUGGESTIONS = 4
Key = tuple[str, str, str | None]


def _zh(lang: Lang, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def series_name(store: Store, key: Key, lang: Lang) -> str:
    """ "automotive aftermarket mini programs · DAU" style name of a series."""
    metric, segment, platform = key
    v = store.vocabulary
    parts = [v.label("segment", segment, lang)]
    if platform:
        parts.append(v.label("platform", platform, lang))
    return f"{' '.join(parts)} · {v.label('metric', metric, lang, short=True)}"


def suggestion(store: Store, key: Key, lang: Lang, period: Period | None = None) -> str:
    """A short question that the store answers, for did-you-mean buttons."""
    metric, segment, platform = key
    v = store.vocabulary
    words = [v.label("segment", segment, lang, short=True)]
    if platform:
        words.append(v.label("platform", platform, lang, short=True))
    words.append(v.label("metric", metric, lang, short=True))
    if period:
        words.append(period.label)
    return " ".join(w for w in words if w)


def _suggest(store: Store, keys: list[Key], lang: Lang) -> list[str]:
    out = []
    for key in keys[:MAX_SUGGESTIONS]:
        out.append(suggestion(store, key, lang, store.last_period(*key)))
    return out


def _default_suggestions(store: Store, lang: Lang) -> list[str]:
    keys = store.series_keys(limit=200)
    # Prefer one series per segment so the examples show the breadth of the store.
    seen, picked = set(), []
    for key in keys:
        if key[1] not in seen:
            seen.add(key[1])
            picked.append(key)
    return _suggest(store, picked, lang)


def _fuzzy_hints(store: Store, words: tuple[str, ...]) -> list[str]:
    """Known phrases that look like the words nothing matched ("revenu" → nothing; "dua" → DAU)."""
    vocab = store.vocabulary
    hints = []
    for word in words:
        if len(word) < 3:
            continue
        hit = process.extractOne(word, vocab.fuzzy_choices, scorer=fuzz.WRatio, score_cutoff=70)
        if hit:
            hints.append(hit[0])
    return hints


def _resolve(spec: PeriodSpec, avail: list[Period], bare_years: dict[int, int]) -> list[Period]:
    if spec.kind == "quarter":
        p = Period(spec.year or 0, spec.quarter or 0)
        return [p] if p in avail else []
    if spec.kind == "bare_quarter":
        year = bare_years.get(spec.quarter or 0)
        p = Period(year, spec.quarter or 0) if year else None
        return [p] if p and p in avail else []
    if spec.kind == "year":
        return [p for p in avail if p.year == spec.year]
    if spec.kind == "all":
        return list(avail)
    return avail[-1:]  # latest


def answer_query(query: Query, store: Store) -> Answer:
    """Decide what the store can truthfully say to ``query``."""
    lang = query.lang
    if query.error:
        return _invalid(query, store)
    if query.topic:
        return _topic(query, store)
    if query.is_empty:
        if query.periods:
            return Answer(
                query,
                "ambiguous",
                message=_zh(
                    lang,
                    "Which figure? Name a metric or market, e.g. one of these.",
                    "请说明要查哪个指标或市场，例如：",
                ),
                suggestions=_default_suggestions(store, lang),
            )
        return _invalid(query, store)

    keys = store.series_keys(query.metrics, query.segments, query.platforms, limit=MAX_SERIES + 1)
    if not keys:
        return _no_series(query, store)
    if not query.metrics and query.unknown:
        # "aftermarket revenue": never answer other metrics as if they were the one asked.
        return _no_series(query, store)
    segments = {k[1] for k in keys}
    if query.metrics and not query.segments and len(segments) > 1:
        return Answer(
            query,
            "ambiguous",
            message=_zh(
                lang,
                "That figure exists for more than one market. Which one?",
                "该指标有多个市场的数据，请问是哪一个？",
            ),
            suggestions=_suggest(store, keys, lang),
        )
    if len(keys) > MAX_SERIES:
        return Answer(
            query,
            "ambiguous",
            message=_zh(
                lang,
                "That matches too many figures; please be more specific.",
                "匹配的数据太多，请说得更具体一些。",
            ),
            suggestions=_suggest(store, keys, lang),
        )
    return _figures(query, store, _in_asked_order(query, keys))


def _in_asked_order(query: Query, keys: list[Key]) -> list[Key]:
    """WeChat vs Alipay lists WeChat first: keep the order the question named things in."""

    def rank(key: Key) -> tuple[int, int, int]:
        metric, segment, platform = key
        pos = lambda items, k: items.index(k) if k in items else len(items)  # noqa: E731
        return (
            pos(query.segments, segment),
            pos(query.metrics, metric),
            pos(query.platforms, platform),
        )

    return sorted(keys, key=rank)


def _figures(query: Query, store: Store, keys: list[Key]) -> Answer:
    lang = query.lang
    avail = {key: store.periods(*key) for key in keys}
    bare_years: dict[int, int] = {}
    for periods in avail.values():
        for p in periods:
            bare_years[p.quarter] = max(bare_years.get(p.quarter, 0), p.year)

    specs = query.periods or (PeriodSpec("latest"),)
    facts: list[Fact] = []
    changes: list[Change] = []
    missing: list[str] = []
    notes: list[str] = []
    for key in keys:
        chosen: list[Period] = []
        lacking = []
        for spec in specs:
            got = _resolve(spec, avail[key], bare_years)
            if not got:
                lacking.append(spec)
            chosen.extend(got)
        if lacking:
            missing.append(key)
            continue
        chosen = sorted(set(chosen))
        if query.comparison == "change" and len(chosen) == 1:
            earlier = [p for p in avail[key] if p < chosen[0]]
            if earlier:
                chosen.insert(0, earlier[-1])
            else:
                notes.append(
                    _zh(
                        lang,
                        f"No earlier period is stored for "
                        f"{series_name(store, key, lang)} to compare with.",
                        f"{series_name(store, key, lang)}没有更早的数据可供比较。",
                    )
                )
        series_facts = [f for p in chosen if (f := store.fact(*key, p))]
        facts.extend(series_facts)
        for a, b in itertools.pairwise(series_facts):
            if a.qualifier == "=" and b.qualifier == "=" and a.value:
                changes.append(
                    Change(
                        a.metric,
                        a.segment,
                        a.platform,
                        a.period,
                        b.period,
                        a.value,
                        b.value,
                        pct_change(a.value, b.value),
                    )
                )
            else:
                notes.append(
                    _zh(
                        lang,
                        "No % change: at least one figure is a bound, not exact.",
                        "至少一个数字是区间下限/上限，不计算变化率。",
                    )
                )

    asked = ", ".join(s.describe(lang) for s in specs)
    if not facts:
        periods = sorted({p for k in missing for p in avail[k]})
        return Answer(
            query,
            "not_found",
            message=_zh(
                lang,
                f"No figure for {asked} in the store for "
                f"{'; '.join(series_name(store, k, lang) for k in missing)}.",
                f"没有{asked}的数据：{'；'.join(series_name(store, k, lang) for k in missing)}。",
            ),
            available=[p.label for p in periods],
            suggestions=_suggest(store, missing, lang),
        )
    if missing:
        notes.append(
            _zh(
                lang,
                f"No figure for {asked} for "
                f"{'; '.join(series_name(store, k, lang) for k in missing)}.",
                f"以下没有{asked}的数据：{'；'.join(series_name(store, k, lang) for k in missing)}。",
            )
        )
    period_note = ""
    if not query.periods:
        latest = sorted({f.period for f in facts})
        shown = ", ".join(p.human() for p in latest)
        shown_zh = "、".join(p.human("zh") for p in latest)
        if query.comparison == "change":
            period_note = _zh(
                lang,
                f"No period asked: comparing the latest quarters ({shown}).",
                f"未指定时间，比较最近的季度（{shown_zh}）。",
            )
        else:
            period_note = _zh(
                lang,
                f"No period asked: showing the latest available ({shown}).",
                f"未指定时间，显示最新数据（{shown_zh}）。",
            )
    return Answer(
        query,
        "answered",
        facts=facts,
        changes=changes,
        period_note=period_note,
        message=" ".join(dict.fromkeys(notes)),
    )


def _topic(query: Query, store: Store) -> Answer:
    lang = query.lang
    segment = query.segments[0] if query.segments else None
    notes = store.notes(segment, query.topic or "")
    if notes:
        wanted = [s for s in query.periods if s.kind == "quarter"]
        if wanted:
            labels = {Period(s.year or 0, s.quarter or 0) for s in wanted}
            notes = [n for n in notes if n.period in labels]
        if notes:
            newest = notes[0].period
            return Answer(query, "answered", notes=[n for n in notes if n.period == newest])
    return Answer(
        query,
        "not_found",
        message=_zh(lang, "The store has no report text on that.", "没有相关的报告内容。"),
        suggestions=_default_suggestions(store, lang),
    )


def _no_series(query: Query, store: Store) -> Answer:
    """Nothing stored for this combination: say so and show what exists for its parts."""
    lang = query.lang
    v = store.vocabulary
    asked = [v.label("metric", m, lang, short=True) for m in query.metrics] + list(query.unknown)
    of = [v.label("segment", s, lang) for s in query.segments]
    of += [v.label("platform", p, lang) for p in query.platforms]
    nearby: list[Key] = []
    for filters in (
        ((), query.segments, query.platforms),
        ((), query.segments, ()),
        (query.metrics, (), query.platforms),
        (query.metrics, (), ()),
        ((), (), query.platforms),
    ):
        if any(filters):
            nearby = store.series_keys(*filters, limit=MAX_SUGGESTIONS)
            if nearby:
                break
    suggestions = _suggest(store, nearby, lang) if nearby else _default_suggestions(store, lang)
    hints = _fuzzy_hints(store, query.unknown)
    what = " ".join(asked)
    where = " ".join(of)
    if what and where:
        message = _zh(
            lang, f"No figure for “{what}” of {where} in the store.", f"没有{where}的“{what}”数据。"
        )
    else:
        message = _zh(
            lang, f"No figure for “{what or where}” in the store.", f"没有“{what or where}”的数据。"
        )
    if nearby:
        have = ", ".join(dict.fromkeys(v.label("metric", k[0], lang, short=True) for k in nearby))
        message += _zh(lang, f" Stored nearby: {have}.", f" 现有相关数据：{have}。")
    if hints:
        message += _zh(
            lang, f" Did you mean: {', '.join(hints)}?", f" 您是不是想问：{'、'.join(hints)}？"
        )
    return Answer(query, "not_found", message=message, suggestions=suggestions)


def _invalid(query: Query, store: Store) -> Answer:
    lang = query.lang
    error = query.error or ""
    if error == "empty":
        message = _zh(
            lang,
            "Ask me about a market figure, e.g. “aftermarket DAU Q3”.",
            "请提问市场数据，例如“后市场 日活 三季度”。",
        )
    elif error.startswith("period:"):
        what = error.split(":", 1)[1]
        message = _zh(
            lang,
            f"“{what}” is not a valid period: quarters run Q1 to Q4, months 1 to 12.",
            f"“{what}”不是有效的时间：季度为一至四季度，月份为1至12月。",
        )
    else:
        hints = _fuzzy_hints(store, query.unknown)
        message = _zh(
            lang, "I couldn't find a metric or market in that.", "没有识别出要查询的指标或市场。"
        )
        if hints:
            message += _zh(
                lang, f" Did you mean: {', '.join(hints)}?", f" 您是不是想问：{'、'.join(hints)}？"
            )
    return Answer(query, "invalid", message=message, suggestions=_default_suggestions(store, lang))


def ask(
    text: str,
    store: Store,
    *,
    chat_kind: str = "cli",
    today: dt.date | None = None,
    previous: Query | None = None,
    record: bool = True,
) -> Answer:
    """Understand and answer one question; records it when the store had no answer.

    ``record=False`` for half-typed text such as inline queries, sent at every keystroke.
    """
    query = parse_question(text, store.vocabulary, today)
    if previous is not None:
        query = merge_followup(previous, query)
    result = answer_query(query, store)
    if record and result.status != "answered" and query.error != "empty":
        store.record_unanswered(text, normalize(text)[:500], result.status, chat_kind)
    return result
