"""Numbers as reports write them: 2.83亿, 39.8万, "318 million", 1,200, 1.2k, 三百万, "five".

Every match keeps its character span in the sentence it came from, so the evidence can point
at it. Full-width digits are read by a one-to-one translation, which keeps spans valid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Full-width digits and the punctuation around them, one character for one character.
_WIDTH = str.maketrans("０１２３４５６７８９．，％＋～", "0123456789.,%+~")

_SCALES_ZH = {"万亿": 1e12, "千亿": 1e11, "百亿": 1e10, "亿": 1e8, "千万": 1e7, "百万": 1e6}
_SCALES_ZH |= {"万": 1e4, "千": 1e3}
_SCALES_EN = {"hundred million": 1e8, "ten thousand": 1e4, "hundred thousand": 1e5}
# (machine translations write 亿 as "hundred million" and 万 as "ten thousand")
_SCALES_EN |= {"trillion": 1e12, "billion": 1e9, "bn": 1e9, "million": 1e6, "mn": 1e6}
_SCALES_EN |= {"thousand": 1e3, "k": 1e3, "m": 1e6, "b": 1e9}

_ARABIC_RE = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<scale>\s*(?:万亿|千亿|百亿|亿|千万|百万|万|千)"
    r"|\s*(?:hundred million|ten thousand|hundred thousand|trillion|billion|million|thousand)\b|\s?(?:bn|mn|k|m|b)\b)?"
    r"(?P<pct>\s?%)?",
    re.IGNORECASE,
)
_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_ZH_DIGIT |= {"六": 6, "七": 7, "八": 8, "九": 9}
_ZH_RE = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
_ZH_UNITS = set("十百千万亿")

_EN_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_EN_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70}
_EN_WORDS |= {"eighty": 80, "ninety": 90, "a dozen": 12, "dozens of": 24}
_EN_WORD_RE = re.compile(
    r"\b(?P<num>" + "|".join(sorted(_EN_WORDS, key=len, reverse=True)) + r")"
    r"(?P<scale>\s+(?:hundred|thousand|million|billion))?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Number:
    value: float
    start: int
    end: int
    percent: bool
    kind: str  # "arabic", "zh" (Chinese numerals) or "word" (English number words)
    scaled: bool  # a scale word (万, million, k) was part of it
    raw: str


def widen(text: str) -> str:
    """Full-width digits and signs as ASCII, same length."""
    return text.translate(_WIDTH)


def zh_numeral(text: str) -> float | None:
    """三百万 → 3000000, 二十八 → 28, 一亿二千万 → 120000000; None if it is not a number."""
    import cn2an  # lazy: it takes ~0.5 s to import

    try:
        return float(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError, IndexError):
        return None


def find_numbers(sentence: str) -> list[Number]:
    """Every number in a sentence, with its scale applied (base units) and its span."""
    text = widen(sentence)
    found: list[Number] = []
    taken: list[tuple[int, int]] = []
    for m in _ARABIC_RE.finditer(text):
        num = float(m.group("num").replace(",", ""))
        scale_word = re.sub(r"\s+", " ", (m.group("scale") or "").strip().lower())
        scale = _SCALES_ZH.get(scale_word) or _SCALES_EN.get(scale_word) or 1.0
        end = m.end()
        if scale_word and scale == 1.0:
            end = m.end("num")
        found.append(
            Number(
                _round(num * scale),
                m.start(),
                end,
                bool(m.group("pct")),
                "arabic",
                scale != 1.0,
                sentence[m.start() : end],
            )
        )
        taken.append((m.start(), end))
    for m in _ZH_RE.finditer(text):
        raw = m.group(0)
        # A lone 一/二 is part of words (一些, 统一, 一二线) far more often than a number.
        if not (_ZH_UNITS & set(raw)) and len(raw) == 1 and raw not in "三四五六七八九两":
            continue
        if not (_ZH_UNITS & set(raw)) and len(raw) > 1:
            continue  # 一二 (一二线城市) is a list of ordinals, not a number
        value = zh_numeral(raw)
        if value is None or raw in ("万", "亿", "千", "百", "十", "千万", "百万"):
            continue
        found.append(Number(value, m.start(), m.end(), False, "zh", False, raw))
    for m in _EN_WORD_RE.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        value = float(_EN_WORDS[m.group("num").lower()])
        scale_word = (m.group("scale") or "").strip().lower()
        if scale_word:
            value *= {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9}[scale_word]
        found.append(Number(value, m.start(), m.end(), False, "word", bool(scale_word), m[0]))
    found.sort(key=lambda n: n.start)
    # A run of hundreds of digits (an id, a hash) overflows to infinity: it is no figure.
    return [n for n in found if math.isfinite(n.value)]


def _round(x: float) -> float:
    """2.83 × 1e8 is 283000000.00000003 in floating point: round away the noise."""
    return float(round(x, 6))
