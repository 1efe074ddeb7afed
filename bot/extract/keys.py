"""Which metric, segment and platform a sentence talks about, with positions.

Known keys come from the store's vocabulary (so words a curator taught count). Things the
vocabulary does not know are proposed as new keys only when we can name them in both
languages without guessing: through the small glossary beside this file, or, for English
text, by the words themselves ("food delivery mini programs" → ``food_delivery``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..vocab import Vocabulary, is_cjk

KINDS = ("metric", "segment", "platform")


@dataclass(frozen=True)
class Mention:
    kind: str  # metric, segment or platform
    key: str
    start: int
    end: int
    new: bool = False  # a key the store does not know yet, proposed with its names
    en: str = ""
    zh: str = ""


def slug(text: str) -> str:
    """A key from English words: "New energy vehicle charging" → new_energy_vehicle_charging."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@cache
def glossary() -> dict[str, dict[str, str]]:
    """Glossary words by kind: {kind: {phrase (zh or en, lower case): English name}}."""
    out: dict[str, dict[str, str]] = {"metric": {}, "segment": {}}
    zh_of: dict[str, str] = {}
    path = Path(__file__).with_name("glossary.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["zh"]:
                out[row["kind"]][row["zh"]] = row["en"]
                zh_of.setdefault(row["en"], row["zh"])
            else:
                out[row["kind"]][row["en"]] = row["en"]
    out["zh_of"] = zh_of
    return out


# Words that describe a mini program without naming a market ("individual mini programs").
_STOP_EN = set(
    [
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "its",
        "their",
        "all",
        "individual",
        "single",
        "average",
        "each",
        "top",
        "leading",
        "head",
        "new",
        "total",
        "other",
        "such",
        "these",
        "those",
        "this",
        "that",
        "some",
        "many",
        "more",
        "most",
        "major",
        "main",
        "mainstream",
        "popular",
        "related",
        "whole",
        "entire",
        "overall",
        "first",
        "second",
    ]
)
_STOP_ZH = [
    *"的在和与及中是了而各该这那此类等",
    *("其中", "单个", "平均", "头部", "主流", "整体", "全部", "相关", "所有", "其他", "行业"),
]
# "微信公众号" / "WeChat ID" name where an article was posted, not a platform's figures.
_BYLINE = re.compile(r"公众号|微信号|wechat (?:id|public|official)|public account|public id")

_MINI_EN_RE = re.compile(
    r"((?:[a-z][a-z\-]*\s+){1,4})(?:mini[\s\-]?programs?|small programs?|applets?)\b"
)
_MINI_ZH_RE = re.compile(r"([\u4e00-\u9fff]{2,12}?)(?:行业|类)?小程序")


class Matcher:
    """Longest-first phrase matching of the vocabulary (and the glossary) over sentences."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        g = glossary()
        self.cjk: dict[str, Mention] = {}
        self.words: dict[tuple[str, ...], Mention] = {}
        for kind in ("metric",):  # new segments are found as "X小程序" / "X mini programs"
            for phrase, en in g[kind].items():
                m = Mention(kind, slug(en), 0, 0, True, en, g["zh_of"].get(en, ""))
                if any(is_cjk(c) for c in phrase):
                    self.cjk.setdefault(phrase, m)
                else:
                    self.words.setdefault(tuple(phrase.split()), m)
        self.max_cjk = max([vocab.max_cjk, *map(len, self.cjk)])
        self.max_words = max([vocab.max_words, *map(len, self.words)])

    def _known(self, kind: str, key: str) -> bool:
        return (kind, key) in self.vocab.labels or any(
            t.kind == kind and t.key == key for t in self.vocab.cjk.values()
        )

    def find(self, sentence: str) -> list[Mention]:
        """Metric, segment and platform mentions in a sentence, in order."""
        low = sentence.lower()
        out: list[Mention] = []
        out += self._cjk(low)
        out += self._latin(low)
        out += self._new_segments(low, out)
        out = [
            m
            for m in out
            if not (m.kind == "platform" and _BYLINE.search(low[m.start : m.end + 12]))
        ]
        out.sort(key=lambda m: m.start)
        return out

    def _cjk(self, low: str) -> list[Mention]:
        out = []
        for run in re.finditer(r"[\u4e00-\u9fff\u3400-\u4dbf]+", low):
            s, i = run.group(0), 0
            while i < len(s):
                for n in range(min(self.max_cjk, len(s) - i), 0, -1):
                    piece = s[i : i + n]
                    term = self.vocab.cjk.get(piece)
                    hit = None
                    if term and term.kind in KINDS:
                        hit = Mention(term.kind, term.key, 0, 0)
                    elif term is None and piece in self.cjk:
                        hit = self.cjk[piece]
                    elif term is not None:  # a filler or another kind: consumed, no mention
                        i += n
                        break
                    if hit:
                        a = run.start() + i
                        out.append(Mention(hit.kind, hit.key, a, a + n, hit.new, hit.en, hit.zh))
                        i += n
                        break
                else:
                    i += 1
        return out

    def _latin(self, low: str) -> list[Mention]:
        text = re.sub(r"['’]s\b", "  ", low).replace("-", " ")  # Alipay's → Alipay; same length
        tokens = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[a-z0-9]+", text)]
        out = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_words, len(tokens) - i), 0, -1):
                words = tuple(t[2] for t in tokens[i : i + n])
                term = self.vocab.words.get(words)
                hit = None
                if term and term.kind in KINDS:
                    hit = Mention(term.kind, term.key, 0, 0)
                elif term is None and words in self.words:
                    hit = self.words[words]
                elif term is not None:
                    i += n
                    break
                if hit:
                    a, b = tokens[i][0], tokens[i + n - 1][1]
                    out.append(Mention(hit.kind, hit.key, a, b, hit.new, hit.en, hit.zh))
                    i += n
                    break
            else:
                i += 1
        return out

    def _new_segments(self, low: str, known: list[Mention]) -> list[Mention]:
        """ "X mini programs" / "X小程序" where X names no known segment: a proposed new key."""
        out = []
        segs = [m for m in known if m.kind == "segment"]
        for m in _MINI_EN_RE.finditer(low):
            words = [w for w in re.split(r"[\s\-]+", m.group(1).strip()) if w]
            # The words right before "mini programs", back to the first that is no name.
            tail: list[str] = []
            for w in reversed(words):
                term = self.vocab.words.get((w,))
                if w in _STOP_EN or (term is not None and term.kind != "filler"):
                    break
                tail.insert(0, w)
            words = tail
            while words and self._filler(words[0]):
                words.pop(0)
            if not words or all(self._filler(w) or w in _STOP_EN for w in words):
                continue
            if any(s.start < m.end() and m.start() < s.end for s in segs):
                continue
            start = m.start(1) + m.group(1).find(words[0])
            en = low[start : m.end(1)].strip()  # as written: "e-commerce", not "e commerce"
            zh = (
                "".join(self._zh_of(w) for w in words) if all(self._zh_of(w) for w in words) else ""
            )
            out.append(Mention("segment", slug(en), start, m.end(), True, en, zh))
        for m in _MINI_ZH_RE.finditer(low):
            phrase = m.group(1)
            cut = max((phrase.rfind(w) + len(w) for w in _STOP_ZH if w in phrase), default=0)
            phrase = phrase[cut:]
            if len(phrase) < 2 or any(s.start < m.end() and m.start() < s.end for s in segs):
                continue
            # The longest tail made of glossary words names it ("三季度新能源汽车充电" → 新能源汽车充电);
            # with none, there is no English name without guessing: left to the curator.
            en = ""
            for k in range(len(phrase) - 1):
                en = self._en_of_zh(phrase[k:])
                if en:
                    phrase = phrase[k:]
                    break
            if not en:
                continue
            start = m.start(1) + m.group(1).rfind(phrase)
            out.append(Mention("segment", slug(en), start, m.end(), True, en, phrase))
        return out

    def _filler(self, word: str) -> bool:
        term = self.vocab.words.get((word,))
        return term is not None and term.kind == "filler"

    def _zh_of(self, word: str) -> str:
        return glossary()["zh_of"].get(word, "")

    def _en_of_zh(self, phrase: str) -> str:
        """English name of a Chinese phrase made wholly of glossary words, else ""."""
        seg = glossary()["segment"]
        parts, i = [], 0
        while i < len(phrase):
            for n in range(len(phrase) - i, 0, -1):
                if phrase[i : i + n] in seg:
                    parts.append(seg[phrase[i : i + n]])
                    i += n
                    break
            else:
                return ""
        return " ".join(parts)
