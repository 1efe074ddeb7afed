"""Human numbers keep their qualifier and read naturally in both languages."""

import pytest

from bot.numbers import human_number, pct_change, short_number, signed_pct


@pytest.mark.parametrize(
    ("value", "qualifier", "lang", "text"),
    [
        (27200, "=", "en", "27,200"),
        (431300, "=", "en", "431,300"),
        (283_000_000, "=", "en", "283 million"),
        (200_000_000, ">", "en", "over 200 million"),
        (200, ">", "en", "over 200"),
        (283_000_000, "=", "zh", "2.83亿"),
        (27200, "=", "zh", "2.72万"),
        (200_000_000, ">", "zh", "超过2亿"),
        (28, "=", "zh", "28"),
    ],
)
def test_human_number(value: float, qualifier: str, lang: str, text: str) -> None:
    assert human_number(value, qualifier, lang) == text


def test_short_number_marks_lower_bounds() -> None:
    assert short_number(200_000_000, ">") == "200M+"
    assert short_number(27200, "=") == "27.2K"
    assert short_number(200, ">") == "200+"


def test_pct() -> None:
    assert signed_pct(pct_change(199e6, 283e6)) == "+42.2%"
    assert signed_pct(pct_change(28500, 27200)) == "-4.6%"
    assert signed_pct(0.0) == "0.0%"
