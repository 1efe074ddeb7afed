"""The vocabulary: display names (data/terms.csv) and synonyms (data/synonyms.csv).

Maintainers extend the CSV files; no code change is needed for a new phrase.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

import opencc

from .models import Lang

# Kinds a phrase can stand for. "filler" words are known to carry no meaning.
CONTENT_KINDS = ("metric", "segment", "platform", "topic")
KINDS = ("metric", "segment", "platform", "topic", "compare", "intent", "lang", "period", "filler")


def data_dir() -> Path:
    """The shipped data folder, whether installed as a wheel or run from a checkout."""
    packaged = Path(__file__).resolve().parent / "_data"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "data"


class Term(NamedTuple):
    kind: str
    key: str


_CJK_RE = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese as simplified (泛汽車 → 泛汽车); text without CJK is returned as is."""
    if not _CJK_RE.search(text):
        return text
    return _t2s().convert(text)


def normalize(text: str) -> str:
    """NFKC, simplified Chinese, lower case, one space between words: the form phrases are
    matched in."""
    # ASCII is its own NFKC form. split/join is re.sub(r"\s+", " ") + strip (str.isspace and
    # re's \s are the same set) at a quarter of the cost on a 4,096-character message.
    # is_normalized is a quick check, about a sixth of normalize's cost on a long message.
    nfkc = (
        text
        if text.isascii() or unicodedata.is_normalized("NFKC", text)
        else unicodedata.normalize("NFKC", text)
    )
    return " ".join(to_simplified(nfkc).lower().split())


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@dataclass
class Vocabulary:
    """Phrase look-up tables built once from the CSV files (and extended with store keys)."""

    words: dict[tuple[str, ...], Term] = field(default_factory=dict)  # latin phrases by words
    cjk: dict[str, Term] = field(default_factory=dict)  # CJK phrases by string
    labels: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    known_words: set[str] = field(default_factory=set)
    max_words: int = 1
    max_cjk: int = 1
    fuzzy_choices: list[str] = field(default_factory=list)  # known latin words worth fuzzing
    fuzzy_by_length: dict[int, list[str]] = field(default_factory=dict)  # the same, by length
    fix_cache: dict[str, tuple[str, ...]] = field(default_factory=dict)  # word → itself or its fix
    # Phrase lengths by first word / first character, longest first: the matcher tries only
    # these, which keeps a 4,096-character message fast.
    latin_lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)
    cjk_lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Words and CJK phrases that name a metric, market, platform or topic: a cheap screen for
    # the sentences of a long message that may hold the question.
    content_words: set[str] = field(default_factory=set)
    cjk_content: set[str] = field(default_factory=set)
    one_words: set[str] = field(default_factory=set)  # latin phrases of one word: ("dau",) → dau
    _cjk_screen: re.Pattern | None = None

    def add(self, kind: str, key: str, phrase: str) -> None:
        phrase = normalize(phrase).replace("-", " ")  # "pan-car" and "pan car" are one phrase
        if not phrase:
            return
        term = Term(kind, key)
        content = kind in CONTENT_KINDS
        if any(is_cjk(c) for c in phrase):
            if content:
                self.cjk_content.add(phrase)
                self._cjk_screen = None
            self.cjk.setdefault(phrase, term)
            self.max_cjk = max(self.max_cjk, len(phrase))
            _add_length(self.cjk_lengths, phrase[0], len(phrase))
            return
        words = tuple(tokenize_latin(phrase))
        if not words:
            return
        self.words.setdefault(words, term)
        if len(words) == 1:
            self.one_words.add(words[0])
        self.max_words = max(self.max_words, len(words))
        _add_length(self.latin_lengths, words[0], len(words))
        if content:
            self.content_words.update(w for w in words if len(w) > 2 and not w.isdigit())
        # Typos are corrected word by word towards words long enough to tell apart.
        for word in words:
            if len(word) >= 3 and not word.isdigit() and word not in self.known_words:
                self.known_words.add(word)
                self.fuzzy_choices.append(word)
                self.fuzzy_by_length.setdefault(len(word), []).append(word)
        self.fix_cache.clear()

    def screen(self, text: str) -> bool:
        """Whether ``text`` may name something the store knows (fast, exact words only)."""
        if not self.content_words.isdisjoint(text.split()):
            return True
        if _CJK_RE.search(text) is None:
            return False
        if self._cjk_screen is None:
            # Longest first, so the alternation tries 泛汽车行业 before 泛汽车.
            phrases = sorted(self.cjk_content, key=len, reverse=True)
            self._cjk_screen = re.compile("|".join(map(re.escape, phrases)) or "(?!)")
        return self._cjk_screen.search(text) is not None

    def meaning(self, phrase: str) -> Term | None:
        """What a phrase means now, matched in the same form `add` stores it in."""
        phrase = normalize(phrase).replace("-", " ")
        if any(is_cjk(c) for c in phrase):
            return self.cjk.get(phrase)
        return self.words.get(tuple(tokenize_latin(phrase)))

    def add_key(self, kind: str, key: str) -> None:
        """Make a stored key askable by its own name (``used_car`` as "used car")."""
        self.add(kind, key, key.replace("_", " "))

    def label(self, kind: str, key: str | None, lang: Lang = "en", short: bool = False) -> str:
        """Display name of a key; falls back to the key in words."""
        if key is None:
            return ""
        entry = self.labels.get((kind, key))
        if entry:
            name = entry[("short_" if short else "") + lang] or entry.get(lang) or ""
            if name or kind == "unit":
                return name
        return key.replace("_", " ")


def _add_length(lengths: dict[str, tuple[int, ...]], first: str, n: int) -> None:
    lengths[first] = tuple(sorted({*lengths.get(first, ()), n}, reverse=True))


_LATIN_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['./-][a-z0-9]+)*\.?")


def tokenize_latin(text: str) -> list[str]:
    """Latin words of a normalised phrase: letters, digits, inner hyphens, slashes, dots."""
    return [t for t in _LATIN_TOKEN_RE.findall(text) if t]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_vocabulary(folder: Path | None = None) -> Vocabulary:
    """Build the vocabulary from terms.csv and synonyms.csv in ``folder`` (default: shipped)."""
    folder = folder or data_dir()
    return build_vocabulary(_read_csv(folder / "terms.csv"), _read_csv(folder / "synonyms.csv"))


def build_vocabulary(
    terms: Iterable[Mapping[str, str]], synonyms: Iterable[Mapping[str, str]]
) -> Vocabulary:
    """Build the vocabulary from terms rows and synonyms rows (CSV files or store tables).

    Earlier synonyms win over later ones for the same phrase.
    """
    vocab = Vocabulary()
    for row in terms:
        vocab.labels[(row["kind"], row["key"])] = {
            "en": row["en"],
            "zh": row["zh"],
            "short_en": row.get("short_en") or "",
            "short_zh": row.get("short_zh") or "",
        }
        if row["kind"] in ("metric", "segment", "platform", "topic"):
            vocab.add_key(row["kind"], row["key"])
    for row in synonyms:
        kind = row["kind"].strip()
        if kind not in KINDS:
            raise ValueError(f"synonyms: unknown kind {kind!r} for phrase {row['phrase']!r}")
        vocab.add(kind, (row["key"] or "").strip(), row["phrase"])
    return vocab


@cache
def shipped_vocabulary() -> Vocabulary:
    """The shipped vocabulary, loaded once per process."""
    return load_vocabulary()


def known_units(vocab: Vocabulary | None = None) -> set[str]:
    vocab = vocab or shipped_vocabulary()
    return {key for (kind, key) in vocab.labels if kind == "unit"}
