"""Charts: what is drawn (spec and artists), the PNG itself, caching, CJK text and layout."""

from __future__ import annotations

import asyncio
import io
import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot import chart_draw
from bot.chart_draw import draw_figure, render_chart, render_chart_async, render_spec, wrap
from bot.chart_spec import MAX_BARS, ChartSpec, chart_spec, has_chart
from bot.models import Answer, Change, Fact, Period, Query, Source

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Source(
    id="aladdin-2019q3-pan-auto",
    title="Q3 2019 Pan-Automotive Industry Mini Program Report",
    publisher="Aladdin Research Institute",
    published="2019-11-11",
    title_zh="2019年第三季度泛汽车行业小程序报告",
    publisher_zh="阿拉丁研究院",
)
Q2, Q3 = Period(2019, 2), Period(2019, 3)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ZH = {
    ("metric", "dau"): "日活跃用户数",
    ("metric", "users"): "用户数",
    ("segment", "aftermarket"): "汽车后市场",
    ("segment", "ride_code"): "乘车码",
    ("platform", "wechat"): "微信",
    ("platform", "alipay"): "支付宝",
    ("unit", "users"): "人",
}


def zh_labels(kind: str, key: str, lang: str) -> str:
    return ZH[(kind, key)]


def dau_change(lang: str = "en", want_chart: bool = False) -> Answer:
    facts = [
        Fact("dau", "aftermarket", None, Q2, 28_500, "=", "users", SOURCE),
        Fact("dau", "aftermarket", None, Q3, 27_200, "=", "users", SOURCE),
    ]
    change = Change("dau", "aftermarket", None, Q2, Q3, 28_500, 27_200, -4.56)
    query = Query("aftermarket dau q2 vs q3", comparison="change", lang=lang, want_chart=want_chart)
    return Answer(query, "answered", facts=facts, changes=[change])


def ride_code(lang: str = "en", wechat_q: str = ">") -> Answer:
    facts = [
        Fact("users", "ride_code", "wechat", Q3, 100_000_000, wechat_q, "users", SOURCE),
        Fact("users", "ride_code", "alipay", Q3, 200_000_000, ">", "users", SOURCE),
    ]
    query = Query("ride code wechat vs alipay", comparison="platforms", lang=lang)
    return Answer(query, "answered", facts=facts)


def single(want_chart: bool) -> Answer:
    facts = [Fact("dau", "aftermarket", None, Q3, 27_200, "=", "users", SOURCE)]
    return Answer(Query("aftermarket dau", want_chart=want_chart), "answered", facts=facts)


def series(n: int, qualifier: str = "=") -> Answer:
    periods = [Period(2017 + q // 4, q % 4 + 1) for q in range(n)]
    facts = [
        Fact("dau", "aftermarket", None, p, 20_000 + 700 * k, qualifier, "users", SOURCE)
        for k, p in enumerate(periods)
    ]
    return Answer(Query("dau trend", comparison="periods"), "answered", facts=facts)


def gids(fig, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def drawn_texts(fig) -> list:
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.fixture(autouse=True)
def _fresh_cache():
    chart_draw.clear_cache()
    yield
    chart_draw.clear_cache()


# --- the PNG ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [dau_change(), ride_code(), series(9)], ids=["periods", "platforms", "line"]
)
def test_png_is_valid_small_and_not_blank(answer: Answer) -> None:
    png = render_chart(answer)
    assert png is not None and png.startswith(PNG_MAGIC)
    assert len(png) <= 100 * 1024
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        width, height = im.size
        pixels = np.asarray(im.convert("RGB"), dtype=float)
    assert 800 <= width <= 1200
    assert 1.3 <= width / height <= 2.0
    assert pixels.std() > 20  # a blank or flat image has (almost) none
    assert (pixels < 100).mean() > 0.005  # some dark ink: titles and labels were drawn


def test_background_stays_pure_white() -> None:
    png = render_chart(dau_change())
    with Image.open(io.BytesIO(png)) as im:
        assert im.convert("RGB").getpixel((3, 3)) == (255, 255, 255)


# --- what is drawn ------------------------------------------------------------------------


def test_two_period_comparison_spec_and_bars() -> None:
    spec = chart_spec(dau_change())
    assert spec is not None
    assert spec.kind == "bars" and spec.mode == "series"
    assert spec.labels == ("Q2 2019", "Q3 2019")
    assert spec.values == (28_500.0, 27_200.0)
    assert spec.value_labels == ("28.5K", "27.2K")
    assert spec.pcts == ("-4.6%",)  # the Change row's figure, as the text answer states it
    assert spec.lower_bounds == (False, False)
    assert spec.note == ""
    assert spec.title == "Aftermarket · DAU (users)"
    fig = draw_figure(spec)
    assert len(gids(fig, "bar")) == 2
    assert len(gids(fig, "pct-arrow")) == 1
    assert [t.get_text() for t in gids(fig, "pct")] == ["-4.6%"]
    assert not gids(fig, "lower-bound")


def test_two_platform_comparison_with_lower_bounds() -> None:
    spec = chart_spec(ride_code())
    assert spec is not None
    assert spec.kind == "bars" and spec.mode == "categories"
    assert spec.labels == ("Wechat", "Alipay")  # fallback labels: title-cased keys
    assert spec.lower_bounds == (True, True)
    assert all(label.endswith("+") for label in spec.value_labels)
    assert spec.value_labels == ("100M+", "200M+")
    assert "lower bound" in spec.note and "over N" in spec.note
    assert spec.pcts == ()
    assert "Q3 2019" in spec.title and "Ride Code" in spec.title
    fig = draw_figure(spec)
    assert len(gids(fig, "bar")) == 2
    # Each open-ended bar carries a dashed extension and an up arrow, plus one legend line.
    assert len(gids(fig, "lower-bound")) == 2
    assert len(gids(fig, "lower-bound-arrow")) == 2
    assert [t.get_text() for t in gids(fig, "note")] == [spec.note]


def test_only_the_bound_bar_is_open_ended() -> None:
    spec = chart_spec(ride_code(wechat_q="="))
    assert spec is not None
    assert spec.lower_bounds == (False, True)
    assert spec.value_labels == ("100M", "200M+")
    assert len(gids(draw_figure(spec), "lower-bound")) == 1


def test_upper_bound_bar_is_hatched() -> None:
    spec = chart_spec(ride_code(wechat_q="<"))
    assert spec is not None
    assert spec.upper_bounds == (True, False) and spec.lower_bounds == (False, True)
    assert spec.value_labels == ("<100M", "200M+")
    assert spec.note.splitlines()[1].startswith("< = upper bound")
    bars = gids(draw_figure(spec), "bar")
    assert [b.get_hatch() for b in bars] == ["//", None]


def test_no_change_is_claimed_between_bounds() -> None:
    spec = chart_spec(series(3, ">"))
    assert spec is not None
    assert spec.pcts == (None, None)
    assert not gids(draw_figure(spec), "pct")


def test_changes_are_computed_when_the_answer_has_none() -> None:
    spec = chart_spec(series(3))
    assert spec is not None
    assert spec.pcts == ("+3.5%", "+3.4%")  # 20,000 → 20,700 → 21,400


def test_long_series_is_a_line_in_period_order() -> None:
    answer = series(9)
    answer.facts.reverse()  # the look-up's order must not matter
    spec = chart_spec(answer)
    assert spec is not None
    assert spec.kind == "line"
    assert spec.labels[0] == "Q1 2017" and spec.labels[-1] == "Q1 2019"
    assert list(spec.values) == sorted(spec.values)
    assert len(spec.pcts) == 8
    fig = draw_figure(spec)
    assert len(gids(fig, "line")) == 1 and not gids(fig, "bar")


def test_title_and_footnote_name_metric_segment_unit_and_source() -> None:
    spec = chart_spec(dau_change(), lambda kind, key, lang: f"<{key}>")
    assert spec is not None
    for part in ("<dau>", "<aftermarket>", "<users>"):
        assert part in spec.title
    assert spec.footnote == (
        "Source: Q3 2019 Pan-Automotive Industry Mini Program Report, "
        "Aladdin Research Institute, released 2019-11-11"
    )
    zh = chart_spec(dau_change("zh"), zh_labels)
    assert zh is not None
    assert zh.title == "汽车后市场 · 日活跃用户数（人）"
    assert (
        zh.footnote == "来源：《2019年第三季度泛汽车行业小程序报告》，阿拉丁研究院，2019-11-11发布"
    )
    assert zh.labels == ("2019年第二季度", "2019年第三季度")


@pytest.mark.parametrize(
    ("metric", "unit", "lang", "title"),
    [
        ("daily active users", "users", "en", "Aftermarket · daily active users"),
        ("DAU (daily active users)", "users", "en", "Aftermarket · DAU (daily active users)"),
        ("programs (MP)", "apps", "en", "Aftermarket · programs (MP), in apps"),
        ("count", "", "en", "Aftermarket · count"),
        ("日活跃用户（日活）", "人", "zh", "后市场 · 日活跃用户（日活），单位：人"),
        ("日活跃用户", "人", "zh", "后市场 · 日活跃用户（人）"),
    ],
)
def test_title_names_the_unit_once(metric: str, unit: str, lang: str, title: str) -> None:
    names = {"metric": metric, "unit": unit, "segment": "后市场" if lang == "zh" else "Aftermarket"}
    spec = chart_spec(dau_change(lang), lambda kind, key, lang_: names[kind])
    assert spec is not None and spec.title == title


def test_percent_values_keep_their_sign() -> None:
    answer = dau_change()
    answer.facts = [f._replace(unit="percent", value=45.2) for f in answer.facts]
    answer.facts[1] = answer.facts[1]._replace(qualifier=">")
    spec = chart_spec(answer)
    assert spec is not None and spec.value_labels == ("45.2%", "45.2%+")


def test_different_units_are_not_charted() -> None:
    answer = ride_code()
    answer.facts[1] = answer.facts[1]._replace(unit="cities")
    assert not has_chart(answer)
    assert chart_spec(answer) is None and render_chart(answer) is None


def test_single_figure_needs_an_explicit_request() -> None:
    assert not has_chart(single(False))
    assert chart_spec(single(False)) is None
    assert render_chart(single(False)) is None
    assert has_chart(single(True))
    spec = chart_spec(single(True))
    assert spec is not None and spec.mode == "single" and "Q3 2019" in spec.title
    assert len(gids(draw_figure(spec), "bar")) == 1
    assert render_chart(single(True)).startswith(PNG_MAGIC)


def test_unanswered_gets_no_chart() -> None:
    answer = dau_change()
    answer.status = "not_found"
    assert not has_chart(answer)


def test_text_path_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "from bot.chart_spec import chart_spec, has_chart\n"
        "from bot.models import Answer, Fact, Period, Query, Source\n"
        "src = Source('s', 'T', 'P', '2019-11-11')\n"
        "facts = [Fact('dau', 'aftermarket', None, Period(2019, q), 1e4 * q, '=', 'users', src)\n"
        "         for q in (2, 3)]\n"
        "answer = Answer(Query('q'), 'answered', facts=facts)\n"
        "assert has_chart(answer) and chart_spec(answer) is not None\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- determinism and caching --------------------------------------------------------------


def test_same_answer_same_bytes_also_across_a_fresh_cache() -> None:
    first = render_chart(dau_change())
    assert render_chart(dau_change()) is first  # served from the cache
    chart_draw.clear_cache()
    again = render_chart(dau_change())
    assert again is not first and again == first
    spec = chart_spec(ride_code("zh"), zh_labels)
    assert render_spec(spec) == render_spec(spec)


def test_cache_key_follows_what_is_drawn() -> None:
    a, b = chart_spec(dau_change()), chart_spec(dau_change())
    assert a is not None and b is not None
    assert a.key == b.key
    relabelled = chart_spec(dau_change(), lambda kind, key, lang: key.upper())
    assert relabelled is not None and relabelled.key != a.key
    other = dau_change()
    other.facts[1] = other.facts[1]._replace(value=27_300)
    assert chart_spec(other).key != a.key


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_draw, "CACHE_MAX", 3)
    for value in range(5):
        answer = dau_change()
        answer.facts[0] = answer.facts[0]._replace(value=28_000 + value)
        render_chart(answer)
    assert chart_draw.cache_size() == 3


# --- legibility: CJK glyphs, wrapping, nothing clipped or overlapping -----------------------


def assert_laid_out(fig) -> None:
    """Every text lies inside the figure and no two texts overlap."""
    renderer = fig.canvas.get_renderer()
    texts = drawn_texts(fig)
    assert texts
    boxes = [t.get_window_extent(renderer) for t in texts]
    width, height = fig.canvas.get_width_height()
    for t, box in zip(texts, boxes, strict=True):
        assert box.x0 >= 0 and box.y0 >= 0, t.get_text()
        assert box.x1 <= width and box.y1 <= height, t.get_text()
    for (ta, a), (tb, b) in itertools.combinations(zip(texts, boxes, strict=True), 2):
        assert not a.overlaps(b), (ta.get_text(), tb.get_text())


def long_and_chinese(lang: str) -> tuple[Answer, object]:
    names = {
        ("segment", "pan_auto"): "Pan-automotive services and connected mobility ecosystem",
        ("segment", "aftermarket"): "汽车后市场与维修保养服务平台及其周边生态体系",
        ("segment", "ride_code"): "Ride code",
        ("segment", "overseas_taxi"): "Overseas taxi hailing",
        ("metric", "mau"): "月活跃用户数" if lang == "zh" else "monthly active users",
        ("unit", "users"): "人" if lang == "zh" else "users",
    }
    facts = [
        Fact("mau", seg, None, Q3, value, "=", "users", SOURCE)
        for seg, value in [
            ("pan_auto", 431_300),
            ("aftermarket", 283_000_000),
            ("ride_code", 200_000_000),
            ("overseas_taxi", 27_200),
        ]
    ]
    answer = Answer(Query("mau by segment", comparison="segments", lang=lang), "answered", facts)
    return answer, lambda kind, key, lang_: names[(kind, key)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_long_and_chinese_labels_render_cleanly(lang: str) -> None:
    answer, labels = long_and_chinese(lang)
    spec = chart_spec(answer, labels)
    assert spec is not None and len(spec.labels) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" must not happen
        fig = draw_figure(spec)
        assert len(gids(fig, "bar")) == 4
        assert_laid_out(fig)
        png = render_chart(answer, labels)
    assert png is not None and len(png) <= 100 * 1024
    # The long names were wrapped (one Text per line), not left to spill into each other.
    assert len(gids(fig, "tick")) > len(spec.labels)


def test_chinese_chart_has_all_glyphs() -> None:
    assert chart_draw.cjk_font_family() == "Noto Sans CJK SC"  # the packaged font is registered
    spec = chart_spec(ride_code("zh"), zh_labels)
    assert spec is not None
    assert spec.labels == ("微信", "支付宝") and spec.value_labels == ("1亿+", "2亿+")
    assert "下限" in spec.note
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw_figure(spec)
        assert_laid_out(fig)
        chart_draw.clear_cache()
        render_chart(ride_code("zh"), zh_labels)


def in_chinese(answer: Answer) -> Answer:
    answer.query = answer.query._replace(lang="zh")
    return answer


@pytest.mark.parametrize(
    "answer",
    [
        dau_change(),
        ride_code(),
        series(6),
        series(9),
        series(30),
        in_chinese(series(5)),
        in_chinese(series(12)),
        in_chinese(series(30)),
        single(True),
    ],
    ids=["periods", "platforms", "6", "line", "long-line", "zh-5", "zh-line", "zh-long", "single"],
)
def test_layouts_keep_text_inside_and_apart(answer: Answer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_laid_out(draw_figure(chart_spec(answer)))


WORDS = st.sampled_from(
    ["Ride", "code", "WeChat", "overseas", "taxi", "mobility", "乘车码", "汽车后市场", "服务平台"]
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[Answer, object]:
    """Any chartable answer: a series of 2–16 periods or 2–8 categories, odd names and sizes."""
    lang = draw(st.sampled_from(["en", "zh"]))
    qualifiers = st.sampled_from(["=", "=", ">", "<", "~"])
    values = st.floats(min_value=1, max_value=5e9, allow_nan=False)
    names = {}
    if draw(st.booleans()):
        n = draw(st.integers(2, 16))
        start = draw(st.integers(0, 20))
        periods = [Period(2015 + (start + k) // 4, (start + k) % 4 + 1) for k in range(n)]
        facts = [
            Fact("dau", "aftermarket", None, p, draw(values), draw(qualifiers), "users", SOURCE)
            for p in periods
        ]
    else:
        n = draw(st.integers(2, 8))
        facts = []
        for k in range(n):
            names[("segment", f"s{k}")] = " ".join(draw(st.lists(WORDS, min_size=1, max_size=6)))
            fact = Fact("mau", f"s{k}", None, Q3, draw(values), draw(qualifiers), "users", SOURCE)
            facts.append(fact)
    title_words = draw(st.lists(WORDS, min_size=1, max_size=12))

    def labels(kind: str, key: str, lang_: str) -> str:
        if kind == "metric":
            return " ".join(title_words)
        return names.get((kind, key), key)

    return Answer(Query("q", lang=lang), "answered", facts), labels


@settings(max_examples=25, deadline=None)
@given(answers())
def test_any_chart_keeps_text_inside_apart_and_in_font(case: tuple[Answer, object]) -> None:
    answer, labels = case
    spec = chart_spec(answer, labels)
    assert spec is not None
    n = len(answer.facts)
    assert len(spec.labels) == len(spec.values) == len(spec.value_labels) == n
    assert spec.kind == ("line" if n > MAX_BARS else "bars")
    for label, flag in zip(spec.value_labels, spec.lower_bounds, strict=True):
        assert flag == label.endswith("+")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw_figure(spec)
        assert_laid_out(fig)
    if spec.kind == "bars":
        assert len(gids(fig, "bar")) == n
        assert len(gids(fig, "lower-bound")) == sum(spec.lower_bounds)


def test_wrap_breaks_at_words_and_cuts_with_an_ellipsis() -> None:
    assert wrap("Q3 2019", 20, 2) == ["Q3 2019"]
    assert wrap("2019年第三季度", 5, 3) == ["2019年", "第三季度"]
    lines = wrap("word " * 40, 10, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(chart_draw._width_em(line) <= 10 for line in lines)


# --- async --------------------------------------------------------------------------------


async def test_render_chart_async_from_an_event_loop() -> None:
    expected = render_spec(chart_spec(dau_change()))
    try:
        results = await asyncio.gather(
            render_chart_async(dau_change()),
            render_chart_async(ride_code()),
            render_chart_async(single(False)),
        )
    finally:
        chart_draw.shutdown_renderer()  # the drawing process is not left behind
    assert results[0] == expected
    assert results[1] is not None and results[1].startswith(PNG_MAGIC)
    assert results[2] is None
    assert await render_chart_async(dau_change()) is results[0]  # a repeat is the cached bytes
    assert render_chart(ride_code()) is results[1]  # one cache for both paths


def test_spec_is_a_plain_hashable_value() -> None:
    spec = chart_spec(dau_change())
    assert isinstance(spec, ChartSpec)
    assert hash(spec) == hash(chart_spec(dau_change()))


def noted(lang: str = "en") -> Answer:
    """Aftermarket MAU as the report gives it: an average per mini program, not a total."""
    note, note_zh = "average per aftermarket mini program", "平均每个汽车后市场小程序"
    facts = [
        Fact("mau", "aftermarket", None, Q2, 420_000, "=", "users", SOURCE, note, note_zh),
        Fact("mau", "aftermarket", None, Q3, 401_000, "=", "users", SOURCE, note, note_zh),
    ]
    change = Change("mau", "aftermarket", None, Q2, Q3, 420_000, 401_000, -4.52)
    query = Query("aftermarket mau q2 vs q3", comparison="change", lang=lang)
    return Answer(query, "answered", facts=facts, changes=[change])


@pytest.mark.parametrize(
    ("lang", "shown"),
    [("en", "Average per aftermarket mini program"), ("zh", "平均每个汽车后市场小程序")],
)
def test_the_figures_note_is_drawn_under_the_title(lang: str, shown: str) -> None:
    spec = chart_spec(noted(lang))
    assert spec is not None and spec.subtitle == shown
    fig = draw_figure(spec)
    [subtitle] = gids(fig, "subtitle")
    assert subtitle.get_text().replace("\n", "") == shown
    texts = drawn_texts(fig)
    title = next(t for t in texts if t.get_gid() == "title")
    bars_top = max(b.get_window_extent().y1 for b in gids(fig, "bar"))
    # under the title, above every bar: read before the numbers it qualifies
    assert subtitle.get_window_extent().y1 <= title.get_window_extent().y0 + 1
    assert subtitle.get_window_extent().y0 > bars_top


def test_a_plain_figure_gets_no_subtitle() -> None:
    spec = chart_spec(dau_change())
    assert spec is not None and spec.subtitle == ""
    assert gids(draw_figure(spec), "subtitle") == []


# --- the words under a chart: bound legend, source line, notes --------------------------------


def in_lang(answer: Answer, lang: str) -> Answer:
    return Answer(answer.query._replace(lang=lang), answer.status, facts=answer.facts)


LOWER_EN = "+ = lower bound (“over N”): the {} means the true figure is higher"
LOWER_ZH = "+ 表示下限（“超过N”），{}表示实际值更高"


@pytest.mark.parametrize(
    ("answer", "lang", "legend"),
    [
        (ride_code(), "en", LOWER_EN.format("dashed part")),
        (ride_code(), "zh", LOWER_ZH.format("虚线部分")),
        (series(9, ">"), "en", LOWER_EN.format("dashed arrow")),
        (series(9, ">"), "zh", LOWER_ZH.format("虚线箭头")),
        (
            ride_code(wechat_q="<"),
            "en",
            LOWER_EN.format("dashed part") + "\n< = upper bound (“under N”), hatched bar",
        ),
        (
            ride_code(wechat_q="<"),
            "zh",
            LOWER_ZH.format("虚线部分") + "\n< 表示上限（“不到N”），斜线柱",
        ),
        (series(9, "<"), "en", "< = upper bound (“under N”)"),
        (series(9, "<"), "zh", "< 表示上限（“不到N”）"),
        (series(9), "zh", ""),
    ],
)
def test_bounds_are_explained_in_the_charts_language(
    answer: Answer, lang: str, legend: str
) -> None:
    spec = chart_spec(in_lang(answer, lang))
    assert spec is not None and spec.note == legend


OTHER = Source(
    id="other",
    title="Mobility Survey",
    publisher="Survey Co",
    published="2019-12-01",
    title_zh="出行调查",
    publisher_zh="调查公司",
)


@pytest.mark.parametrize(
    ("sources", "lang", "footnote"),
    [
        (
            [SOURCE, SOURCE],
            "en",
            "Source: Q3 2019 Pan-Automotive Industry Mini Program Report, Aladdin Research "
            "Institute, released 2019-11-11",
        ),
        (
            [SOURCE, OTHER],
            "en",
            "Sources: Q3 2019 Pan-Automotive Industry Mini Program Report, Aladdin Research "
            "Institute, released 2019-11-11; Mobility Survey, Survey Co, released 2019-12-01",
        ),
        (
            [SOURCE, OTHER],
            "zh",
            "来源：《2019年第三季度泛汽车行业小程序报告》，阿拉丁研究院，2019-11-11发布；"
            "《出行调查》，调查公司，2019-12-01发布",
        ),
        (
            [OTHER._replace(title_zh="", publisher_zh="")] * 2,
            "zh",
            "来源：《Mobility Survey》，Survey Co，2019-12-01发布",  # no Chinese name: the original
        ),
    ],
)
def test_the_chart_names_each_source_once(sources: list, lang: str, footnote: str) -> None:
    facts = [
        Fact("dau", "aftermarket", None, q, v, "=", "users", s)
        for q, v, s in zip((Q2, Q3), (28_500, 27_200), sources, strict=True)
    ]
    answer = Answer(Query("aftermarket dau", lang=lang), "answered", facts=facts)
    spec = chart_spec(answer)
    assert spec is not None and spec.footnote == footnote


@pytest.mark.parametrize(
    ("notes", "lang", "subtitle"),
    [
        # Each note once, in order; an English subtitle opens with a capital.
        (
            [("average per program", "平均"), ("as of the report", "截至报告")] * 2,
            "en",
            "Average per program; as of the report",
        ),
        (
            [("average per program", "平均"), ("as of the report", "截至报告")],
            "zh",
            "平均；截至报告",
        ),
        (
            [("average per program", ""), ("", "")],
            "zh",
            "average per program",
        ),  # no Chinese note: the English one
        ([("", "平均"), ("", "")], "en", ""),  # no English note: nothing rather than Chinese
    ],
)
def test_the_subtitle_gives_each_figures_note_once(notes: list, lang: str, subtitle: str) -> None:
    periods = [Period(2018 + k // 4, k % 4 + 1) for k in range(len(notes))]
    facts = [
        Fact("mau", "aftermarket", None, p, 400_000 + k, "=", "users", SOURCE, note, note_zh)
        for k, (p, (note, note_zh)) in enumerate(zip(periods, notes, strict=True))
    ]
    spec = chart_spec(Answer(Query("aftermarket mau", lang=lang), "answered", facts=facts))
    assert spec is not None and spec.subtitle == subtitle


# --- % change labels between figures with qualifiers (issue 9: no % change between bounds) ---


def qualified_series(qualifiers: str) -> Answer:
    """20,000 → 20,700 → 21,400 (+3.5%, +3.4%), each figure with its qualifier."""
    periods = [Period(2019, q) for q in range(1, len(qualifiers) + 1)]
    facts = [
        Fact("dau", "aftermarket", None, p, 20_000 + 700 * k, q, "users", SOURCE)
        for k, (p, q) in enumerate(zip(periods, qualifiers, strict=True))
    ]
    return Answer(Query("aftermarket dau trend", comparison="periods"), "answered", facts=facts)


@pytest.mark.parametrize(
    ("qualifiers", "pcts"),
    [
        # A step from or to one bound ("over N", "under N") is not a measured change,
        # whichever side the bound is on; the exact steps around it keep theirs.
        (">==", (None, "+3.4%")),
        ("<==", (None, "+3.4%")),
        ("=>=", (None, None)),
        ("==<", ("+3.5%", None)),
        ("=<=", (None, None)),
        # A step with an "about" figure on either side is itself only about.
        ("~==", ("~+3.5%", "+3.4%")),
        ("==~", ("+3.5%", "~+3.4%")),
        ("===", ("+3.5%", "+3.4%")),
    ],
)
def test_a_step_to_or_from_one_bound_claims_no_change(qualifiers: str, pcts: tuple) -> None:
    spec = chart_spec(qualified_series(qualifiers))
    assert spec is not None
    assert spec.pcts == pcts


def test_the_chart_labels_a_step_with_the_answers_own_change() -> None:
    # The text reply states each Change row's pct; the chart must show that same figure,
    # not one it works out again from the bars (28,500 → 27,200 alone would be -4.6%).
    answer = dau_change()
    stated = answer.changes[0]._replace(pct=-5.2)
    spec = chart_spec(Answer(answer.query, "answered", facts=answer.facts, changes=[stated]))
    assert spec is not None and spec.pcts == ("-5.2%",)
