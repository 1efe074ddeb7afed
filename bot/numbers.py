"""Human numbers: 27,200 / 283 million / 2.83亿, with their qualifier kept visible."""

from __future__ import annotations

from .models import Lang

_QUALIFIER_EN = {">": "over ", "<": "under ", "~": "about ", "=": ""}
_QUALIFIER_ZH = {">": "超过", "<": "不到", "~": "约", "=": ""}


def _trim(x: float, digits: int = 2) -> str:
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def plain_number(value: float, lang: Lang = "en") -> str:
    """The figure alone, scaled for reading: 27,200 · 431,300 · 283 million · 2.83亿 · 2.72万."""
    v = float(value)
    sign = "-" if v < 0 else ""
    a = abs(v)
    if lang == "zh":
        if a >= 1e8:
            return f"{sign}{_trim(a / 1e8)}亿"
        if a >= 1e4:
            return f"{sign}{_trim(a / 1e4)}万"
        return f"{sign}{_trim(a)}"
    if a >= 1e9:
        return f"{sign}{_trim(a / 1e9)} billion"
    if a >= 1e6:
        return f"{sign}{_trim(a / 1e6)} million"
    if a.is_integer():
        return f"{sign}{int(a):,}"
    return f"{sign}{a:,.2f}".rstrip("0").rstrip(".")


def human_number(value: float, qualifier: str = "=", lang: Lang = "en") -> str:
    """The figure with its qualifier in words: "over 200 million", "超过2亿"."""
    words = _QUALIFIER_ZH if lang == "zh" else _QUALIFIER_EN
    return f"{words.get(qualifier, '')}{plain_number(value, lang)}"


def short_number(value: float, qualifier: str = "=", lang: Lang = "en") -> str:
    """A compact label for charts and buttons: 27.2K · 283M · 200M+ · 2.83亿."""
    v = float(value)
    a = abs(v)
    if lang == "zh":
        text = plain_number(v, "zh")
    elif a >= 1e9:
        text = f"{_trim(v / 1e9)}B"
    elif a >= 1e6:
        text = f"{_trim(v / 1e6)}M"
    elif a >= 1e4:
        text = f"{_trim(v / 1e3, 1)}K"
    else:
        text = plain_number(v, "en")
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


def signed_pct(pct: float) -> str:
    """+42.2% / -4.6% / 0.0%, always with one decimal and a sign."""
    rounded = round(pct, 1)
    if rounded == 0:
        return "0.0%"
    return f"{rounded:+.1f}%"
