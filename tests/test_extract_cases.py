"""`marketbot extract` on the kinds of sentence it used to get wrong with high confidence.

Each test writes a small report of its own (Chinese and English), runs `marketbot extract
--csv` as a curator would, and checks the rows: a figure either carries the right period,
metric, segment, platform and growth rate, or is not proposed (accept=no). A wrong label
proposed with accept=yes is the failure these tests guard against.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli


def extract_rows(tmp_path: Path, text: str, suffix: str = ".txt") -> list[dict[str, str]]:
    """The rows of the ingest CSV `marketbot extract` writes for a report with this text."""
    report = tmp_path / f"report{suffix}"
    report.write_text(text, encoding="utf-8")
    out = tmp_path / "candidates.csv"
    result = CliRunner().invoke(cli, ["extract", str(report), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rows_of(rows: list[dict[str, str]], value: float) -> list[dict[str, str]]:
    return [r for r in rows if float(r["value"]) == value]


def row(rows: list[dict[str, str]], value: float) -> dict[str, str]:
    hits = rows_of(rows, value)
    assert len(hits) == 1, f"{value}: {[(r['value'], r['evidence']) for r in rows]}"
    return hits[0]


def proposed(rows: list[dict[str, str]], value: float) -> list[dict[str, str]]:
    return [r for r in rows_of(rows, value) if r["accept"] == "yes"]


# 1. A quarter named earlier in the sentence wins over the report's quarter.


def test_earlier_quarter_in_the_sentence_wins_zh(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "2021年第三季度出行小程序报告\n\n"
        "三季度，共享单车小程序月活跃用户达到1.86亿；而在二季度，这一数字仅为1.42亿。\n\n"
        "去年同期，共享单车小程序月活跃用户为9,800万。上季度，共享单车小程序日活跃用户约2,300万。\n",
    )
    assert row(rows, 186000000)["period"] == "2021Q3"
    assert row(rows, 142000000)["period"] == "2021Q2"
    assert row(rows, 98000000)["period"] == "2020Q3"
    assert row(rows, 23000000)["period"] == "2021Q2"


def test_earlier_quarter_in_the_sentence_wins_en(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "Q3 2021 Mobility Mini Program Report\n\n"
        "In the third quarter, bike sharing mini programs had 64 million monthly active users, "
        "while in the first quarter the figure stood at only 51 million. A year earlier, bike "
        "sharing mini programs had 38 million monthly active users. In the previous quarter, "
        "bike sharing mini programs had about 9 million daily active users.\n",
    )
    assert row(rows, 64000000)["period"] == "2021Q3"
    assert row(rows, 51000000)["period"] == "2021Q1"
    assert row(rows, 38000000)["period"] == "2020Q3"
    assert row(rows, 9000000)["period"] == "2021Q2"


# 2. A figure for all mini programs has no segment, whatever the paragraph was about.


def test_all_industry_figure_has_no_segment_zh(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "2021年第二季度泛汽车小程序报告\n\n"
        "二季度泛汽车小程序用户规模达到2.1亿。同期，全行业小程序月活跃用户约9.6亿。"
        "所有小程序的日活跃用户超过4亿。\n",
    )
    assert row(rows, 210000000)["segment"] == "pan_auto"
    for value in (960000000, 400000000):
        r = row(rows, value)
        assert (r["segment"], r["accept"]) == ("", "no")


def test_all_industry_figure_has_no_segment_en(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "Q2 2021 Pan-Auto Mini Program Report\n\n"
        "Pan-car mini programs reached 210 million users in the second quarter. Across all mini "
        "programs, monthly active users stood at about 960 million. The industry as a whole had "
        "over 400 million daily active users.\n",
    )
    assert row(rows, 210000000)["segment"] == "pan_auto"
    for value in (960000000, 400000000):
        r = row(rows, value)
        assert (r["segment"], r["accept"]) == ("", "no")


# 3. One figure for two platforms together has no platform.


def test_combined_platforms_figure_has_no_platform(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "Q4 2020 Ride Code Report\n\n"
        "Together, WeChat and Alipay ride code users came to nearly 460 million. "
        "Alipay ride code covered over 210 cities.\n\n"
        "2020年第四季度乘车码报告\n\n"
        "微信与支付宝乘车码用户合计约5.2亿。两大平台的乘车码共覆盖超过330个城市。\n",
    )
    for value in (460000000, 520000000, 330):
        assert row(rows, value)["platform"] == "", value
    assert row(rows, 210)["platform"] == "alipay"


# 4. A table cell's metric comes from its own row and column, never from a neighbouring row.


def test_text_table_cell_metric_from_its_own_row(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "2020年第三季度零售小程序报告\n\n"
        "零售小程序核心数据如下：\n\n"
        "指标 | 数值\n"
        "单个小程序平均日活 | 近8,400\n"
        "接入城市 | 超过260个\n"
        "月活跃用户 | 1.3亿\n",
    )
    dau = row(rows, 8400)
    assert (dau["metric"], dau["qualifier"]) == ("dau", "<")
    cities = row(rows, 260)
    assert (cities["metric"], cities["qualifier"]) == ("cities", ">")
    assert row(rows, 130000000)["metric"] == "mau"


# 5. A platform is not carried over a semicolon or into an unrelated sentence.


def test_platform_not_carried_across_semicolon_or_sentence(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "2020年第三季度零售小程序报告\n\n"
        "微信零售小程序月活跃用户达到3.4亿；接入零售小程序的城市超过３００个。\n\n"
        "Q3 2020 Retail Mini Program Report\n\n"
        "Alipay retail mini programs had 150 million monthly active users. "
        "Retail mini programs were used in more than 280 cities.\n",
    )
    assert row(rows, 340000000)["platform"] == "wechat"
    assert row(rows, 150000000)["platform"] == "alipay"
    assert row(rows, 300)["platform"] == ""
    assert row(rows, 280)["platform"] == ""


# 6. A growth rate belongs to the current figure, never to the figure it grew from.


def test_growth_rate_on_the_current_figure_zh(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "2020年第二季度泛汽车小程序报告\n\n"
        "二季度泛汽车小程序用户规模达到3.12亿，较上季度的2.96亿环比增长5.4%。\n\n"
        "汽车后市场小程序月活跃用户为2,630万；上一季度为2,150万，环比增长22.3%。\n",
    )
    now = row(rows, 312000000)
    assert (now["stated_pct"], now["period"]) == ("5.4", "2020Q2")
    before = row(rows, 296000000)
    assert (before["stated_pct"], before["period"]) == ("", "2020Q1")
    assert row(rows, 26300000)["stated_pct"] == "22.3"
    assert row(rows, 21500000)["stated_pct"] == ""
    assert row(rows, 21500000)["period"] == "2020Q1"
    assert not rows_of(rows, 5.4) and not rows_of(rows, 22.3)


def test_growth_rate_after_the_figure_en_and_table_column(db_path, tmp_path) -> None:
    text = (
        "# Q3 2020 Aftermarket Mini Program Report\n\n"
        "Aftermarket mini programs averaged 26,100 daily active users, a rebound of 6.5% QoQ.\n\n"
        "| Market | MAU | QoQ |\n"
        "| --- | --- | --- |\n"
        "| Pan-car mini programs | 318 million | +8.6% |\n"
    )
    rows = extract_rows(tmp_path, text, ".md")
    assert row(rows, 26100)["stated_pct"] == "6.5"
    assert row(rows, 318000000)["stated_pct"] == "8.6"
    assert not rows_of(rows, 6.5) and not rows_of(rows, 8.6)


# 7. Numbers in names, counts of other things and duplicates are not proposed.


def test_numbers_in_names_and_counts_are_not_proposed(db_path, tmp_path) -> None:
    rows = extract_rows(
        tmp_path,
        "Q4 2020 Retail Mini Program Report\n\n"
        "During Double 11, retail mini programs had 420 million users (see Figure 4 and Section 5). "
        "Shanghai's 19 metro lines accept Alipay ride code. The two platforms together serve "
        "retail mini programs in over 300 cities.\n\n"
        "2020年第四季度零售小程序报告\n\n"
        "如表1所示，零售小程序用户达到4.4亿。双11期间零售小程序月活跃用户约3.9亿。"
        "零售小程序前10名中有7席来自微信，其余3家来自支付宝。\n",
    )
    assert proposed(rows, 420000000) and proposed(rows, 440000000)
    for value in (11, 4, 5, 19, 2, 1, 10, 7, 3):
        assert not proposed(rows, value), (value, rows_of(rows, value))


def test_table_and_prose_give_one_candidate(db_path, tmp_path) -> None:
    text = (
        "# 2020年第四季度新能源汽车报告\n\n"
        "新能源汽车充电小程序月活跃用户约760万。\n\n"
        "| 细分 | 月活跃用户 |\n"
        "| --- | --- |\n"
        "| 充电小程序 | 约760万 |\n"
    )
    rows = extract_rows(tmp_path, text, ".md")
    assert len(rows_of(rows, 7600000)) == 1
    assert row(rows, 7600000)["segment"] == "new_energy_vehicle_charging"


# The Chinese PDF: fpdf2 writes it with the CJK font the charts use (a face of a .ttc).


def test_chinese_pdf(db_path, tmp_path) -> None:
    from fpdf import FPDF

    from bot.fonts import cjk_font_file

    font = cjk_font_file()
    if font is None:
        pytest.skip("no CJK font installed")
    pdf = FPDF()
    pdf.add_font("cjk", fname=str(font), collection_font_number=0)
    pdf.set_font("cjk", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 8, new_x="LMARGIN", new_y="NEXT", text="2020年第二季度汽车后市场小程序报告")
    pdf.add_page()
    pdf.multi_cell(
        0,
        8,
        new_x="LMARGIN",
        new_y="NEXT",
        text="二季度汽车后市场小程序月活跃用户达到2,630万，环比增长22.3%。",
    )
    pdf.multi_cell(0, 8, new_x="LMARGIN", new_y="NEXT", text="支付宝乘车码覆盖超过210个城市。")
    path = tmp_path / "report.pdf"
    pdf.output(str(path))
    out = tmp_path / "c.csv"
    result = CliRunner().invoke(cli, ["extract", str(path), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    mau = row(rows, 26300000)
    assert (mau["metric"], mau["segment"], mau["period"]) == ("mau", "aftermarket", "2020Q2")
    assert (mau["stated_pct"], mau["evidence_page"], mau["accept"]) == ("22.3", "2", "yes")
    cities = row(rows, 210)
    assert (cities["qualifier"], cities["platform"], cities["metric"]) == (">", "alipay", "cities")
