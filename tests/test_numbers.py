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


# --- compact labels and signs at their edges (issue 9: an exact figure is never rounded) ---


@pytest.mark.parametrize(
    ("value", "lang", "label"),
    [
        # A K/M/B step starts at exactly 10,000 / one million / one billion: "10K", not
        # "10,000"; "1M", not "1,000K"; "1B", not "1,000M".
        (10_000, "en", "10K"),
        (9_999, "en", "9,999"),
        (1_000_000, "en", "1M"),
        (1_000_000_000, "en", "1B"),
        (10_000, "zh", "1万"),
        (100_000_000, "zh", "1亿"),
        # Zero and fractions (a share of 0.5%) are not negative; a negative one keeps its sign.
        (0, "en", "0"),
        (0, "zh", "0"),
        (0.5, "en", "0.5"),
        (0.5, "zh", "0.5"),
        (-0.5, "en", "-0.5"),
    ],
)
def test_compact_label_scale_and_sign_edges(value: float, lang: str, label: str) -> None:
    assert short_number(value, "=", lang) == label


@pytest.mark.parametrize(
    ("pct", "text"),
    [
        # A move that rounds to 0.0% at one decimal is shown as no move: no "+0.0%" or
        # "-0.0%" claiming a direction the shown figure does not have.
        (0.04, "0.0%"),
        (-0.04, "0.0%"),
        (0.06, "+0.1%"),
        (-0.06, "-0.1%"),
        (-4.56, "-4.6%"),
    ],
)
def test_a_change_that_rounds_to_nothing_has_no_sign(pct: float, text: str) -> None:
    assert signed_pct(pct) == text
