"""Look up a Query in the store and decide the Answer: figures, changes or an honest no."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from rapidfuzz import fuzz, process

from .db import Store
from .models import Answer, Change, Fact, Lang, Period, PeriodSpec, Query
from .numbers import pct_change
from .parse import merge_followup, parse_question
from .vocab import Term, normalize

MAX_SERIES = 12
MAX_SUGGESTIONS = 4
FILLER = Term("filler", "")
MAX_COVERAGE = 8  # markets named when saying what the store covers
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
    # One series per market, so the examples show the breadth of the store.
    markets = store.markets(limit=MAX_SUGGESTIONS)
    return _suggest(store, [store.series_keys(segments=(m,), limit=1)[0] for m in markets], lang)


def _fuzzy_hints(store: Store, words: tuple[str, ...]) -> list[str]:
    """Known phrases that look like the words nothing matched ("revenu" → nothing; "dua" → DAU)."""
    vocab = store.vocabulary
    hints = []
    for word in words:
        if len(word) < 3:
            continue
        hit = process.extractOne(word, vocab.fuzzy_choices, scorer=fuzz.ratio, score_cutoff=75)
        # A hint is another, meaningful word: never the word itself nor a filler ("did").
        if hit and hit[0] != word and vocab.words.get((hit[0],), FILLER).kind != "filler":
            hints.append(hit[0])
    return hints


def _wanted(
    spec: PeriodSpec, avail: list[Period], bare_years: dict[int, int]
) -> tuple[list[Period], list[Period]]:
    """The stored periods a spec asks for, and the asked quarters that have no figure.

    A half year is exactly its two quarters; a year is whichever of its quarters are stored
    (none: the caller reports the year as missing).
    """
    if spec.kind in ("bare_quarter", "bare_half"):
        years = [bare_years[q] for q in spec.quarters() if q in bare_years]
        if not years:
            return [], []
        kind = "quarter" if spec.kind == "bare_quarter" else "half"
        spec = spec._replace(kind=kind, year=max(years))
    if spec.kind in ("quarter", "half"):
        asked = [Period(spec.year or 0, q) for q in spec.quarters()]
        return [p for p in asked if p in avail], [p for p in asked if p not in avail]
    if spec.kind == "year":
        return [p for p in avail if p.year == spec.year], []
    if spec.kind == "all":
        return list(avail), []
    return avail[-1:], []  # latest


def _side(key: Key, period: str | None) -> dict:
    metric, segment, platform = key
    return {"metric": metric, "segment": segment, "platform": platform, "period": period}


def _side_text(store: Store, side: dict, lang: Lang) -> str:
    """ "ride code Alipay: no provinces figure in the store" for one missing side."""
    v = store.vocabulary
    # ``label`` gives "" for a None key. Every missing side names its market or its platform
    # (_missing_dimensions, _side), so ``who`` is never empty.
    who = " ".join(
        x
        for x in (
            v.label("segment", side["segment"], lang, short=True),
            v.label("platform", side["platform"], lang),
        )
        if x
    )
    what = v.label("metric", side["metric"], lang, short=True)
    when = _period_text(side["period"] or "", lang)
    if lang == "zh":
        return f"{who}{when}：没有{what}数据"
    head = ", ".join(x for x in (who, when) if x)
    return f"{head}: no {what + ' ' if what else ''}figure in the store"


def _period_text(label: str, lang: Lang) -> str:
    """A --json period label in words: 2019Q1 → Q1 2019 / 2019年第一季度; others as they are.

    No half (2019H1) reaches here: an asked half is always reported by its two quarters.
    """
    m = re.fullmatch(r"(\d{4})Q([1-4])", label)
    return Period(int(m.group(1)), int(m.group(2))).human(lang) if m else label


def _missing_dimensions(query: Query, keys: list[Key]) -> list[dict]:
    """Asked platforms, markets or metrics (sides of a comparison) that have no series."""
    sides: list[dict] = []
    # The market of a missing side when the answer covers one market only (one asked, or
    # several asked of which one has figures); the keys always hold the asked ones.
    segment = keys[0][1] if len({k[1] for k in keys}) == 1 else None
    metric = query.metrics[0] if len(query.metrics) == 1 else None
    for platform in query.platforms:
        if not any(k[2] == platform for k in keys):
            sides.append({"metric": metric, "segment": segment, "platform": platform})
    for seg in query.segments:
        if not any(k[1] == seg for k in keys):
            sides.append({"metric": metric, "segment": seg, "platform": None})
    # A metric no asked market has: named for each of them ("pan-auto: no MAU figure"), never
    # for nobody.
    markets = [segment] if segment or not query.segments else list(query.segments)
    for m in query.metrics:
        if not any(k[0] == m for k in keys):
            sides.extend({"metric": m, "segment": seg, "platform": None} for seg in markets)
    return [{**side, "period": None} for side in sides]


def answer_query(query: Query, store: Store, max_series: int | None = MAX_SERIES) -> Answer:
    """Decide what the store can truthfully say to ``query``.

    More than ``max_series`` matching series asks the user to narrow the question; a push
    summary, which reports every figure of a market, passes None.
    """
    lang = query.lang
    if query.error:
        return _invalid(query, store)
    if query.topic:
        return _topic(query, store)
    if query.is_empty:
        if query.unknown and query.periods:
            return _no_series(query, store)
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

    if query.unknown:
        # "Didi users", "aftermarket revenue": words the store does not know are never
        # answered with other figures as if they were the one asked.
        return _no_series(query, store)
    limit = None if max_series is None else max_series + 1
    keys = store.series_keys(query.metrics, query.segments, query.platforms, limit=limit)
    if not keys:
        return _no_series(query, store)
    # A metric asked without a market: every market that has it counts, not only those of the
    # first keys read. (Only then: the look-up is one more query on every answer.)
    if (
        query.metrics
        and not query.segments
        and len(store.markets(query.metrics, query.platforms, limit=2)) > 1
    ):
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
    if max_series is not None and len(keys) > max_series:
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
    missing: list[dict] = _missing_dimensions(query, keys)
    quiet: list[dict] = []  # missing sides already explained by their own note
    empty: list[Key] = []  # series with no figure for anything asked
    notes: list[str] = []
    for key in keys:
        chosen: list[Period] = []
        lacking: list[str] = []
        for spec in specs:
            got, absent = _wanted(spec, avail[key], bare_years)
            chosen.extend(got)
            lacking.extend(p.label for p in absent)
            if not got and not absent:
                lacking.append(spec.label)
        chosen = sorted(set(chosen))
        if query.comparison == "yoy":
            # With no period asked, ``chosen`` already is the latest quarter ("latest" spec).
            chosen, ago_missing = _year_ago(chosen, avail[key])
            for ago, p in ago_missing:
                quiet.append(_side(key, ago.label))  # said below, in the YoY sentence
                notes.append(
                    _zh(
                        lang,
                        f"No figure for {ago.human()}, a year before {p.human()}: "
                        "no year-on-year change.",
                        f"没有{ago.human(lang)}（上年同期）的数据，无法计算同比。",
                    )
                )
        elif query.comparison == "change" and len(chosen) == 1:
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
        missing.extend(_side(key, label) for label in dict.fromkeys(lacking))
        if not chosen:
            empty.append(key)
            continue
        series_facts = [f for p in chosen if (f := store.fact(*key, p))]
        facts.extend(series_facts)
        if query.comparison == "yoy":
            pairs = [
                (a, b)
                for a, b in itertools.combinations(series_facts, 2)
                if b.period == Period(a.period.year + 1, a.period.quarter)
            ]
        else:
            pairs = list(itertools.pairwise(series_facts))
        for a, b in pairs:
            # A bound ("over 200 cities") has no measured change; an "about" figure has an
            # approximate one, marked ~ wherever it is shown.
            measured = a.qualifier in ("=", "~") and b.qualifier in ("=", "~")
            if measured and a.value:
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
                        a.qualifier,
                        b.qualifier,
                    )
                )
            elif measured:
                notes.append(
                    _zh(lang, "No % change from a figure of zero.", "上期数字为零，不计算变化率。")
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
    said = ("；" if lang == "zh" else "; ").join(
        dict.fromkeys(_side_text(store, m, lang) for m in missing)
    )
    missing += quiet
    if not facts:
        periods = sorted({p for k in empty for p in avail[k]})
        message = _zh(
            lang,
            f"No figure for {asked} in the store for "
            f"{'; '.join(series_name(store, k, lang) for k in empty)}.",
            f"没有{asked}的数据：{'；'.join(series_name(store, k, lang) for k in empty)}。",
        )
        if periods:
            message += _zh(
                lang,
                f" The latest is {periods[-1].human()}.",
                f"最新数据为{periods[-1].human(lang)}。",
            )
        return Answer(
            query,
            "not_found",
            message=message,
            available=[p.label for p in periods],
            suggestions=_suggest(store, empty, lang),
            missing=missing,
        )
    if said:
        notes.insert(0, said + ("。" if lang == "zh" else "."))
    return Answer(
        query,
        "answered",
        facts=facts,
        changes=changes,
        period_note=_period_note(query, specs, facts),
        message=" ".join(dict.fromkeys(notes)),
        missing=missing,
    )


def _period_note(query: Query, specs: tuple[PeriodSpec, ...], facts: list[Fact]) -> str:
    """What the periods asked resolved to: relative ones, year on year, or none asked."""
    lang = query.lang
    relative = [s for s in specs if s.relative]
    if relative:
        return _zh(
            lang,
            "Asked: " + ", ".join(s.describe() for s in relative) + ".",
            "所问时间：" + "、".join(s.describe(lang) for s in relative) + "。",
        )
    shown = sorted({f.period for f in facts})
    if query.comparison == "yoy" and not query.periods:
        return _zh(
            lang,
            f"Year on year, from the latest quarter ({shown[-1].human()}).",
            f"同比，按最新季度（{shown[-1].human(lang)}）。",
        )
    if query.periods:
        return ""
    en = ", ".join(p.human() for p in shown)
    zh = "、".join(p.human("zh") for p in shown)
    if query.comparison == "change":
        return _zh(
            lang,
            f"No period asked: comparing the latest quarters ({en}).",
            f"未指定时间，比较最近的季度（{zh}）。",
        )
    return _zh(
        lang,
        f"No period asked: showing the latest available ({en}).",
        f"未指定时间，显示最新数据（{zh}）。",
    )


def _year_ago(
    targets: list[Period], avail: list[Period]
) -> tuple[list[Period], list[tuple[Period, Period]]]:
    """Each asked quarter with the same quarter a year earlier; (year-ago, quarter) missing."""
    out: set[Period] = set(targets)
    absent = []
    for p in targets:
        ago = Period(p.year - 1, p.quarter)
        if ago in avail:
            out.add(ago)
        else:
            absent.append((ago, p))
    return sorted(out), absent


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
    what = " ".join(asked)
    where = " ".join(of)
    if query.unknown:
        hints = _fuzzy_hints(store, query.unknown)
        words = ", ".join(f"“{w}”" for w in query.unknown)
        message = _zh(
            lang,
            f"No figure for {words}: not in the store. It covers: {coverage(store, lang)}.",
            f"没有{'、'.join(f'“{w}”' for w in query.unknown)}的数据：数据库中没有这些内容。"
            f"现有数据：{coverage(store, lang)}。",
        )
        if hints:
            message += _zh(
                lang, f" Did you mean: {', '.join(hints)}?", f" 您是不是想问：{'、'.join(hints)}？"
            )
        return Answer(query, "not_found", message=message, suggestions=suggestions)
    if what and where:
        message = _zh(
            lang, f"No figure for “{what}” of {where} in the store.", f"没有{where}的“{what}”数据。"
        )
    else:
        message = _zh(
            lang, f"No figure for “{what or where}” in the store.", f"没有“{what or where}”的数据。"
        )
    if nearby:
        have = ("、" if lang == "zh" else ", ").join(
            dict.fromkeys(v.label("metric", k[0], lang, short=True) for k in nearby)
        )
        message += _zh(lang, f" Stored nearby: {have}.", f" 现有相关数据：{have}。")
    # No "Did you mean" here: hints come only from unknown words, answered above.
    return Answer(query, "not_found", message=message, suggestions=suggestions)


def coverage(store: Store, lang: Lang) -> str:
    """What the store covers, market by market: "pan-auto users; aftermarket DAU, MAU; …"."""
    v = store.vocabulary
    markets = store.markets(limit=MAX_COVERAGE + 1)
    by_segment: dict[str, list[str]] = {}
    for metric, segment, _ in store.series_keys(segments=tuple(markets[:MAX_COVERAGE]), limit=None):
        names = by_segment.setdefault(segment, [])
        name = v.label("metric", metric, lang, short=True)
        if name not in names:
            names.append(name)
    parts = [
        f"{v.label('segment', seg, lang, short=True)} {('、' if lang == 'zh' else ', ').join(ms)}"
        for seg, ms in by_segment.items()
    ]
    more = len(markets) > MAX_COVERAGE
    sep = "；" if lang == "zh" else "; "
    return sep.join(parts) + (
        _zh(lang, "; and more (/metrics)", "；等（/metrics）") if more else ""
    )


def _invalid(query: Query, store: Store) -> Answer:
    lang = query.lang
    error = query.error or ""
    if error == "empty":
        message = _zh(
            lang,
            "Ask me about a market figure, e.g. “aftermarket DAU Q3”.",
            "请提问市场数据，例如“后市场 日活 三季度”。",
        )
    elif error.startswith("period_word:"):
        what = error.split(":", 1)[1]
        message = _zh(
            lang,
            f"I couldn't read “{what}” as a period. Ask e.g. Q3 2019, H1 2019, "
            "Jul-Sep 2019, last quarter or 2019.",
            f"无法识别时间“{what}”。可以问：2019年第三季度、2019年上半年、上季度、2019年。",
        )
    elif error.startswith("period:"):
        what = error.split(":", 1)[1]
        message = _zh(
            lang,
            f"“{what}” is not a valid period: quarters run Q1 to Q4, halves H1 to H2, "
            "months 1 to 12, and a month range must be a whole quarter, half or year.",
            f"“{what}”不是有效的时间：季度为一至四季度，半年为上、下半年，月份为1至12月，"
            "月份区间须为整季度、半年或全年。",
        )
    else:
        hints = _fuzzy_hints(store, query.unknown)
        message = _zh(
            lang, "I couldn't find a metric or market in that.", "没有识别出要查询的指标或市场。"
        )
        if query.unknown:
            words = query.unknown[:5]
            message += _zh(
                lang,
                f" Not in the store: {', '.join(f'“{w}”' for w in words)}.",
                f" 数据库中没有：{'、'.join(f'“{w}”' for w in words)}。",
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
        store.record_unanswered(text, normalize(text), result.status, chat_kind)
    return result
