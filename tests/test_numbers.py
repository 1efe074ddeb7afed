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


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        (283_456_789, "en", "283,456,789"),
        (1_999_999, "en", "1,999,999"),
        (283_500_000, "en", "283.5 million"),
        (1_500_000_000, "en", "1.5 billion"),
        (1_234_567_891, "en", "1,234,567,891"),
        (12.345, "en", "12.345"),
        (283_456_789, "zh", "2.83456789亿"),
        (1_999_999, "zh", "199.9999万"),
        (431_300, "zh", "43.13万"),
        (-4.6, "en", "-4.6"),
        (-283_000_000, "en", "-283 million"),
    ],
)
def test_reply_numbers_are_exact(value: float, lang: str, text: str) -> None:
    # A stored figure is never rounded silently in a reply.
    assert human_number(value, "=", lang) == text


@pytest.mark.parametrize(
    ("value", "qualifier", "lang", "label"),
    [
        (283_456_789, "=", "en", "≈283.46M"),
        (1_999_999, "=", "en", "≈2M"),
        (283_456_789, "=", "zh", "约2.83亿"),
        (283_456_789, "~", "en", "~283.46M"),  # already "about": one mark, not two
        (200_000_001, ">", "en", "≈200M+"),
        (431_300, "=", "en", "431.3K"),
        (401_000, "=", "en", "401K"),
        (9_500, "=", "en", "9,500"),
        (12_345, "<", "en", "<≈12.3K"),
        (-283_000_000, "=", "en", "-283M"),
    ],
)
def test_compact_labels_mark_rounding(value: float, qualifier: str, lang: str, label: str) -> None:
    assert short_number(value, qualifier, lang) == label


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        # A scale is used from exactly one unit of it up.
        (1_000_000, "en", "1 million"),
        (1_000_000_000, "en", "1 billion"),
        (100_000_000, "zh", "1亿"),
        (10_000, "zh", "1万"),
        # Two decimals of a million still read as millions; three do not (283,456,000).
        (283_450_000, "en", "283.45 million"),
        (283_456_000, "en", "283,456,000"),
        # Zero and fractions are not negative.
        (0, "en", "0"),
        (0.5, "en", "0.5"),
        (0, "zh", "0"),
    ],
)
def test_reply_number_scale_edges(value: float, lang: str, text: str) -> None:
    assert human_number(value, "=", lang) == text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_unknown_qualifier_shows_the_bare_number(lang: str) -> None:
    assert human_number(28, "", lang) == "28"
    assert human_number(28, "?", lang) == "28"
