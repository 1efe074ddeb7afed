"""Whole replies, word for word, in both languages: the text a user quotes.

Each expected text was read against the report (figures, periods, source) before it was
written down; any change to headers, labels, notes or separators shows up here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.answer import ask
from bot.format import render_text
from bot.models import Answer, Note, Period, Query, Source

TODAY = dt.date(2026, 11, 26)
SOURCE_EN = (
    "Source: Q3 2019 Pan-Automotive Industry Mini Program Report, Aladdin Research Institute, "
    "released 2019-11-11"
)
SOURCE_ZH = "来源：2019年第三季度泛汽车行业小程序报告，阿拉丁研究院，2019-11-11发布"

REPLIES = {
    "pan-car users Q2 vs Q3": f"""Pan-automotive mini programs · users
• Q2 2019: 199 million users
• Q3 2019: 283 million users
Change Q2 2019 → Q3 2019: +42.2% (199 million → 283 million; the report states +42.2%)

{SOURCE_EN}""",
    "泛汽车用户 二季度和三季度对比": f"""泛汽车小程序 · 用户数
• 2019年第二季度：1.99亿人
• 2019年第三季度：2.83亿人
变化 2019年第二季度 → 2019年第三季度：+42.2%（1.99亿 → 2.83亿；报告称+42.2%）

{SOURCE_ZH}""",
    "wechat provinces vs alipay provinces": f"""Ride code (乘车码) WeChat · provinces covered
Q3 2019: 28 provinces

No period asked: showing the latest available (Q3 2019).
ride code Alipay: no provinces figure in the store.

{SOURCE_EN}""",
    "aftermarket MAU yoy": f"""Automotive aftermarket mini programs · monthly active users (MAU)
Q3 2019: 401,000 users (average per aftermarket mini program)

Year on year, from the latest quarter (Q3 2019).
No figure for Q3 2018, a year before Q3 2019: no year-on-year change.

{SOURCE_EN}""",
    "后市场月活 同比": f"""汽车后市场小程序 · 月活跃用户（月活）
2019年第三季度：40.1万人（单个后市场小程序平均）

同比，按最新季度（2019年第三季度）。
没有2018年第三季度（上年同期）的数据，无法计算同比。

{SOURCE_ZH}""",
    "aftermarket MAU QoQ": f"""Automotive aftermarket mini programs · monthly active users (MAU)
• Q2 2019: 431,300 users (average per aftermarket mini program)
• Q3 2019: 401,000 users (average per aftermarket mini program)
Change Q2 2019 → Q3 2019: -7.0% (431,300 → 401,000, average per aftermarket mini program)

No period asked: comparing the latest quarters (Q2 2019, Q3 2019).

{SOURCE_EN}""",
    "后市场月活 环比": f"""汽车后市场小程序 · 月活跃用户（月活）
• 2019年第二季度：43.13万人（单个后市场小程序平均）
• 2019年第三季度：40.1万人（单个后市场小程序平均）
变化 2019年第二季度 → 2019年第三季度：-7.0%（43.13万 → 40.1万，单个后市场小程序平均）

未指定时间，比较最近的季度（2019年第二季度、2019年第三季度）。

{SOURCE_ZH}""",
    # Two metrics: two blocks, each with its own change line.
    "aftermarket DAU and MAU QoQ": f"""Automotive aftermarket mini programs · daily active users (DAU)
• Q2 2019: 28,500 users (average per aftermarket mini program)
• Q3 2019: 27,200 users (average per aftermarket mini program)
Change Q2 2019 → Q3 2019: -4.6% (28,500 → 27,200, average per aftermarket mini program)

Automotive aftermarket mini programs · monthly active users (MAU)
• Q2 2019: 431,300 users (average per aftermarket mini program)
• Q3 2019: 401,000 users (average per aftermarket mini program)
Change Q2 2019 → Q3 2019: -7.0% (431,300 → 401,000, average per aftermarket mini program)

No period asked: comparing the latest quarters (Q2 2019, Q3 2019).

{SOURCE_EN}""",
    # Two platforms: each line names its platform.
    "ride code cities wechat vs alipay": f"""Ride code (乘车码) · cities covered
• WeChat, Q3 2019: over 120 cities
• Alipay, Q3 2019: over 200 cities

No period asked: showing the latest available (Q3 2019).

{SOURCE_EN}""",
    "乘车码城市 微信和支付宝对比": f"""乘车码 · 覆盖城市
• 微信，2019年第三季度：超过120个城市
• 支付宝，2019年第三季度：超过200个城市

未指定时间，显示最新数据（2019年第三季度）。

{SOURCE_ZH}""",
    # One platform: it is named in the heading.
    "支付宝乘车码城市": f"""乘车码 支付宝 · 覆盖城市
2019年第三季度：超过200个城市

未指定时间，显示最新数据（2019年第三季度）。

{SOURCE_ZH}""",
    "aftermarket DAU Q1 2019": """No figure for Q1 2019 in the store for Automotive aftermarket mini \
programs · DAU. The latest is Q3 2019.
Periods with figures: Q2 2019, Q3 2019
Try: aftermarket DAU 2019Q3""",
    "后市场日活 2019年第一季度": """没有2019年第一季度的数据：汽车后市场小程序 · 日活。最新数据为2019年第三季度。
已有数据的时间：2019年第二季度, 2019年第三季度
可以试试：后市场 日活 2019Q3""",
    "alipay ride code provinces": """No figure for “provinces” of Ride code (乘车码) Alipay in the \
store. Stored nearby: cities, users.
Try: ride code Alipay cities 2019Q3 · ride code Alipay users 2019Q3""",
    "支付宝乘车码省份": """没有乘车码 支付宝的“省份”数据。 现有相关数据：城市、用户。
可以试试：乘车码 支付宝 城市 2019Q3 · 乘车码 支付宝 用户 2019Q3""",
}


@pytest.mark.parametrize("question", list(REPLIES))
def test_whole_reply(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert render_text(a, fresh_db.vocabulary) == REPLIES[question]


def test_telegram_reply_is_html_with_bold_figures_and_italic_remarks(fresh_db) -> None:
    a = ask("aftermarket MAU QoQ", fresh_db, today=TODAY)
    assert render_text(a, fresh_db.vocabulary, html=True) == (
        "<b>Automotive aftermarket mini programs · monthly active users (MAU)</b>\n"
        "• Q2 2019: <b>431,300 users</b> (average per aftermarket mini program)\n"
        "• Q3 2019: <b>401,000 users</b> (average per aftermarket mini program)\n"
        "Change Q2 2019 → Q3 2019: <b>-7.0%</b> (431,300 → 401,000, average per aftermarket "
        "mini program)\n"
        "\n"
        "<i>No period asked: comparing the latest quarters (Q2 2019, Q3 2019).</i>\n"
        "\n"
        f"{SOURCE_EN}"
    )


def test_a_topic_answer_with_one_note_has_its_heading(fresh_db) -> None:
    # A report may give a market one characteristic only: the heading still comes from it.
    source = Source("s", "Report", "Research", "2020-02-01")
    note = Note(
        "aftermarket", Period(2019, 3), "characteristics", 1, "Fast growth.", "增长快。", source
    )
    answer = Answer(Query(text="q", lang="en"), "answered", notes=[note])
    assert render_text(answer, fresh_db.vocabulary).splitlines()[:2] == [
        "Automotive aftermarket mini programs: characteristics (Q3 2019)",
        "1. Fast growth.",
    ]
