"""Teaching the bot words: which key a phrase stands for, adding and removing taught phrases,
and listing the vocabulary with where each entry came from.

The same rules serve `marketbot teach`, `/teach`, `/forget` and the /unanswered buttons.
"""

from __future__ import annotations

from typing import NamedTuple

from rapidfuzz import fuzz, process

from . import history
from .db import ORIGIN_FILE, ORIGIN_SHIPPED, ORIGIN_TAUGHT, Store, now_iso
from .vocab import Term, is_cjk, normalize, tokenize_latin

# Kinds a curator may teach a phrase for: what a question asks about.
TEACHABLE_KINDS = ("metric", "segment", "platform", "topic")
MAX_PHRASE = 60


class TeachError(ValueError):
    """A phrase or key that cannot be taught (or forgotten); the message says why."""


class Taught(NamedTuple):
    phrase: str
    term: Term
    changed: bool  # False: it already meant exactly that
    message: str


def phrase_form(phrase: str) -> str:
    """The form a phrase is matched in (as `Vocabulary.add` stores it)."""
    text = normalize(phrase).replace("-", " ")
    if any(is_cjk(c) for c in text):
        return text
    return " ".join(tokenize_latin(text))


def _clean_phrase(phrase: str) -> str:
    text = normalize(phrase).strip(" \"'“”‘’「」")
    if any(is_cjk(c) for c in text):
        text = "".join(text.split())  # questions are matched on runs of Chinese characters
        if not all(is_cjk(c) for c in text):
            raise TeachError(
                f"“{phrase}”: use either Chinese characters or Latin words in one phrase, not both"
            )
    if not phrase_form(text):
        raise TeachError(f"“{phrase}” has no letters or characters to match")
    if len(text) > MAX_PHRASE:
        raise TeachError(f"a phrase is at most {MAX_PHRASE} characters")
    if text.replace(" ", "").isdigit():
        raise TeachError(f"“{phrase}” is a number, not a word")
    from .periods import PeriodError, find_periods

    try:
        found, _rest = find_periods(text)
    except PeriodError:
        found = [None]
    if found:
        raise TeachError(f"“{phrase}” reads as a period; periods need no teaching")
    return text


def known_keys(store: Store) -> dict[str, set[str]]:
    """key → the kinds it is a key of, over the terms and every stored series."""
    keys: dict[str, set[str]] = {}
    marks = ",".join("?" * len(TEACHABLE_KINDS))
    for kind, key in store.conn.execute(
        f"SELECT kind, key FROM terms WHERE kind IN ({marks})", TEACHABLE_KINDS
    ):
        keys.setdefault(key, set()).add(kind)
    for kind in ("metric", "segment", "platform"):
        for (key,) in store.conn.execute(f"SELECT DISTINCT {kind} FROM series"):
            if key:
                keys.setdefault(key, set()).add(kind)
    return keys


def resolve_key(store: Store, spec: str) -> Term:
    """``pan_auto`` or ``segment:pan_auto`` → the Term; unknown or ambiguous keys are refused."""
    kind, sep, key = spec.strip().partition(":")
    if not sep:
        kind, key = "", kind
    key = "_".join(key.strip().lower().replace("-", " ").split())
    kind = kind.strip().lower()
    keys = known_keys(store)
    if kind and kind not in TEACHABLE_KINDS:
        raise TeachError(f"unknown kind {kind!r} (use {', '.join(TEACHABLE_KINDS)})")
    kinds = keys.get(key, set())
    if kind:
        if kind in kinds:
            return Term(kind, key)
        kinds = set()
    if not kinds:
        pool = [k for k, ks in keys.items() if not kind or kind in ks]
        hint = process.extractOne(key, pool, scorer=fuzz.WRatio, score_cutoff=60) if key else None
        what = f"{kind} " if kind else ""
        tail = f"; did you mean {hint[0]}?" if hint else ""
        raise TeachError(f"{key or spec!r}: unknown {what}key{tail} (marketbot terms lists them)")
    if len(kinds) > 1:
        options = " or ".join(f"{k}:{key}" for k in sorted(kinds))
        raise TeachError(f"{key!r} is a key of several kinds: write {options}")
    return Term(next(iter(kinds)), key)


def describe(store: Store, term: Term) -> str:
    """“segment aftermarket (Automotive aftermarket mini programs / 汽车后市场小程序)”."""
    if not term.key:
        return f"a {term.kind} word"
    vocab = store.vocabulary
    en = vocab.label(term.kind, term.key, "en")
    zh = vocab.label(term.kind, term.key, "zh")
    names = " / ".join(dict.fromkeys(n for n in (en, zh) if n))
    return f"{term.kind} {term.key} ({names})" if names else f"{term.kind} {term.key}"


def teach(store: Store, phrase: str, key_spec: str, who: str) -> Taught:
    """Make ``phrase`` mean a key; refuses a phrase that already means something else."""
    text = _clean_phrase(phrase)
    term = resolve_key(store, key_spec)
    current = store.vocabulary.meaning(text)
    if current == term:
        return Taught(text, term, False, f"“{text}” already means {describe(store, term)}.")
    if current is not None:
        raise TeachError(f"“{text}” already means {describe(store, current)}; nothing changed")
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO synonyms (kind, key, phrase, origin, who, at) VALUES (?, ?, ?, ?, ?, ?)",
            (term.kind, term.key, text, ORIGIN_TAUGHT, who, now_iso()),
        )
        history.record(conn, who, "teach", f"“{text}” = {term.kind}:{term.key}")
        store.bump_vocabulary()
    return Taught(text, term, True, f"Learned: “{text}” now means {describe(store, term)}.")


def forget(store: Store, phrase: str, who: str) -> str:
    """Remove a taught phrase; shipped words are not removable (an upgrade would restore them)."""
    form = phrase_form(phrase)
    if any(is_cjk(c) for c in form):
        form = "".join(form.split())
    rows = store.conn.execute(
        "SELECT id, kind, key, phrase FROM synonyms WHERE origin != ?", (ORIGIN_SHIPPED,)
    ).fetchall()
    hits = [r for r in rows if form and phrase_form(r[3]) == form]
    if not hits:
        current = store.vocabulary.meaning(phrase)
        if current is not None:
            raise TeachError(
                f"“{phrase.strip()}” is a built-in word for {describe(store, current)}; "
                "only taught words can be forgotten"
            )
        raise TeachError(f"nobody taught “{phrase.strip()}”; nothing changed")
    with store.transaction() as conn:
        conn.executemany("DELETE FROM synonyms WHERE id = ?", [(r[0],) for r in hits])
        for _id, kind, key, text in hits:
            history.record(conn, who, "forget", f"“{text}” = {kind}:{key}")
        store.bump_vocabulary()
    kind, key = hits[0][1], hits[0][2]
    return f"Forgotten: “{hits[0][3]}” no longer means {describe(store, Term(kind, key))}."


def vocabulary_rows(store: Store) -> dict[str, list[dict]]:
    """Every term and synonym with its origin (shipped, file, taught) and who added it."""
    terms = [
        {
            "kind": k,
            "key": key,
            "en": en,
            "zh": zh,
            "origin": origin,
            "who": who or None,
            "at": at or None,
        }
        for k, key, en, zh, origin, who, at in store.conn.execute(
            "SELECT kind, key, en, zh, origin, who, at FROM terms ORDER BY kind, key"
        )
    ]
    synonyms = [
        {"kind": k, "key": key, "phrase": p, "origin": origin, "who": who or None, "at": at or None}
        for k, key, p, origin, who, at in store.conn.execute(
            "SELECT kind, key, phrase, origin, who, at FROM synonyms "
            "ORDER BY kind, key, CASE origin WHEN ? THEN 0 WHEN ? THEN 1 ELSE 2 END, id",
            (ORIGIN_SHIPPED, ORIGIN_FILE),
        )
    ]
    return {"terms": terms, "synonyms": synonyms}
