"""Understand a question: free text in English, Chinese or both → one typed `Query`."""

from __future__ import annotations

import bisect
import datetime as dt
import re

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .models import PeriodSpec, Query
from .periods import (
    PERIOD_WORD_RE,
    Found,
    PeriodError,
    find_all,
    may_hold_period,
    zh_numeral_years,
)
from .vocab import CONTENT_KINDS, Term, Vocabulary, is_cjk, normalize

MAX_QUESTION = 4096  # Telegram's message limit; longer input is cut, never rejected
# OSA (Damerau) edit distance allowed for a typo: two from this word length on, else one. Words
# of four letters or fewer only forgive a swapped pair ("dua" → "dau"): "sale" never is "scale".
_LONG_TYPO_WORD = 8
_MIN_FUZZY_LEN = 3
_FIX_CACHE_SIZE = 20_000

# Emoji, symbols and punctuation carry no meaning here; keep / . ' - inside words.
# (CJK characters are \w; "_" is \w too, and is replaced on its own: one character class is a
# quarter faster than the alternation on a long message.)
_NOISE_RE = re.compile(r"[^\w\s/.'\-]")
_DASH_RE = re.compile(r"[\u2010-\u2015\u2212~\uff5e]")  # en/em dashes, minus, tildes: ranges
_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,10}\s*/?>")  # pasted markup: <b>, </i>, <br/>
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")
# A word's own dots stay ("u.s", "2019.08"); a full stop after it is not read.
_LATIN_WORD_RE = re.compile(r"[a-z0-9]+(?:['./][a-z0-9]+)*")
# Where one sentence of a long message ends: the question may be any of them.
# After NFKC, ！？；： are !?;:. A full stop ends a sentence only before a space ("2019.08",
# "v1.2" go on). One character class first, so re skips ahead to candidates (twice as fast).
_SENTENCE_END_RE = re.compile(r"[!?。;:.](?:(?<!\.)|(?=\s))")
_CONTENT_KINDS = CONTENT_KINDS
_LONG_MESSAGE = 280  # characters: beyond this, sentences are screened before parsing
_FRAGMENT_WORDS = 3  # a sentence this short ("Q3 2019?") may complete the question
_LANGUAGE_NAME_RE = re.compile(r"chinese|english|中文|英文")

Hit = tuple[int, Term]  # position in the text, term


def _cjk_terms(text: str, vocab: Vocabulary) -> tuple[list[Hit], list[tuple[int, str]]]:
    """Longest-first dictionary match over CJK runs; leftovers are returned as unknown."""
    found: list[Hit] = []
    unknown: list[tuple[int, str]] = []
    for run in _CJK_RUN_RE.finditer(text):
        s, i, leftover = run.group(0), 0, ""
        while i < len(s):
            # A length past the run's end slices short; that shorter piece, if a phrase, is
            # one of the lengths tried next anyway: no bounds check is needed.
            for n in vocab.cjk_lengths.get(s[i], ()):
                term = vocab.cjk.get(s[i : i + n])
                if term:
                    if leftover:  # the unknown characters just before this phrase
                        unknown.append((run.start() + i - len(leftover), leftover))
                        leftover = ""
                    found.append((run.start() + i, term))
                    i += n
                    break
            else:
                leftover += s[i]
                i += 1
        if leftover:
            unknown.append((run.start() + len(s) - len(leftover), leftover))
    return found, unknown


def _latin_terms(text: str, vocab: Vocabulary) -> tuple[list[Hit], list[tuple[int, str]]]:
    """Correct typos word by word, then match the longest known phrases first."""
    seen = vocab.fix_cache  # every word read before, known ones too: one look-up per word
    at: list[int] = []  # where each word starts
    words: list[str] = []
    for m in _LATIN_WORD_RE.finditer(text):
        fixed = seen.get(m.group()) or _corrected(m.group(), vocab)
        if len(fixed) == 1:
            at.append(m.start())
            words.append(fixed[0])
        else:  # a joined pair ("carcode") becomes its two words, both at the pair's position
            at.extend([m.start()] * len(fixed))
            words.extend(fixed)
    found: list[Hit] = []
    unknown: list[tuple[int, str]] = []
    phrases = vocab.words
    lengths = vocab.latin_lengths
    i, count = 0, len(words)
    while i < count:
        # Only the lengths of phrases that start with this word are worth a look.
        for n in lengths.get(words[i], ()):
            if n > count - i:
                continue
            term = phrases.get(tuple(words[i : i + n]))
            if term:
                found.append((at[i], term))
                i += n
                break
        else:
            # Digits and single letters carry no meaning of their own ("b", "x", "2").
            if not words[i].isdigit() and len(words[i]) > 1:
                unknown.append((at[i], words[i]))
            i += 1
    return found, unknown


def _max_distance(word: str) -> int:
    return 2 if len(word) >= _LONG_TYPO_WORD else 1


def _corrected(word: str, vocab: Vocabulary) -> tuple[str, ...]:
    """The known word(s) a typo most likely meant ("aftermaket" → "aftermarket", "carcode" →
    "car code"), else the word itself. Digit-only words are never "corrected"."""
    if len(word) < _MIN_FUZZY_LEN or word.isdigit():
        return (word,)
    # Not looked up in vocab.fix_cache here: the one caller (_latin_terms) already did.
    known = word in vocab.known_words or (word,) in vocab.words
    hit = (word,) if known else _correct(word, vocab)
    cache = vocab.fix_cache
    if len(cache) >= _FIX_CACHE_SIZE:
        cache.clear()  # bounded: a flood of distinct junk words cannot grow memory
    cache[word] = hit
    return hit


def _correct(word: str, vocab: Vocabulary) -> tuple[str, ...]:
    # A plural is the commonest slip: try the exact singular first.
    if word.endswith("s") and (word[:-1],) in vocab.words:
        return (word[:-1],)
    if any(ch.isdigit() for ch in word):
        return (word,)
    limit = _max_distance(word)
    choices = vocab.fuzzy_by_length
    candidates = [
        c for n in range(len(word) - limit, len(word) + limit + 1) for c in choices.get(n, ())
    ]
    hits = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=limit, limit=2)
    if hits:
        best = hits[0]
        tied = len(hits) > 1 and hits[1][1] == best[1]
        # Short words: only a swapped pair of letters, never another word ("day" ≠ "dau").
        short_ok = len(word) > 4 or sorted(best[0]) == sorted(word)
        if not tied and short_ok:
            return (best[0],)
    # Two known words typed as one: "carcode", "ridecode", a taught "e-car" as "ecar".
    for i in range(1, len(word)):
        left, right = word[:i], word[i:]
        if (left, right) in vocab.words:
            return (left, right)
    return (word,)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _prepare(text: str) -> str:
    """Printable, NFKC, simplified Chinese, lower case, ranges with a plain hyphen, Chinese-
    numeral years as digits; line breaks kept as sentence ends (。)."""
    printable = text[:MAX_QUESTION].replace("\n", "。")
    if not printable.isprintable():
        printable = "".join(ch if ch.isprintable() else " " for ch in printable)
    printable = _TAG_RE.sub(" ", printable)
    return zh_numeral_years(normalize(_DASH_RE.sub("-", printable)))


def _segments(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (start, end)."""
    spans, start = [], 0
    for m in _SENTENCE_END_RE.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def _spaces(m: re.Match) -> str:
    return " " * len(m.group(0))


def _terms(text: str, vocab: Vocabulary) -> tuple[list[Hit], list[tuple[int, str]]]:
    """Known phrases and unknown words of ``text``, each with its position."""
    cjk_found, cjk_unknown = _cjk_terms(text, vocab)
    # Periods are found first (they use hyphens: 2019-08); a word never holds a hyphen, so
    # "ride-code" is read as "ride code".
    latin = _CJK_RUN_RE.sub(_spaces, text)  # same length: positions hold
    latin_found, latin_unknown = _latin_terms(latin, vocab)
    return sorted(cjk_found + latin_found), sorted(latin_unknown + cjk_unknown)


def _question_sentences(
    spans: list[tuple[int, int]],
    terms: list[Hit],
    unknown: list[tuple[int, str]],
    periods: list[Found],
) -> tuple[list[Hit], list[tuple[int, str]], list[Found]]:
    """Keep what lies in the sentences that make the question: those naming something the
    store knows, and fragments with nothing unknown in them ("Q3 2019?"). All of it when no
    sentence names anything."""
    starts = [a for a, _ in spans]
    sentence = lambda pos: bisect.bisect_right(starts, pos) - 1  # noqa: E731
    named = {sentence(pos) for pos, term in terms if term.kind in _CONTENT_KINDS}
    if not named:
        return terms, unknown, periods
    chatter = {sentence(pos) for pos, _ in unknown}
    keep = named | (set(range(len(spans))) - chatter)
    inside = lambda pos: sentence(pos) in keep  # noqa: E731
    return (
        [t for t in terms if inside(t[0])],
        [u for u in unknown if inside(u[0])],
        [f for f in periods if inside(f.start)],
    )


def _all_known(sentence: str, vocab: Vocabulary) -> bool:
    """Whether every word of ``sentence`` is a known word or may belong to a period phrase."""
    known = vocab.one_words  # a set of words: no tuple to build per word
    for word in sentence.split():  # noqa: SIM110 (a plain loop: faster than all() on a generator)
        if word not in known and not may_hold_period(word):
            return False
    return True


def _screened(prepared: str, lowered: str, vocab: Vocabulary) -> str:
    """A long message cut down to the sentences that may hold the question: those with a word
    the store knows, short fragments such as "Q3 2019?", and those with no word but known ones
    and period words ("What about in 2019 Q2?"). All of it when none has a known word."""
    spans = _segments(prepared)
    if len(spans) < 2:
        return lowered
    # A sentence said twice asks nothing new: each distinct one is read once.
    sentences = dict.fromkeys(" ".join(lowered[a:b].split()) for a, b in spans)
    keep, named = [], False
    for text in sentences:
        if not text:
            continue
        known = vocab.screen(text)  # screened once: it decides both what is kept and the fallback
        # Words are single-space separated here, so spaces + 1 is the word count. A sentence of
        # known words and period words is kept for the exact sentence check to judge: dropping
        # "What about in 2019 Q2?" would answer another period than the one asked.
        if known or text.count(" ") < _FRAGMENT_WORDS or _all_known(text, vocab):
            keep.append(text)
            named = named or known
    if not named:
        return lowered
    # Kept sentences stay sentences: the later, exact sentence check needs their ends.
    return " 。 ".join(keep)


def parse_question(text: str, vocab: Vocabulary, today: dt.date | None = None) -> Query:
    """Turn a question into a Query; never raises, whatever the input.

    ``today`` resolves relative periods (last quarter, 去年); the real date when None.
    """
    original = str(text)  # the text itself when it is one
    prepared = _prepare(original)
    # One character for one: positions stay valid.
    lowered = _NOISE_RE.sub(" ", prepared).replace("_", " ")
    if not lowered.strip():
        return Query(text=original, error="empty")  # no Chinese either: the default language
    lang = "zh" if _CJK_RUN_RE.search(lowered) else "en"

    marks = prepared  # where sentences end, position for position with ``lowered``
    if len(lowered) > _LONG_MESSAGE:
        lowered = marks = _screened(prepared, lowered, vocab)
    try:
        yoy, found_periods, rest = find_all(lowered, today)
    except PeriodError as e:
        return Query(text=original, lang=lang, error=f"period:{e}")
    terms, unknown = _terms(rest, vocab)
    # A long message: keep the sentences that name a metric, market, platform or topic (the
    # question may be anywhere); greetings and chatter around it are not the question. A
    # message of one sentence keeps all of it.
    spans = _segments(marks)
    terms, unknown, found_periods = _question_sentences(spans, terms, unknown, found_periods)

    period_words = [
        m.group(0)
        for _, word in unknown
        for m in [PERIOD_WORD_RE.search(word)]
        if m and (m.start() == 0 or is_cjk(word[0]))
    ]
    if period_words:
        # A period phrase that is not understood is named, never dropped.
        return Query(text=original, lang=lang, error=f"period_word:{' '.join(period_words)}")

    by_kind: dict[str, list[str]] = {}
    for _, term in terms:
        by_kind.setdefault(term.kind, []).append(term.key)

    periods: list[PeriodSpec] = [f.spec for f in found_periods]
    if "latest" in by_kind.get("period", []) and not periods:
        periods.append(PeriodSpec("latest"))

    compare = by_kind.get("compare", [])
    platforms = _unique(by_kind.get("platform", []))
    segments = _unique(by_kind.get("segment", []))
    distinct_periods = list(dict.fromkeys(periods))
    if yoy:
        comparison = "yoy"
    elif (
        len(distinct_periods) >= 2
        or "series" in compare
        or any(p.kind in ("year", "half", "bare_half") for p in periods)
    ):
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
        distinct_periods = [PeriodSpec("all")]

    lang = by_kind.get("lang", [lang])[-1]  # "in Chinese" / "英文" overrides the script used
    return Query(
        text=original,
        metrics=_unique(by_kind.get("metric", [])),
        segments=segments,
        platforms=platforms,
        periods=tuple(distinct_periods),
        comparison=comparison,
        topic=by_kind.get("topic", [None])[0],
        lang=lang,
        want_chart="chart" in by_kind.get("intent", []),
        unknown=_unique([u for _, u in unknown if u]),
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
    """Whether a follow-up chooses its reply's language: it names one, or is in Chinese."""
    return query.lang == "zh" or bool(_LANGUAGE_NAME_RE.search(normalize(query.text)))
