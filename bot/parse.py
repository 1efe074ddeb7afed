"""Understand a question: free text in English, Chinese or both → one typed `Query`."""

from __future__ import annotations

import datetime as dt
import re

from rapidfuzz import fuzz, process

from .models import PeriodSpec, Query
from .periods import PeriodError, find_periods
from .vocab import Term, Vocabulary, is_cjk, normalize

MAX_QUESTION = 500  # characters considered; longer input is cut, never rejected
FUZZY_CUTOFF = 84

# Emoji, symbols and punctuation carry no meaning here; keep / . ' - inside words.
_NOISE_RE = re.compile(r"[^\w\s/.'\-\u4e00-\u9fff\u3400-\u4dbf]|_")
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")
_LATIN_WORD_RE = re.compile(r"[a-z0-9]+(?:['./][a-z0-9]+)*\.?")


def _cjk_terms(text: str, vocab: Vocabulary) -> tuple[list[tuple[int, Term]], list[str]]:
    """Longest-first dictionary match over CJK runs; leftovers are returned as unknown."""
    found: list[tuple[int, Term]] = []
    unknown: list[str] = []
    for run in _CJK_RUN_RE.finditer(text):
        s, i, leftover = run.group(0), 0, ""
        while i < len(s):
            for n in range(min(vocab.max_cjk, len(s) - i), 0, -1):
                term = vocab.cjk.get(s[i : i + n])
                if term:
                    if leftover:
                        unknown.append(leftover)
                        leftover = ""
                    if term.kind != "filler":
                        found.append((run.start() + i, term))
                    i += n
                    break
            else:
                leftover += s[i]
                i += 1
        if leftover:
            unknown.append(leftover)
    return found, unknown


def _latin_terms(text: str, vocab: Vocabulary) -> tuple[list[tuple[int, Term]], list[str]]:
    """Correct typos word by word, then match the longest known phrases first."""
    words = [(m.start(), m.group(0).rstrip(".")) for m in _LATIN_WORD_RE.finditer(text)]
    fixed = [_corrected(w, vocab) for _, w in words]
    found: list[tuple[int, Term]] = []
    unknown: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(vocab.max_words, len(words) - i), 0, -1):
            term = vocab.words.get(tuple(fixed[i : i + n]))
            if term:
                if term.kind != "filler":
                    found.append((words[i][0], term))
                i += n
                break
        else:
            if not words[i][1].isdigit():
                unknown.append(words[i][1])
            i += 1
    return found, unknown


def _corrected(word: str, vocab: Vocabulary) -> str:
    """The known word a typo most likely meant ("aftermaket" → "aftermarket"), else the word."""
    if len(word) < 4 or word.isdigit() or word in vocab.known_words or (word,) in vocab.words:
        return word
    # A plural is the commonest slip: try the exact singular first.
    if word.endswith("s") and (word[:-1],) in vocab.words:
        return word[:-1]
    hit = process.extractOne(
        word, vocab.fuzzy_choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
    )
    return hit[0] if hit else word


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def parse_question(text: str, vocab: Vocabulary, today: dt.date | None = None) -> Query:
    """Turn a question into a Query; never raises, whatever the input."""
    original = text if isinstance(text, str) else str(text)
    clipped = original[:MAX_QUESTION]
    lowered = normalize("".join(ch if ch.isprintable() else " " for ch in clipped))
    lowered = _NOISE_RE.sub(" ", lowered)
    lang = "zh" if any(is_cjk(c) for c in lowered) else "en"
    if not lowered.strip():
        return Query(text=original, lang=lang, error="empty")

    try:
        found_periods, rest = find_periods(lowered, today)
    except PeriodError as e:
        return Query(text=original, lang=lang, error=f"period:{e}")

    cjk_found, cjk_unknown = _cjk_terms(rest, vocab)
    # Periods are found first (they use hyphens: 2019-08); then "ride-code" is "ride code".
    latin_found, latin_unknown = _latin_terms(_CJK_RUN_RE.sub(" ", rest).replace("-", " "), vocab)
    terms = sorted(cjk_found + latin_found, key=lambda t: t[0])

    by_kind: dict[str, list[str]] = {}
    for _, term in terms:
        by_kind.setdefault(term.kind, []).append(term.key)

    periods: list[PeriodSpec] = [f.spec for f in found_periods]
    if "latest" in by_kind.get("period", []) and not periods:
        periods.append(PeriodSpec("latest", text="latest"))

    compare = by_kind.get("compare", [])
    platforms = _unique(by_kind.get("platform", []))
    segments = _unique(by_kind.get("segment", []))
    distinct_periods = list(dict.fromkeys(periods))
    if len(distinct_periods) >= 2 or "series" in compare or any(p.kind == "year" for p in periods):
        comparison = "periods"
    elif len(platforms) >= 2:
        comparison = "platforms"
    elif len(segments) >= 2:
        comparison = "segments"
    elif "change" in compare:
        comparison = "change"
    else:
        comparison = "none"
    if "series" in compare and not periods:
        distinct_periods = [PeriodSpec("all", text="all")]

    langs = by_kind.get("lang", [])
    if langs:
        lang = langs[-1]  # "in Chinese" / "英文" overrides the script used
    topics = by_kind.get("topic", [])
    return Query(
        text=original,
        metrics=_unique(by_kind.get("metric", [])),
        segments=segments,
        platforms=platforms,
        periods=tuple(distinct_periods),
        comparison=comparison,
        topic=topics[0] if topics else None,
        lang=lang,
        want_chart="chart" in by_kind.get("intent", []),
        unknown=_unique([u for u in latin_unknown + cjk_unknown if u]),
    )


def merge_followup(previous: Query, current: Query) -> Query:
    """Fill what a follow-up ("and Q2?", "vs Alipay", "in Chinese") leaves out from the last one.

    Only a question that names no metric, segment or topic of its own is a follow-up.
    """
    if current.error or (
        not current.is_empty and (current.metrics or current.segments or current.topic)
    ):
        return current
    if not (
        current.periods
        or current.platforms
        or current.lang != previous.lang
        or current.comparison != "none"
        or current.want_chart
    ):
        return current
    comparison = current.comparison
    platforms = current.platforms or previous.platforms
    periods = current.periods or previous.periods
    if current.platforms and not current.periods:
        periods = previous.periods
    is_versus = re.search(
        r"\b(vs\.?|versus|against|compared?)\b|对比|比较|相比", normalize(current.text)
    )
    if is_versus and current.platforms and previous.platforms:
        platforms = _unique([*previous.platforms, *current.platforms])
        comparison = "platforms" if len(platforms) >= 2 else comparison
    if is_versus and current.periods and previous.periods:
        periods = tuple(dict.fromkeys([*previous.periods, *current.periods]))
        comparison = "periods" if len(periods) >= 2 else comparison
    if (
        comparison == "none"
        and current.lang != previous.lang
        and not (current.periods or current.platforms)
    ):
        comparison = previous.comparison
    return previous._replace(
        text=current.text,
        platforms=platforms,
        periods=periods,
        comparison=comparison,
        lang=current.lang if _names_language(current) else previous.lang,
        want_chart=current.want_chart or previous.want_chart,
        unknown=current.unknown,
    )


def _names_language(query: Query) -> bool:
    text = normalize(query.text)
    return (
        bool(re.search(r"chinese|english", text))
        or "中文" in text
        or "英文" in text
        or (query.lang == "zh")
    )
