"""Candidate figures in a report's text: value, qualifier, unit, period, keys, evidence.

Extraction only proposes. Every candidate carries the sentence it came from and the span of
its number; a person accepts it before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from ..models import Period
from ..periods import PeriodError, find_periods
from .keys import Matcher, Mention
from .numerals import Number, find_numbers, widen
from .reading import Document

ACCEPT_AT = 0.6  # candidates at or above this confidence are proposed with accept=yes

# "近" / "nearly" / "almost" mean "just under": we map them to "<", which the bot shows as
# "under 300 million" — true, and it keeps the direction the report gives ("~" would lose it).
_GT_PRE = re.compile(
    r"(?:超过|超出|超|逾|多于|高于|突破|大于|破|more than|over|exceed(?:ed|s|ing)?|above|"
    r"upwards of|in excess of|surpass(?:ed|es|ing)?|topped|passed)\s*(?:了\s*|the\s+)?$"
)
_LT_PRE = re.compile(
    r"(?:将近|接近|逼近|近|不到|不足|少于|低于|nearly|almost|close to|approaching|just under|"
    r"less than|fewer than|under|below)\s*(?:了\s*)?$"
)
_APPROX_PRE = re.compile(
    r"(?:大约|大概|约为|约有|约|about|around|approximately|approx\.?|roughly|"
    r"an estimated|estimated at|some|~)\s*$"
)
_GT_POST = re.compile(r"^(?:多|余|\+)|^.{0,6}?(?:以上|之上)|^\s*(?:or more|plus)\b")
_APPROX_POST = re.compile(r"^.{0,6}?(?:左右|上下)|^\s*(?:or so)\b")
_LT_POST = re.compile(r"^.{0,6}?(?:以下|以内)")

# Units a number is followed by (a few words or characters may sit between, not punctuation).
_UNIT_POST = [
    (re.compile(r"^\s*(?:个|座)?(?:[\u4e00-\u9fff]{0,4}?)(?:城市|地级市)"), "cities"),
    (re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?(?:cities|city)\b"), "cities"),
    (re.compile(r"^\s*个?(?:[\u4e00-\u9fff]{0,2}?)(?:省份|省|自治区)"), "provinces"),
    (re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?provinces?\b"), "provinces"),
    (re.compile(r"^\s*个?(?:[\u4e00-\u9fff]{0,4}?)(?:国家|国)"), "countries"),
    (re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?(?:countries|country|nations)\b"), "countries"),
    (re.compile(r"^\s*(?:个|款|家)(?:[\u4e00-\u9fff]{0,4}?)小程序"), "mini_programs"),
    (
        re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?(?:mini[\s\-]?programs?|applets?)\b(?!\s+users?\b)"),
        "mini_programs",
    ),
    (re.compile(r"^\s*(?:个|家)(?:[\u4e00-\u9fff]{0,6}?)平台"), "platforms"),
    (re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?platforms?\b"), "platforms"),
    (re.compile(r"^\s*(?:美元|美金)|^\s*(?:us\s*)?(?:dollars|usd)\b"), "usd"),
    (re.compile(r"^\s*(?:元|人民币)|^\s*(?:yuan|rmb|cny)\b"), "cny"),
    (re.compile(r"^\s*(?:名|位)?(?:[\u4e00-\u9fff]{0,4}?)(?:用户|网民|人)|^\s*名|^\s*位"), "users"),
    (
        re.compile(r"^\s*(?:[a-z\-]+\s+){0,3}?(?:users?|people|members|visitors|customers)\b"),
        "users",
    ),
    (re.compile(r"^\s*(?:个|家|款|项|次|辆|台|单|笔|件)"), "count"),
]
_CURRENCY_PRE = [
    (re.compile(r"(?:us\$|\$|usd)\s*$"), "usd"),
    (re.compile(r"(?:¥|￥|rmb|cny)\s*$"), "cny"),
]
_UNIT_METRIC = {  # units that say what is counted
    "cities": "cities",
    "provinces": "provinces",
    "countries": "countries",
    "platforms": "platforms",
}
_METRIC_UNIT = {"users": "users", "mau": "users", "dau": "users"} | {k: k for k in _UNIT_METRIC}

# Not market figures: dates, durations, ordinals, rankings, multiples, page and footnote marks.
_SKIP_POST = re.compile(
    r"^(?:\s*(?:年|月|日|号|季度|周|天|小时|分钟|秒|岁|倍|期|届|页|章|节|名(?!用户)|位(?!用户)|线)"
    r"|(?:st|nd|rd|th)\b|\s*(?:years?|months?|days?|weeks?|hours?|minutes?|times|x)\b|[a-z])",
)
_SKIP_PRE = re.compile(
    r"(?:第|top|no\.|#|page|p\.|排名|排行|前|ranked|rank|tier|版本|v|\[|\^|wechat is|微信号"
    # a number in a name ("Double 11", "Figure 4", "表1"), or one of a group already counted
    # ("前10名中有7席", "其余3家", "the other 9")
    r"|\b(?:figure|fig\.|table|chart|section|appendix|exhibit|part|chapter|double)"
    r"|图|表|附录|附件|双|其余|其他|另外|这|那|中的|中有|\bthe other|\bthe remaining)\s*$"
)
# "the two platforms", "两大平台": a reference to things named elsewhere, not a count.
_REFERENCE_WORD_PRE = re.compile(r"\b(?:the|these|those|both|all|its|their)\s+$")
_GROWTH_PRE = re.compile(
    r"(?:环比|同比|增长率|增速|增幅|增长了?|上涨了?|提升了?|提高了?|上升了?|下降了?|下滑了?|减少了?|"
    r"降低了?|回落了?|跌了?|涨了?|增加了?|up|down|rose|rising|grew|growing|growth of|increased? (?:of|by)|"
    r"decreased? (?:of|by)|declined?(?: by)?|fell(?: by)?|dropped(?: by)?|gained|"
    r"(?:a|an)\s+(?:rebound|rise|increase|jump|gain|drop|decline|decrease|fall)\s+of|"
    r"qoq|q/q|mom|yoy)\s*(?:by\s*|了\s*|of\s*)?[+\-−]?$"
)
# "6.5% QoQ", "+8.6% 环比": the rate word after the number.
_GROWTH_POST = re.compile(
    r"^\s*(?:qoq|q/q|quarter[- ](?:on|over)[- ]quarter|sequentially|month[- ](?:on|over)[- ]month|"
    r"mom|环比|yoy|y/y|year[- ](?:on|over)[- ]year|同比)"
)
_DOWN = re.compile(r"下降|下滑|减少|降低|回落|跌|down|fell|declin|drop|decreas|fall|[\-−]$")
_YOY = re.compile(
    r"同比|year[- ]on[- ]year|year[- ]over[- ]year|yoy|y/y|去年同期|same period last year"
)
# A quarter a year before the sentence's own: "去年同期", "a year earlier".
_YEAR_AGO = re.compile(
    r"去年同期|上年同期|a year (?:earlier|ago|before)|the same (?:quarter|period) (?:of |a )?last "
    r"year|same period last year|year[- ]ago (?:quarter|period)"
)
# A quarter phrase that points back from another ("上季度", "the previous quarter").
_RELATIVE = re.compile(r"上|前一|previous|last|prior|去年|earlier|ago|before")
# A quarter or figure that is compared against ("较上季度的2.96亿", "from 199 million").
_COMPARED_PRE = re.compile(
    r"(?:较|比|相比|与|同|从|由|对比|than|from|compared (?:with|to)|versus|vs\.?|against)\s*"
    r"(?:the\s+|了\s*)?$"
)
_COMPARED_BEFORE_FIGURE = re.compile(
    r"(?:较|比|相比|从|由|对比|than|from|compared (?:with|to)|versus|vs\.?|against)"
    r"[^,，;；:：。]{0,12}$"
)
# Words that make a figure one for all markets: it has no segment.
_ALL_MARKETS = re.compile(
    r"全行业|整个行业|行业整体|整体小程序|所有小程序|全部小程序|小程序整体|全网小程序|整个小程序|小程序行业整体|"
    r"all mini[\s\-]?programs|all industries|all sectors|the (?:whole|entire) (?:industry|market)|"
    r"the industry as a whole|industry[- ]wide|across the industry|whole industry"
)
# Words that make a figure one for several platforms together: it has no platform.
_ALL_PLATFORMS = re.compile(
    r"两大平台|双平台|两个平台|各平台|全平台|多平台|"
    r"both platforms|the two platforms|all platforms|across platforms|combined|together"
)
_PLATFORM_AND = re.compile(r"\s*(?:和|与|及|以及|、|/|&|and|plus|or|或)\s*")
# A sentence (or part after ；) that goes on about what the one before named.
_CONTINUES = re.compile(
    r"^(?:其中|其|该|它们?|这一?|此|同时|并且|且|also|it|its|they|their|this|these|of which|"
    r"among them|of these|there)(?![a-z])"
)
_PART_SPLIT = re.compile(r"[;；]")
# Classifiers that count things, not people: a figure so counted needs its own metric word.
_COUNT_WORD_ZH = re.compile(r"^\s*(?:条|席|所|只|张|篇|份|部)")
# After a number, an English word that is not a unit: the number counts something else
# ("27 subway lines"), unless the word is a preposition or says it is a rate.
_NOUN_AFTER_EN = re.compile(r"^\s+([a-z][a-z\-]*)")
_NOT_A_NOUN = frozenset(
    [
        "in",
        "at",
        "on",
        "for",
        "by",
        "from",
        "to",
        "and",
        "or",
        "of",
        "as",
        "with",
        "during",
        "while",
        "compared",
        "than",
        "a",
        "an",
        "the",
        "this",
        "that",
        "which",
        "who",
        "were",
        "was",
        "is",
        "are",
        "percent",
        "per",
        "pct",
        "points",
        "percentage",
        "year",
        "quarter",
        "month",
        "respectively",
        "last",
        "each",
    ]
)
_SURVEY = re.compile(
    r"survey|surveyed|respondents|questionnaire|sample|interviewed|polled|调研|调查|问卷|样本|受访|抽样"
)
_FROM_PRE = re.compile(r"(?:\bfrom|从|由)\s*(?:the\s+)?$")
_TO_BETWEEN = re.compile(
    r"^\s*(?:in\s.{0,30}?)?(?:\bto\b|(?:增长|增加|上升|下降|减少|降|升|增|跌)?(?:至|到))"
)
_HEADING_NUMBER = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*[.、)）]|[（(]\d+[)）]|part\s+\d+|chapter\s+\d+|section\s+\d+)",
    re.IGNORECASE,
)
_PAGE_LINE = re.compile(
    r"^\W*(?:page\s*)?\d+(?:\s*(?:/|of)\s*\d+)?\W*$|^第\s*\d+\s*页", re.IGNORECASE
)
_SENTENCE_RE = re.compile(r"[^。！？!?\n]+(?:[。！？!?]+|$)|(?<=[^\d])\.(?=\s|$)")
_CLAUSE_SPLIT = re.compile(r"[,，;；:：]")
_QUARTER_WORDS = re.compile(r"q\d|quarter|季")
_AS_OF = re.compile(r"(?:截至|截止|截止到|到|as of|by the end of|by end of|end of|until|by)\s*$")


@dataclass
class Candidate:
    value: float
    qualifier: str
    unit: str
    period: str
    metric: Mention | None
    segment: Mention | None
    platform: Mention | None
    stated_pct: float | None
    sentence: str
    start: int
    end: int
    page: int | None
    confidence: float
    notes: list[str] = field(default_factory=list)
    # A figure compared against ("较上季度的2.96亿"): a growth rate is never its own.
    reference: bool = False

    @property
    def accept(self) -> bool:
        """Proposed for import: confident, and complete enough for `marketbot ingest`."""
        complete = self.metric is not None and self.segment is not None and bool(self.period)
        return complete and self.confidence >= ACCEPT_AT

    def as_json(self) -> dict:
        """The candidate as printed by `extract --json`: exactly the documented keys."""
        new = {
            m.kind: {"key": m.key, "en": m.en, "zh": m.zh}
            for m in (self.metric, self.segment, self.platform)
            if m is not None and m.new
        }
        evidence = {
            "sentence": self.sentence,
            "span": [self.start, self.end],
            "text": self.sentence[self.start : self.end],
            "page": self.page,
        }
        if new:
            evidence["new_keys"] = new
        value: float | int = int(self.value) if float(self.value).is_integer() else self.value
        return {
            "value": value,
            "qualifier": self.qualifier,
            "unit": self.unit,
            "period": self.period or None,
            "metric": self.metric.key if self.metric else None,
            "segment": self.segment.key if self.segment else None,
            "platform": self.platform.key if self.platform else None,
            "stated_pct": self.stated_pct,
            "evidence": evidence,
            "confidence": round(self.confidence, 2),
        }


@dataclass
class Context:
    """What earlier sentences of a paragraph (or its heading) said: carried forward."""

    segment: Mention | None = None
    platform: Mention | None = None
    period: Period | None = None


def sentences(text: str) -> list[tuple[int, str]]:
    """Sentences with their offsets; a dot between digits (2.83) does not end one."""
    out, start = [], 0
    for m in re.finditer(r"[。！？!?]+|(?<!\d)\.(?=\s|$)|\.(?=\s+[A-Z])", text):
        out.append((start, text[start : m.end()]))
        start = m.end()
    if start < len(text):
        out.append((start, text[start:]))
    return [(s + len(t) - len(t.lstrip()), t.strip()) for s, t in out if t.strip()]


def document_period(doc: Document, published: dt.date | None) -> Period | None:
    """The quarter a report is about: its title's, else the one its text names most."""
    for text in (doc.title, *(b.text for b in doc.blocks[:3] if b.heading)):
        p = _first_quarter(text, None)
        if p:
            return p
    counts: Counter[Period] = Counter()
    for block in doc.blocks:
        for f in _periods(block.text.lower(), None):
            if f[2] == "quarter" and f[3]:
                counts[f[3]] += 1
    if counts:
        return counts.most_common(1)[0][0]
    if published:  # a report comes out after the quarter it covers
        return Period(published.year, (published.month - 1) // 3 + 1).previous()
    return None


def _first_quarter(text: str, year: int | None) -> Period | None:
    for _s, _e, kind, p in _periods(text.lower(), year):
        if kind == "quarter" and p:
            return p
    return None


def _periods(low: str, year: int | None, today: dt.date | None = None):
    """(start, end, kind, Period|None) of each period phrase; bare quarters take ``year``."""
    try:
        found, _ = find_periods(low, today)
    except PeriodError:
        return []
    out = []
    for f in found:
        spec = f.spec
        is_quarter = bool(_QUARTER_WORDS.search(spec.text or ""))
        if spec.kind == "quarter" and spec.year and spec.quarter:
            kind = "quarter" if is_quarter else "date"
            out.append((f.start, f.end, kind, Period(spec.year, spec.quarter)))
        elif spec.kind == "bare_quarter" and spec.quarter:
            kind = "quarter" if is_quarter else "date"
            y = year
            if re.match(r"\s*(?:of\s+)?(?:this|the same) year|\s*of 今年", low[f.end : f.end + 15]):
                y = year
            out.append((f.start, f.end, kind, Period(y, spec.quarter) if y else None))
        else:
            out.append((f.start, f.end, spec.kind, None))
    return out


class Extractor:
    def __init__(self, matcher: Matcher, doc_period: Period | None) -> None:
        self.matcher = matcher
        self.doc_period = doc_period
        self.year = doc_period.year if doc_period else None
        if doc_period:  # "this quarter" in a report means the report's quarter
            self.today = dt.date(doc_period.year, doc_period.quarter * 3, 1)
        else:
            self.today = None

    def run(self, doc: Document) -> list[Candidate]:
        out: list[Candidate] = []
        heading_ctx = Context()
        for block in doc.blocks:
            if _PAGE_LINE.match(block.text.strip()):
                continue
            ctx = Context(heading_ctx.segment, heading_ctx.platform, heading_ctx.period)
            for _off, sentence in sentences(block.text):
                found = self.sentence(sentence, block.page, ctx, block.heading)
                out += found
            if block.heading:  # a section heading names its market, not a platform
                heading_ctx = Context(ctx.segment, None, ctx.period)
        return dedupe(out)

    def sentence(
        self, sentence: str, page: int | None, ctx: Context, heading: bool
    ) -> list[Candidate]:
        low = widen(sentence).lower()
        periods = _periods(low, self.year, self.today)
        mentions = self.matcher.find(sentence)
        numbers = [n for n in find_numbers(sentence) if not self._skip(n, low, periods, heading)]
        # Date phrases only set a figure's period when they say "as of"/"截至".
        quarters = [
            (s, e, p)
            for s, e, kind, p in periods
            if p and (kind == "quarter" or (kind == "date" and _AS_OF.search(low[:s])))
        ]
        figures: list[Number] = []
        growth: list[tuple[Number, float]] = []
        for n in numbers:
            pre = low[max(0, n.start - 16) : n.start]
            post_rate = _GROWTH_POST.match(low[n.end : n.end + 24])
            if n.percent and (_GROWTH_PRE.search(pre) or post_rate):
                rate_words = low[max(0, n.start - 24) : n.start]
                if post_rate:
                    rate_words += " " + post_rate.group(0)
                if not _YOY.search(rate_words):
                    sign = -1.0 if _DOWN.search(pre) else 1.0
                    growth.append((n, sign * n.value))
                continue
            figures.append(n)

        # Quarter phrases, each marked: compared against ("较二季度"), or pointing back from the
        # report's quarter ("上季度", "去年同期"); neither becomes the sentence's main period.
        base = ctx.period or self.doc_period
        marked = []  # (start, end, period, compared, relative)
        for s, e, p in quarters:
            compared = bool(_COMPARED_PRE.search(low[max(0, s - 16) : s]))
            marked.append((s, e, p, compared, bool(_RELATIVE.search(low[s:e]))))
        if base:
            for m in _YEAR_AGO.finditer(low):
                if not any(s < m.end() and m.start() < e for s, e, *_ in marked):
                    compared = bool(_COMPARED_PRE.search(low[max(0, m.start() - 16) : m.start()]))
                    ago = Period(base.year - 1, base.quarter)
                    marked.append((m.start(), m.end(), ago, compared, True))
            marked.sort(key=lambda q: q[0])

        # Each figure's own period: one right after it ("199 million in the second quarter")
        # or right before it ("二季度的1.99亿"); else the nearest one named before it in the
        # sentence ("而在一季度，这一数字仅为1.51亿"), unless that one is only compared against.
        own: dict[int, Period] = {}
        attached: set[int] = set()
        for i, n in enumerate(figures):
            for j, (s, e, p, _c, _r) in enumerate(marked):
                after = low[n.end : s]
                before = low[e : n.start]
                # English only: in Chinese a quarter after a number belongs to what follows.
                if s >= n.end and re.fullmatch(r",?\s*(?:in|during|for)\s+(?:the\s+)?", after):
                    own[i] = p
                    attached.add(j)
                    break
                if e <= n.start and re.fullmatch(r"\s*(?:的|为|是|末|底)?\s*", before):
                    own[i] = p
                    attached.add(j)
                    break
        main = next(
            (p for j, (_s, _e, p, c, r) in enumerate(marked) if j not in attached and not (c or r)),
            None,
        )
        if main:
            ctx.period = main
        main = main or ctx.period or self.doc_period
        # Not one compared against, nor one that belongs to another figure.
        free = [q for j, q in enumerate(marked) if j not in attached and not q[3]]
        named_before: dict[int, Period] = {}
        for i, n in enumerate(figures):
            earlier = [q for q in free if q[1] <= n.start]
            if earlier:
                named_before[i] = earlier[-1][2]

        # Platform carried from earlier sentences only into one that goes on about it.
        carried_platform = ctx.platform
        for m in mentions:  # carried to later sentences of the paragraph
            if m.kind == "segment":
                ctx.segment = m
            elif m.kind == "platform":
                ctx.platform = m

        out: list[Candidate] = []
        for i, n in enumerate(figures):
            period = own.get(i)
            if period is None:
                prev = figures[i + 1] if i + 1 < len(figures) else None
                # "from A to B": A is the quarter before B's.
                if (
                    prev is not None
                    and _FROM_PRE.search(low[max(0, n.start - 12) : n.start])
                    and _TO_BETWEEN.search(low[n.end : prev.start])
                ):
                    later = own.get(i + 1) or named_before.get(i + 1) or main
                    period = later.previous() if later else None
                else:
                    period = named_before.get(i) or main
            c = self._candidate(n, sentence, low, page, mentions, ctx, period, carried_platform)
            c.reference = bool(_COMPARED_BEFORE_FIGURE.search(low[max(0, n.start - 16) : n.start]))
            out.append(c)
        # A figure of an earlier quarter than another in the sentence is what it grew from.
        labels = [c.period for c in out if c.period]
        for c in out:
            if c.period and any(c.period < other for other in labels):
                c.reference = True
        for n, pct in growth:
            target = _growth_target(n, out)
            if target is not None and target.stated_pct is None:
                target.stated_pct = pct
        return out

    def _skip(self, n: Number, low: str, periods, heading: bool) -> bool:
        if any(s < n.end and n.start < e for s, e, *_ in periods):
            return True  # part of a date or a quarter
        post = low[n.end : n.end + 8]
        pre = low[max(0, n.start - 10) : n.start]
        if _SKIP_POST.match(post) or _SKIP_PRE.search(pre):
            return True
        if n.start == 0 and _HEADING_NUMBER.match(low):
            return True  # "2. Users": a section number
        plain = not n.scaled and not n.percent and n.kind == "arabic"
        year_like = plain and 1900 <= n.value <= 2099 and float(n.value).is_integer()
        if year_like and not _unit_after(low, n):
            return True  # a year
        # Number words and Chinese numerals count only with a unit ("five platforms").
        # 三百万 is a number by its form; 三 or "five" only with a unit ("five platforms").
        big_zh = n.kind == "zh" and len(n.raw) >= 2 and any(c in n.raw for c in "百千万亿")
        if n.kind != "arabic" and (
            _REFERENCE_WORD_PRE.search(low[max(0, n.start - 8) : n.start]) or post.startswith("大")
        ):
            return True  # "the two platforms", "两大平台": naming a group, not counting it
        return n.kind != "arabic" and not big_zh and not _unit_after(low, n)

    def _candidate(
        self,
        n: Number,
        sentence: str,
        low: str,
        page: int | None,
        mentions: list[Mention],
        ctx: Context,
        period: Period | None,
        carried_platform: Mention | None = None,
    ) -> Candidate:
        pre = low[max(0, n.start - 16) : n.start]
        post = low[n.end : n.end + 12]
        qualifier = "="
        if _GT_PRE.search(pre) or _GT_POST.search(post):
            qualifier = ">"
        elif _LT_PRE.search(pre) or _LT_POST.search(post):
            qualifier = "<"
        elif _APPROX_PRE.search(pre) or _APPROX_POST.search(post):
            qualifier = "~"

        unit = "percent" if n.percent else _unit_after(low, n)
        for rx, cur in _CURRENCY_PRE:
            if rx.search(pre):
                unit = cur
        explicit_unit = unit is not None

        clause_start = max((m.end() for m in _CLAUSE_SPLIT.finditer(low, 0, n.start)), default=0)
        nxt = _CLAUSE_SPLIT.search(low, n.end)
        clause_end = nxt.start() if nxt else len(low)
        metric = _pick(mentions, "metric", n, clause_start, clause_end, sentence_wide=True)
        # "26,900 daily active users": words right after the number say what it counts.
        right_after = [
            m
            for m in mentions
            if m.kind == "metric"
            and m.start >= n.end
            and re.fullmatch(r"[\sa-z\-]{0,12}|[\u4e00-\u9fff]{0,3}", low[n.end : m.start])
        ]
        if right_after:
            metric = right_after[0]
        # "27 subway lines", "7席": the number counts something the vocabulary has no word
        # for; a metric named elsewhere in the sentence is not what it counts.
        counts_other = False
        if unit is None and not right_after and not n.percent:
            word = _NOUN_AFTER_EN.match(low[n.end : n.end + 30])
            counts_other = bool(word and word.group(1) not in _NOT_A_NOUN)
        if _COUNT_WORD_ZH.match(low[n.end : n.end + 4]):
            counts_other = not any(
                m.kind == "metric" and clause_start <= m.start and m.end <= n.start
                for m in mentions
            )
        if counts_other:
            metric = None
        elif unit in _UNIT_METRIC:
            metric = Mention("metric", _UNIT_METRIC[unit], n.start, n.end)
        elif unit == "mini_programs" and (metric is None or metric.key in _METRIC_UNIT):
            metric = Mention(
                "metric", "mini_programs", n.start, n.end, True, "mini programs", "小程序数量"
            )
        elif unit == "users" and metric is not None and metric.key not in ("users", "mau", "dau"):
            if not metric.new:
                metric = Mention("metric", "users", n.start, n.end)
        elif unit == "users" and metric is None:
            metric = Mention("metric", "users", n.start, n.end)
        if unit is None:
            unit = _METRIC_UNIT.get(metric.key, "count") if metric else "count"
            if metric and metric.new and metric.key.endswith("rate"):
                unit = "count"

        segment = _pick(mentions, "segment", n, 0, len(low), sentence_wide=True) or ctx.segment
        clause = low[clause_start:clause_end]
        if _ALL_MARKETS.search(low[: n.start]) or _ALL_MARKETS.search(clause):
            # "全行业小程序月活约9.6亿": all markets, unless the clause names one itself.
            own_segment = _pick(mentions, "segment", n, clause_start, clause_end, False)
            segment = own_segment if own_segment and not _ALL_MARKETS.search(clause) else None
        # A platform comes from the part of the sentence the number is in (a ；/; ends it);
        # one from earlier sentences only when this part goes on about it ("其中", "it").
        part_start = max((m.end() for m in _PART_SPLIT.finditer(low, 0, n.start)), default=0)
        nxt_part = _PART_SPLIT.search(low, n.end)
        part_end = nxt_part.start() if nxt_part else len(low)
        part = [m for m in mentions if part_start <= m.start and m.end <= part_end]
        platform = _pick(part, "platform", n, clause_start, clause_end, sentence_wide=True)
        if platform is None and part_start == 0 and _CONTINUES.match(low.lstrip()):
            platform = carried_platform
        if _joint_platforms(mentions, low, clause_start, clause_end) or _ALL_PLATFORMS.search(
            clause
        ):
            platform = None  # "微信与支付宝乘车码用户合计约5.2亿": both platforms together

        window = low[max(0, n.start - 20) : n.end + 16]
        survey = bool(_SURVEY.search(window))
        confidence = 0.4
        confidence += (0.2 if metric.new else 0.3) if metric else -0.3
        confidence += 0.1 if segment else 0.0
        confidence += 0.1 if explicit_unit else -0.1
        confidence += 0.1 if (n.scaled or n.value >= 100 or n.percent) else 0.0
        if not period:
            confidence -= 0.2
        if counts_other:
            confidence = min(confidence, 0.3)
        notes = []
        if survey:
            confidence, notes = 0.1, ["survey size"]
        confidence = min(0.99, max(0.05, confidence))
        return Candidate(
            value=n.value,
            qualifier=qualifier,
            unit=unit,
            period=period.label if period else "",
            metric=metric,
            segment=segment,
            platform=platform,
            stated_pct=None,
            sentence=sentence,
            start=n.start,
            end=n.end,
            page=page,
            confidence=confidence,
            notes=notes,
        )


def _unit_after(low: str, n: Number) -> str | None:
    post = low[n.end : n.end + 48]
    for rx, unit in _UNIT_POST:
        if rx.match(post):
            return unit
    return None


def _pick(
    mentions: list[Mention], kind: str, n: Number, lo: int, hi: int, sentence_wide: bool
) -> Mention | None:
    """The mention of a kind nearest before the number in its clause, else after it in the
    clause, else nearest before it anywhere in the sentence."""
    of_kind = [m for m in mentions if m.kind == kind]
    before = [m for m in of_kind if lo <= m.start and m.end <= n.start]
    if before:
        return before[-1]
    after = [m for m in of_kind if m.start >= n.end and m.end <= hi]
    if after:
        return after[0]
    if sentence_wide:
        earlier = [m for m in of_kind if m.end <= n.start]
        if earlier:
            return earlier[-1]
    return None


def _growth_target(n: Number, figures: list[Candidate]) -> Candidate | None:
    """A growth rate qualifies the figure before it ("2.83亿，环比增长42.2%"), else the next;
    never a figure it is compared against ("较上季度的2.96亿环比增长5.4%")."""
    own = [c for c in figures if c.unit != "percent" and not c.reference]
    before = [c for c in own if c.end <= n.start]
    if before:
        return before[-1]
    after = [c for c in own if c.start >= n.end]
    return after[0] if after else None


def _joint_platforms(mentions: list[Mention], low: str, lo: int, hi: int) -> bool:
    """Two platforms named together for one figure in a clause ("WeChat and Alipay")."""
    plats = [m for m in mentions if m.kind == "platform" and lo <= m.start and m.end <= hi]
    for a, b in itertools.pairwise(plats):
        if a.key != b.key and _PLATFORM_AND.fullmatch(low[a.end : b.start]):
            return True
    return False


def dedupe(cands: list[Candidate]) -> list[Candidate]:
    """A figure repeated (captions, summaries) is proposed once, with its fullest keys."""

    def keys(c: Candidate) -> tuple:
        return tuple(m.key if m else None for m in (c.metric, c.segment, c.platform))

    out: list[Candidate] = []
    for c in cands:
        same = None
        for o in out:
            if (o.value, o.unit, o.period, o.qualifier) != (c.value, c.unit, c.period, c.qualifier):
                continue
            pairs = zip(
                (o.metric, o.segment, o.platform), (c.metric, c.segment, c.platform), strict=True
            )
            if all(_same_key(x, y) for x, y in pairs):
                same = o
                break
        if same is None:
            out.append(c)
            continue
        longer_new = any(
            x is not None and y is not None and x.new and y.new and len(y.key) > len(x.key)
            for x, y in zip((same.segment, same.metric), (c.segment, c.metric), strict=True)
        )
        if longer_new or sum(k is not None for k in keys(c)) > sum(
            k is not None for k in keys(same)
        ):
            out[out.index(same)] = c
        elif same.stated_pct is None and c.stated_pct is not None:
            same.stated_pct = c.stated_pct
    return out


def _same_key(x: Mention | None, y: Mention | None) -> bool:
    """Keys that can name one figure: equal, one unknown, or two proposed new keys where one
    is the end of the other (a table's "charging" and the text's "new energy vehicle
    charging")."""
    if x is None or y is None or x.key == y.key:
        return True
    if not (x.new and y.new):
        return False
    a, b = sorted((x.key, y.key), key=len)
    return b.endswith("_" + a)
