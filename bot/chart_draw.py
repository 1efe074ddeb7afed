"""Drawing a `ChartSpec` as a small PNG (matplotlib's object-oriented API on Agg, imported on
first draw only), caching the bytes by content, and drawing in a separate process so the bot's
event loop never waits on matplotlib.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from .chart_spec import DPI, HEIGHT_PX, WIDTH_PX, ChartSpec, Labels, chart_spec, is_wide
from .fonts import cjk_font_file
from .models import Answer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Simplified-Chinese face first (its glyph forms suit zh-CN); the others are system fonts
# that serve if the package is missing.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)
_LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib

_INK = "#1F2933"
_MUTED = "#5F6B76"
_RULE = "#9AA5B1"
_SERIES_OLD = "#9DB9DC"  # earlier periods: light, so the latest one stands out
_SERIES_NEW = "#2F6DB5"
_PALETTE = ("#2F6DB5", "#E08A2C", "#3A9A74", "#8C6BB1", "#C0504D", "#5B6B7A", "#D4A72C", "#4AA3C9")

_TITLE_PT = 22.0
_SUBTITLE_PT = 15.0
_TICK_PT = 18.0
_VALUE_PT = 18.0
_PCT_PT = 16.0
_NOTE_PT = 13.0
_LINE_TICK_PT = 15.0
_LINE_VALUE_PT = 14.0
_LINE_PCT_PT = 12.5
_MIN_PT = 10.0
_LINESPACING = 1.2
_TICK_STEP = 1.3  # baseline to baseline in wrapped tick labels, in ems
_MARGIN_X = 36.0
_EDGE_PX = 12.0  # no text comes closer than this to the left or right edge
_LB_EXTENSION = 0.14  # open-ended part of a lower-bound bar, as a share of the tallest value


def _em(ch: str) -> float:
    # Rough DejaVu Sans advances (digits are tabular, 0.64em); CJK glyphs are full squares.
    if is_wide(ch):
        return 1.0
    if ch in "MWmw%@":
        return 0.9
    if ch.isupper():
        return 0.72
    if ch.isdigit():
        return 0.64
    if ch in " .,:;'|!il()[]“”·-":
        return 0.35
    return 0.6


def _width_em(text: str) -> float:
    return sum(_em(c) for c in text)


_BREAK_AFTER = frozenset(" 年月·、，,/-–—（(")


def _tokens(text: str) -> list[str]:
    # Break chances: after spaces and natural separators ("2019年|第三季度"); a token too
    # long for a line is later split between CJK characters, which Chinese allows anywhere.
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch in _BREAK_AFTER:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def _split_long(token: str, max_em: float) -> list[str]:
    pieces, cur = [], ""
    for ch in token:
        if cur and _width_em(cur + ch) > max_em:
            pieces.append(cur)
            cur = ""
        cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def wrap(text: str, max_em: float, max_lines: int) -> list[str]:
    """Greedy CJK-aware wrap to lines of at most max_em ems; the last line ends in … if cut."""
    lines: list[str] = []
    cur = ""
    for token in _tokens(text):
        for piece in _split_long(token, max_em) if _width_em(token) > max_em else [token]:
            if cur and _width_em((cur + piece).rstrip()) > max_em:
                lines.append(cur.rstrip())
                cur = piece.lstrip()
            else:
                cur += piece
    if cur.strip():
        lines.append(cur.rstrip())
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and _width_em(last + "…") > max_em:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + "…"]
    return lines or [""]


def _px(pt: float) -> float:
    return pt * DPI / 72.0


def _fits_badly(text: str, pt: float, max_w: float) -> bool:
    # Measuring costs a text layout; only texts whose estimate comes near the limit pay it.
    widest = max((_width_em(line) for line in text.split("\n")), default=0.0)
    return widest * _px(pt) > 0.9 * max_w


def _line_px(pt: float, lines: int) -> float:
    return _px(pt) * (1 + _LINESPACING * (lines - 1)) + _px(pt) * 0.3  # + descent


# --- matplotlib (imported on first draw only) ---------------------------------------------


_mpl_lock = threading.Lock()


@cache
def _mpl() -> dict[str, Any]:
    """Import matplotlib's pieces once, register the CJK font and build the font list."""
    with _mpl_lock:  # a first render in two threads at once must not add the font twice
        return _load_mpl()


def _load_mpl() -> dict[str, Any]:
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Rectangle
    from matplotlib.patheffects import withStroke

    path = cjk_font_file()
    known = {f.name for f in font_manager.fontManager.ttflist}
    if path is not None and "Noto Sans CJK SC" not in known:
        font_manager.fontManager.addfont(str(path))
        known = {f.name for f in font_manager.fontManager.ttflist}
    cjk = next((name for name in _CJK_FAMILIES if name in known), None)
    if cjk is None:
        log.warning(
            "no CJK font found (apt install fonts-noto-cjk, or pip install noto-cjk-sans-otc==0.0.1): "
            "Chinese labels will miss glyphs"
        )
    families = [_LATIN_FAMILY, cjk] if cjk else [_LATIN_FAMILY]
    return {
        "Figure": Figure,
        "Canvas": FigureCanvasAgg,
        "Line2D": Line2D,
        "Rectangle": Rectangle,
        "Arrow": FancyArrowPatch,
        "stroke": withStroke,
        "rc_context": matplotlib.rc_context,
        "families": families,
    }


def cjk_font_family() -> str | None:
    """The CJK family charts fall back to for Chinese glyphs (imports matplotlib)."""
    families = _mpl()["families"]
    return families[1] if len(families) > 1 else None


class _Layout:
    """Pixel positions of the title, plot area and footnote, from line counts alone."""

    def __init__(self, spec: ChartSpec) -> None:
        n = len(spec.values)
        line = spec.kind == "line"
        usable_w = WIDTH_PX - 2 * _MARGIN_X
        self.title_lines = wrap(spec.title, usable_w / _px(_TITLE_PT), 2)
        # The note is never cut: it says what the numbers are (an average, a per-item figure).
        self.subtitle_lines = wrap(spec.subtitle, usable_w / _px(_SUBTITLE_PT), 3)
        foot_em = usable_w / _px(_NOTE_PT)
        self.foot_lines = wrap(spec.footnote, foot_em, 2)
        self.slot = usable_w / n
        self.x0 = _MARGIN_X + self.slot / 2  # centre of the first bar or point
        self.tick_pt = _LINE_TICK_PT if line else (_TICK_PT if n <= 4 else _TICK_PT - 1)
        self.tick_every = 1
        if line:  # a line may have more periods than labels fit: label every k-th, unwrapped
            widest = max(_width_em(label) for label in spec.labels) * _px(self.tick_pt)
            self.tick_every = max(1, math.ceil((widest + 14) / self.slot))
        tick_em = self.slot * self.tick_every * 0.92 / _px(self.tick_pt)
        self.ticks = [wrap(label, tick_em, 3) for label in spec.labels]
        tick_rows = max(len(t) for t in self.ticks)
        self.shown = self._shown_ticks()

        y = 12.0
        self.foot_y = y
        y += _line_px(_NOTE_PT, len(self.foot_lines))
        # Legend paragraphs ("+ = lower bound", "< = upper bound") stack above the footnote.
        self.notes: list[tuple[float, list[str], str]] = []
        for para in reversed(spec.note.split("\n") if spec.note else []):
            lines = wrap(para, foot_em - 2.5, 2)
            self.notes.append((y + 4, lines, para))
            y += 4 + _line_px(_NOTE_PT, len(lines))
        y += 16
        self.tick_top = y + _px(self.tick_pt) * (1.1 + _TICK_STEP * (tick_rows - 1))
        self.base = self.tick_top + 10  # the baseline the bars stand on
        self.title_top = HEIGHT_PX - 18
        self.subtitle_top = self.title_top - _line_px(_TITLE_PT, len(self.title_lines)) - 4
        self.plot_top = self.subtitle_top - 10
        if spec.subtitle:
            self.plot_top -= _line_px(_SUBTITLE_PT, len(self.subtitle_lines))

    def _shown_ticks(self) -> list[int]:
        """Which labels to draw: every k-th from the latest back, none crowding the next."""
        n = len(self.ticks)
        candidates = [i for i in range(n) if (n - 1 - i) % self.tick_every == 0]
        if self.tick_every == 1:
            return candidates
        kept: list[int] = []
        edge = WIDTH_PX - _EDGE_PX
        for i in reversed(candidates):
            w = max(_width_em(line) for line in self.ticks[i]) * _px(self.tick_pt) * 1.05
            # Where the label lands once slid in from the edge (as draw_figure does).
            cx = min(max(self.x0 + i * self.slot, _EDGE_PX + w / 2), WIDTH_PX - _EDGE_PX - w / 2)
            if cx + w / 2 <= edge:
                kept.append(i)
                edge = cx - w / 2 - 14
        return sorted(kept)


def draw_figure(spec: ChartSpec, renderer: Any = None) -> Figure:
    """Build the matplotlib Figure for a spec (not yet rendered; read its artists freely)."""
    mpl = _mpl()
    fig = mpl["Figure"](figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
    mpl["Canvas"](fig)
    families = mpl["families"]
    lay = _Layout(spec)
    renderer = renderer or fig.canvas.get_renderer()  # measures the few texts that need it

    def text(
        x: float,
        y: float,
        s: str,
        pt: float,
        max_w: float | None = None,
        bold: bool = False,
        color: str = _INK,
        va: str = "bottom",
        ha: str = "left",
        gid: str = "",
        linespacing: float = _LINESPACING,
    ) -> Any:
        # The CJK font has no bold face, and bold Latin beside regular CJK looks patchy: text
        # with Chinese in it is regular weight. The title alone is thickened by an outline
        # (that draws glyphs as paths, ~10x slower than the bitmap path).
        has_cjk = any(is_wide(c) for c in s)
        faux = bold and has_cjk and gid == "title"
        t = fig.text(
            x / WIDTH_PX,
            y / HEIGHT_PX,
            s,
            fontsize=pt,
            # Latin-only text skips the CJK fallback (and its missing bold face) entirely.
            fontfamily=families if has_cjk else families[:1],
            fontweight="bold" if bold and not has_cjk else "normal",
            color=color,
            linespacing=linespacing,
            path_effects=[mpl["stroke"](linewidth=pt * 0.05, foreground=color)] if faux else None,
            va=va,
            ha=ha,
            gid=gid,
        )
        if max_w is not None and _fits_badly(s, pt, max_w):
            # The wrap used estimated glyph widths; measure and shrink the rare misfit.
            while t.get_fontsize() > _MIN_PT and t.get_window_extent(renderer).width > max_w:
                t.set_fontsize(t.get_fontsize() - 1)
        if ha == "center":
            # Centred labels at the first or last bar/point may reach past the edge: slide
            # them in (measuring only those whose estimate comes near it).
            half = _width_em(s) * _px(t.get_fontsize()) * 0.55
            lo, hi = _EDGE_PX, WIDTH_PX - _EDGE_PX
            if x - half < lo or x + half > hi:
                half = t.get_window_extent(renderer).width / 2
                t.set_x(min(max(x, lo + half), hi - half) / WIDTH_PX)
        return t

    usable_w = WIDTH_PX - 2 * _MARGIN_X
    title = "\n".join(lay.title_lines)
    text(_MARGIN_X, lay.title_top, title, _TITLE_PT, usable_w, bold=True, va="top", gid="title")
    if spec.subtitle:
        subtitle = "\n".join(lay.subtitle_lines)
        text(
            _MARGIN_X, lay.subtitle_top, subtitle, _SUBTITLE_PT, usable_w,
            color=_MUTED, va="top", gid="subtitle",
        )  # fmt: skip
    footnote = "\n".join(lay.foot_lines)
    text(_MARGIN_X, lay.foot_y, footnote, _NOTE_PT, usable_w, color=_MUTED, gid="footnote")
    for y, lines, para in lay.notes:
        upper = para.startswith("<")
        top_line = y + 3 + (len(lines) - 1) * _px(_NOTE_PT) * _LINESPACING
        fig.add_artist(
            mpl["Rectangle"](
                (_MARGIN_X / WIDTH_PX, top_line / HEIGHT_PX),
                22 / WIDTH_PX,
                13 / HEIGHT_PX,
                transform=fig.transFigure,
                facecolor=_MUTED,
                alpha=1.0 if upper else 0.25,
                edgecolor="white" if upper else _MUTED,  # as the bars: hatched or dashed
                hatch="//" if upper else None,
                linestyle="-" if upper else "--",
                linewidth=0 if upper else 1.5,
                gid="note-swatch",
            )
        )
        note = "\n".join(lines)
        text(_MARGIN_X + 30, y, note, _NOTE_PT, usable_w - 30, color=_MUTED, gid="note")

    fig.add_artist(
        mpl["Line2D"](
            [_MARGIN_X / WIDTH_PX, 1 - _MARGIN_X / WIDTH_PX],
            [lay.base / HEIGHT_PX] * 2,
            transform=fig.transFigure,
            color=_RULE,
            linewidth=1.5,
            gid="baseline",
        )
    )
    for i in lay.shown:
        lines = lay.ticks[i]
        # One Text per line, each on a fixed baseline: matplotlib places a multi-line text
        # (and va="top") by its ink, so "WeChat" and "Alipay" would sit at different heights.
        pt = lay.tick_pt
        max_w = lay.slot * lay.tick_every * 0.96
        if any(_fits_badly(line, pt, max_w) for line in lines):
            probe = fig.text(0, 0, max(lines, key=_width_em), fontsize=pt, fontfamily=families)
            while pt > _MIN_PT and probe.get_window_extent(renderer).width > max_w:
                pt -= 1
                probe.set_fontsize(pt)
            probe.remove()
        for j, line in enumerate(lines):
            y = lay.tick_top - _px(pt) * (0.8 + j * _TICK_STEP)
            # linespacing 1: no leading padded into each line's box, so stacked lines keep clear.
            x = lay.x0 + i * lay.slot
            text(x, y, line, pt, va="baseline", ha="center", gid="tick", linespacing=1.0)

    if spec.kind == "line":
        _draw_line(fig, spec, lay, mpl, text)
    else:
        _draw_bars(fig, spec, lay, mpl, text)
    return fig


def _scale(spec: ChartSpec, lay: _Layout, head_px: float, floor_px: float = 0.0) -> float:
    """Pixels per unit of value, leaving head_px above the tallest mark for its labels."""
    vmax = max(max(spec.values), 0.0)
    top = vmax * (1 + _LB_EXTENSION) if any(spec.lower_bounds) else vmax
    room = lay.plot_top - lay.base - floor_px - head_px
    return room / top if top > 0 else 0.0


def _draw_bars(fig: Figure, spec: ChartSpec, lay: _Layout, mpl: dict, text: Callable) -> None:
    n = len(spec.values)
    value_h = 6 + _line_px(_VALUE_PT, 1)
    pct_h = 14 + _line_px(_PCT_PT, 1) if any(spec.pcts) else 0.0
    scale = _scale(spec, lay, value_h + pct_h)
    ext = max(spec.values) * _LB_EXTENSION * scale
    bar_w = min(lay.slot * (0.5 if n <= 2 else 0.62), 230.0)
    tops = []
    for i, value in enumerate(spec.values):
        cx = lay.x0 + i * lay.slot
        # A stub for tiny non-zero values, so 431K beside 283M still shows a bar at all.
        h = max(max(value, 0.0) * scale, 3.0 if value > 0 else 0.0)
        if spec.mode == "series":
            color = _SERIES_NEW if i == n - 1 else _SERIES_OLD
        else:
            color = _PALETTE[i % len(_PALETTE)]
        fig.add_artist(
            mpl["Rectangle"](
                ((cx - bar_w / 2) / WIDTH_PX, lay.base / HEIGHT_PX),
                bar_w / WIDTH_PX,
                h / HEIGHT_PX,
                transform=fig.transFigure,
                facecolor=color,
                # "under N": white hatching (drawn in the edge colour) marks a ceiling.
                edgecolor="white" if spec.upper_bounds[i] else color,
                hatch="//" if spec.upper_bounds[i] else None,
                linewidth=0,
                gid="bar",
            )
        )
        top = lay.base + h
        if spec.lower_bounds[i]:
            # Open-ended: a faded dashed box with an up arrow, so "over N" never reads exact.
            fig.add_artist(
                mpl["Rectangle"](
                    ((cx - bar_w / 2) / WIDTH_PX, top / HEIGHT_PX),
                    bar_w / WIDTH_PX,
                    ext / HEIGHT_PX,
                    transform=fig.transFigure,
                    facecolor=color,
                    alpha=0.22,
                    edgecolor=color,
                    linestyle="--",
                    linewidth=1.8,
                    gid="lower-bound",
                )
            )
            fig.add_artist(
                mpl["Arrow"](
                    (cx / WIDTH_PX, (top + 4) / HEIGHT_PX),
                    (cx / WIDTH_PX, (top + ext - 4) / HEIGHT_PX),
                    transform=fig.transFigure,
                    arrowstyle="-|>",
                    mutation_scale=18,
                    color=color,
                    linewidth=2,
                    gid="lower-bound-arrow",
                )
            )
            top += ext
        tops.append(top)
        label = spec.value_labels[i]
        text(cx, top + 6, label, _VALUE_PT, lay.slot * 0.98, bold=True, ha="center", gid="value")
    for i, pct in enumerate(spec.pcts):
        if not pct:
            continue
        y = max(tops[i], tops[i + 1]) + value_h + 8
        a = lay.x0 + i * lay.slot + lay.slot * 0.2
        b = lay.x0 + (i + 1) * lay.slot - lay.slot * 0.2
        fig.add_artist(
            mpl["Arrow"](
                (a / WIDTH_PX, y / HEIGHT_PX),
                (b / WIDTH_PX, y / HEIGHT_PX),
                transform=fig.transFigure,
                arrowstyle="-|>",
                mutation_scale=16,
                color=_MUTED,
                linewidth=1.6,
                gid="pct-arrow",
            )
        )
        mid = (a + b) / 2
        text(
            mid,
            y + 4,
            pct,
            _PCT_PT,
            lay.slot * 0.96,
            bold=True,
            color=_MUTED,
            ha="center",
            gid="pct",
        )


def _draw_line(fig: Figure, spec: ChartSpec, lay: _Layout, mpl: dict, text: Callable) -> None:
    n = len(spec.values)
    floor = 8 + _line_px(_LINE_PCT_PT, 1) if any(spec.pcts) and n <= 12 else 8.0
    arrow_h = 26.0 if any(spec.lower_bounds) else 0.0
    head = 6 + _line_px(_LINE_VALUE_PT, 1) + arrow_h
    scale = _scale(spec, lay, head, floor)
    xs = [lay.x0 + i * lay.slot for i in range(n)]
    ys = [lay.base + floor + max(v, 0.0) * scale for v in spec.values]
    fig.add_artist(
        mpl["Line2D"](
            [x / WIDTH_PX for x in xs],
            [y / HEIGHT_PX for y in ys],
            transform=fig.transFigure,
            color=_SERIES_NEW,
            linewidth=3,
            marker="o",
            markersize=8,
            markerfacecolor=_SERIES_NEW,
            gid="line",
        )
    )
    # Labels go where they fit: latest, first, highest and lowest first, then the rest
    # while they clear every label already placed; a crowded label is left out, never
    # overlapped.
    ends = [n - 1, 0, spec.values.index(max(spec.values)), spec.values.index(min(spec.values))]
    order = list(dict.fromkeys(ends + (list(range(n)) if n <= 12 else [])))
    tops = []
    for i in range(n):
        top = ys[i]
        if spec.lower_bounds[i]:
            fig.add_artist(
                mpl["Arrow"](
                    (xs[i] / WIDTH_PX, (top + 6) / HEIGHT_PX),
                    (xs[i] / WIDTH_PX, (top + arrow_h) / HEIGHT_PX),
                    transform=fig.transFigure,
                    arrowstyle="-|>",
                    mutation_scale=14,
                    color=_SERIES_NEW,
                    linewidth=1.8,
                    linestyle="--",
                    gid="lower-bound-arrow",
                )
            )
            top += arrow_h
        tops.append(top)
    placed: list[tuple[float, float, float, float]] = []
    for i in order:
        label = spec.value_labels[i]
        box = _box(xs[i], tops[i] + 6, label, _LINE_VALUE_PT, bold=True)
        if _clear(box, placed):
            placed.append(box)
            text(xs[i], tops[i] + 6, label, _LINE_VALUE_PT, bold=True, ha="center", gid="value")
    if any(spec.pcts) and n <= 12:
        row: list[tuple[float, float, float, float]] = []
        for i, pct in enumerate(spec.pcts):
            mid = (xs[i] + xs[i + 1]) / 2
            if pct and _clear(box := _box(mid, lay.base + 6, pct, _LINE_PCT_PT), row):
                row.append(box)
                text(mid, lay.base + 6, pct, _LINE_PCT_PT, color=_MUTED, ha="center", gid="pct")


def _box(x: float, y: float, s: str, pt: float, bold: bool = False) -> tuple[float, ...]:
    """Estimated pixel box of a centred, bottom-aligned label, slid in from the edges."""
    w = _width_em(s) * _px(pt) * (1.12 if bold else 1.04)
    x = min(max(x, _EDGE_PX + w / 2), WIDTH_PX - _EDGE_PX - w / 2)
    return (x - w / 2, y, x + w / 2, y + _line_px(pt, 1))


def _clear(box: tuple[float, ...], placed: Sequence[tuple[float, ...]], pad: float = 6.0) -> bool:
    x0, y0, x1, y1 = box
    return all(x1 + pad <= a or x0 >= c + pad or y1 <= b or y0 >= d for a, b, c, d in placed)


# --- rendering and caching ----------------------------------------------------------------

CACHE_MAX = 256
_cache: OrderedDict[str, bytes] = OrderedDict()
_cache_lock = threading.Lock()
# matplotlib is not fully thread-safe: every draw, from any thread, goes through this lock.
_render_lock = threading.Lock()
# One worker so async renders are serialised off the event loop.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart")
# The bot draws in a separate process: a draw in a thread holds the GIL for tens of ms and
# stretched text replies' p99 to ~200 ms while charts were in flight (benchmarks/bench_bot.py).
_process: ProcessPoolExecutor | None = None
_process_lock = threading.Lock()


def _render_process() -> ProcessPoolExecutor:
    global _process
    with _process_lock:
        if _process is None:
            # "spawn": a fresh interpreter, safe beside the bot's threads (fork is not).
            _process = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        return _process


def shutdown_renderer() -> None:
    """Stop the chart process (the bot calls this when it stops)."""
    global _process
    with _process_lock:
        if _process is not None:
            _process.shutdown(wait=False, cancel_futures=True)
            _process = None


def _cache_get(key: str) -> bytes | None:
    with _cache_lock:
        png = _cache.get(key)
        if png is not None:
            _cache.move_to_end(key)
        return png


def _cache_put(key: str, png: bytes) -> None:
    with _cache_lock:
        _cache[key] = png
        _cache.move_to_end(key)
        while len(_cache) > CACHE_MAX:
            _cache.popitem(last=False)


def clear_cache() -> None:
    """Forget every cached PNG."""
    with _cache_lock:
        _cache.clear()


def cache_size() -> int:
    """How many PNGs are cached."""
    with _cache_lock:
        return len(_cache)


def _exact_colours() -> list[tuple[int, int, int]]:
    hexes = ("#FFFFFF", _INK, _MUTED, _RULE, _SERIES_OLD, _SERIES_NEW, *_PALETTE)
    return [(int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)) for h in hexes]


def _to_png(rgba: Any, size: tuple[int, int]) -> bytes:
    """Encode the Agg buffer as a 128-colour palette PNG (deterministic, no metadata)."""
    from PIL import Image  # Pillow comes with matplotlib

    image = Image.frombuffer("RGBA", size, rgba, "raw", "RGBA", 0, 1).convert("RGB")
    # Flat colours and anti-aliased text fit 128 colours with no visible loss, and the file
    # is ~3x smaller than RGB (~20 KB) for less encoding time.
    paletted = image.quantize(
        colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    # The quantiser averages buckets (white comes out 254,254,254): snap near-misses back to
    # the exact colours drawn, so backgrounds and bars keep their true colour.
    flat = paletted.getpalette() or []
    exact = _exact_colours()
    for i in range(0, len(flat) - 2, 3):
        r, g, b = flat[i : i + 3]
        for er, eg, eb in exact:
            if abs(r - er) + abs(g - eg) + abs(b - eb) <= 9:
                flat[i : i + 3] = [er, eg, eb]
                break
    paletted.putpalette(flat)
    out = io.BytesIO()
    # zlib level 3: a third of level 6's time on these images, for ~7% more bytes.
    paletted.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def render_spec(spec: ChartSpec) -> bytes:
    """Draw a spec to PNG bytes, bypassing the cache (deterministic for a given spec)."""
    rc = _mpl()["rc_context"]
    # Unhinted glyphs render ~30% faster and look the same at these sizes; the rc change
    # is scoped to this draw, which the lock keeps to one thread at a time.
    with _render_lock, rc({"text.hinting": "no_hinting"}):
        renderer = _agg_renderer()
        fig = draw_figure(spec, renderer)
        renderer.clear()
        fig.draw(renderer)
        png = _to_png(renderer.buffer_rgba(), (WIDTH_PX, HEIGHT_PX))
        fig.clear()
    return png


_agg: list[Any] = []


def _agg_renderer() -> Any:
    """The one Agg renderer every render draws on (callers hold _render_lock)."""
    # A renderer per figure would be a 2.5 MB pixel buffer per render, kept alive by the
    # figure's reference cycles (texts remember their renderer) until the cyclic garbage
    # collector runs: RSS grew 10-40 MB over 2,000 renders. One reused buffer grows nothing,
    # and its text-metrics cache also serves the titles and footnotes that repeat.
    if not _agg:
        from matplotlib.backends.backend_agg import RendererAgg

        _agg.append(RendererAgg(WIDTH_PX, HEIGHT_PX, DPI))
    return _agg[0]


def _render_cached(spec: ChartSpec) -> bytes:
    key = spec.key
    png = _cache_get(key)
    if png is None:
        png = render_spec(spec)
        _cache_put(key, png)
    return png


def render_chart(answer: Answer, labels: Labels | None = None) -> bytes | None:
    """The answer's chart as PNG bytes (cached by what is drawn), or None when it has none."""
    spec = chart_spec(answer, labels)
    return None if spec is None else _render_cached(spec)


async def render_chart_async(answer: Answer, labels: Labels | None = None) -> bytes | None:
    """Like render_chart, drawing in a separate chart process so the event loop stays free."""
    spec = chart_spec(answer, labels)
    if spec is None:
        return None
    png = _cache_get(spec.key)  # a repeat costs a dict look-up, on the loop
    if png is not None:
        return png
    loop = asyncio.get_running_loop()
    try:
        png = await loop.run_in_executor(_render_process(), render_spec, spec)
    except BrokenProcessPool:  # the process died (e.g. killed): draw here rather than fail
        shutdown_renderer()
        png = await loop.run_in_executor(_executor, render_spec, spec)
    _cache_put(spec.key, png)
    return png
