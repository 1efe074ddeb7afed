"""Whole replies, word for word, in both languages: the text a user quotes.

Each expected text was read against the report (figures, periods, source) before it was
written down; any change to headers, labels, notes or separators shows up here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.answer import ask
from bot.format import render_text

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
}


@pytest.mark.parametrize("question", list(REPLIES))
def test_whole_reply(fresh_db, question: str) -> None:
    a = ask(question, fresh_db, today=TODAY)
    assert render_text(a, fresh_db.vocabulary) == REPLIES[question]
