"""Human numbers: 27,200 / 283 million / 2.83亿, with their qualifier kept visible.

A stored figure is never rounded silently: reply text shows it exactly (283,456,789 or
2.83456789亿); compact labels (charts, buttons) may round, and then say so (≈283.46M, 约2.83亿).
"""

from __future__ import annotations

from decimal import Decimal

from .models import Lang

_QUALIFIER_EN = {">": "over ", "<": "under ", "~": "about ", "=": ""}
_QUALIFIER_ZH = {">": "超过", "<": "不到", "~": "约", "=": ""}
_EN_SCALES = ((Decimal(10**9), " billion"), (Decimal(10**6), " million"))
_ZH_SCALES = ((Decimal(10**8), "亿"), (Decimal(10**4), "万"))
# (from, divide by, suffix, decimals): thousands only from 10,000 up (9,500 stays 9,500).
_SHORT_EN = (
    (Decimal(10**9), Decimal(10**9), "B", 2),
    (Decimal(10**6), Decimal(10**6), "M", 2),
    (Decimal(10**4), Decimal(10**3), "K", 1),
)
_MAX_EN_DECIMALS = 2  # "283.5 million" reads well; 283.456789 million does not: show digits


def _decimal(value: float) -> Decimal:
    """The value as the decimal it was written as (27200.0 → 27200, 0.1 → 0.1)."""
    return Decimal(repr(float(value)))


def _text(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 2.83, 28, 199.9999."""
    # normalize() strips trailing zeros, so fixed-point needs no further trimming
    return format(d.normalize(), "f")


def _grouped(d: Decimal) -> str:
    """27,200 / 1,999,999 / 12.345: digits grouped, every decimal kept."""
    whole, _, frac = _text(d).partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def _decimals(d: Decimal) -> int:
    """Digits after the point (2.83 → 2); below zero for whole tens (280 → -1)."""
    return -d.normalize().as_tuple().exponent


def plain_number(value: float, lang: Lang) -> str:
    """The figure alone, exactly, scaled for reading when that loses nothing:
    27,200 · 431,300 · 283 million · 283,456,789 · 2.83亿 · 2.72万 · 2.83456789亿."""
    d = _decimal(value)
    sign = "-" if d < 0 else ""
    a = abs(d)
    if lang == "zh":
        for scale, word in _ZH_SCALES:
            if a >= scale:
                return f"{sign}{_text(a / scale)}{word}"
        return f"{sign}{_text(a)}"
    for scale, word in _EN_SCALES:
        if a >= scale and _decimals(a / scale) <= _MAX_EN_DECIMALS:
            return f"{sign}{_text(a / scale)}{word}"
    return f"{sign}{_grouped(a)}"


def human_number(value: float, qualifier: str = "=", lang: Lang = "en") -> str:
    """The figure with its qualifier in words: "over 200 million", "超过2亿"."""
    words = _QUALIFIER_ZH if lang == "zh" else _QUALIFIER_EN
    return f"{words.get(qualifier, '')}{plain_number(value, lang)}"


def _rounded(d: Decimal, digits: int) -> tuple[str, bool]:
    """``d`` to at most ``digits`` decimals, and whether that lost anything."""
    q = round(d, digits)
    return _text(q), q != d


def short_number(value: float, qualifier: str, lang: Lang = "en") -> str:
    """A compact label for charts and buttons: 27.2K · 283M · 200M+ · 2.83亿 · ≈283.46M.

    A label that had to round is marked ≈ (约 in Chinese) unless the figure is already "about".
    """
    d = _decimal(value)
    a = abs(d)
    sign = "-" if d < 0 else ""
    text, lost = _text(a), False
    if lang == "zh":
        for scale, word in _ZH_SCALES:
            if a >= scale:
                num, lost = _rounded(a / scale, 2)
                text = f"{num}{word}"
                break
    else:
        for start, scale, word, digits in _SHORT_EN:
            if a >= start:
                num, lost = _rounded(a / scale, digits)
                text = f"{num}{word}"
                break
        else:
            text = _grouped(a)
    text = sign + text
    if lost and qualifier != "~":
        text = ("约" if lang == "zh" else "≈") + text
    if qualifier == ">":
        return f"{text}+"
    if qualifier == "<":
        return f"<{text}"
    if qualifier == "~":
        return f"~{text}"
    return text


def pct_change(old: float, new: float) -> float:
    """Percent change from old to new (old must be non-zero)."""
    return (float(new) - float(old)) / float(old) * 100.0


def signed_pct(pct: float, approximate: bool = False) -> str:
    """+42.2% / -4.6% / 0.0%, always with one decimal and a sign; ~+3.5% for a change between
    figures of which one is approximate ("about 3.5 million")."""
    rounded = round(pct, 1)
    text = "0.0%" if rounded == 0 else f"{rounded:+.1f}%"
    return f"~{text}" if approximate else text
