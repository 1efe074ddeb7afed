"""`marketbot extract`: a report (txt, md, html, pdf, docx) → candidate figures for review."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

REPORTS = Path(__file__).parent / "reports"
SEED = REPORTS / "future-car-daily-2019-11-pan-auto-mini-programs.txt"
DATA = Path(__file__).resolve().parents[1] / "data"
JSON_KEYS = {
    "value",
    "qualifier",
    "unit",
    "period",
    "metric",
    "segment",
    "platform",
    "stated_pct",
    "evidence",
    "confidence",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def candidates(path: Path, *extra: str) -> list[dict]:
    result = run("extract", "--json", str(path), *extra)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def find(cands: list[dict], value: float) -> dict:
    hits = [c for c in cands if c["value"] == value]
    assert hits, f"no candidate with value {value}: {[c['value'] for c in cands]}"
    return hits[0]


def test_seed_proposes_every_curated_figure(db_path) -> None:
    cands = candidates(SEED)
    with (DATA / "facts.csv").open(encoding="utf-8") as fh:
        facts = list(csv.DictReader(fh))
    keys_right = 0
    for fact in facts:
        match = [
            c
            for c in cands
            if c["value"] == float(fact["value"])
            and c["qualifier"] == fact["qualifier"]
            and c["period"] == fact["period"]
            and c["unit"] == fact["unit"]
        ]
        assert match, f"missing {fact}"
        keys_right += any(
            (c["metric"], c["segment"], c["platform"] or "")
            == (fact["metric"], fact["segment"], fact["platform"])
            for c in match
        )
    assert keys_right >= 12
    assert set(cands[0]) == JSON_KEYS
    pan = find(cands, 283000000)
    assert pan["stated_pct"] == 42.2
    ev = pan["evidence"]
    assert ev["sentence"][ev["span"][0] : ev["span"][1]] == "283 million"
    assert "ro20110723" not in json.dumps(cands)  # the author's WeChat id is no figure


def test_seed_csv_is_an_ingest_file_that_answers(db_path, tmp_path) -> None:
    out = tmp_path / "candidates.csv"
    result = run("extract", str(SEED), "--csv", str(out))
    assert result.exit_code == 0
    assert "283 million" in result.stdout and "evidence" in result.stdout  # the review table
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"accept", "evidence", "source_title", "segment_en", "segment_zh"} <= set(rows[0])
    assert rows[0]["source_publisher"] == "Aladdin Research Institute"
    assert rows[0]["source_published"] == "2019-11-11"
    assert all(r["accept"] == "yes" for r in rows)
    # A separate store: the shipped one already holds these figures.
    other = tmp_path / "other.db"
    ing = run("ingest", "--db", str(other), str(out))
    assert ing.exit_code == 0, ing.output
    ans = run("ask", "--db", str(other), "--json", "wechat ride code cities")
    facts = json.loads(ans.stdout)["facts"]
    assert any(
        f["value"] == 120
        and f["qualifier"] == ">"
        and f["source"]["publisher"] == "Aladdin Research Institute"
        for f in facts
    )


CHINESE = """2019年第四季度泛汽车小程序报告

星图研究院 2020年2月18日发布

截至2019年第四季度，泛汽车小程序用户规模达到３.０１亿，环比增长6.4%。汽车后市场小程序月活跃用户约39.8万，日活跃用户近2.7万。

新能源汽车充电小程序用户超过三百万。微信乘车码覆盖200多个城市。

本次调研共访问了1,200名车主。参见第3页注[1]。
"""


def test_chinese_report_numbers_qualifiers_and_new_keys(db_path, tmp_path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(CHINESE, encoding="utf-8")
    cands = candidates(path)
    pan = find(cands, 301000000)  # full-width digits
    assert (pan["metric"], pan["segment"], pan["period"], pan["stated_pct"]) == (
        "users",
        "pan_auto",
        "2019Q4",
        6.4,
    )
    assert find(cands, 398000)["qualifier"] == "~"
    dau = find(cands, 27000)
    assert (dau["qualifier"], dau["metric"], dau["segment"]) == ("<", "dau", "aftermarket")
    charging = find(cands, 3000000)  # 三百万
    assert charging["qualifier"] == ">"
    assert charging["segment"] == "new_energy_vehicle_charging"
    assert charging["evidence"]["new_keys"]["segment"] == {
        "key": "new_energy_vehicle_charging",
        "en": "new energy vehicle charging",
        "zh": "新能源汽车充电",
    }
    cities = find(cands, 200)
    assert (cities["qualifier"], cities["platform"], cities["unit"]) == (">", "wechat", "cities")
    values = {c["value"] for c in cands}
    assert not values & {2019, 2020, 4, 2, 18, 3, 1}  # dates, quarter, page, footnote
    survey = [c for c in cands if c["value"] == 1200]
    assert all(c["confidence"] < 0.6 for c in survey)

    out = tmp_path / "c.csv"
    assert run("extract", str(path), "--csv", str(out)).exit_code == 0
    rows = {r["value"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows["3000000"]["segment_zh"] == "新能源汽车充电"
    assert rows["3000000"]["segment_en"] == "new energy vehicle charging"
    assert all(r["accept"] == "no" for v, r in rows.items() if v == "1200")


XLSX_COLUMNS = [  # the documented ingest columns, then the review and declaration columns
    "metric",
    "segment",
    "platform",
    "period",
    "value",
    "qualifier",
    "unit",
    "source",
    "stated_pct",
    "note",
    "note_zh",
    "accept",
    "confidence",
    "evidence",
    "evidence_page",
    "source_title",
    "source_publisher",
    "source_published",
    "metric_en",
    "metric_zh",
    "segment_en",
    "segment_zh",
    "platform_en",
    "platform_zh",
]


def test_xlsx_opens_and_round_trips_through_ingest(db_path, tmp_path) -> None:
    import openpyxl

    path = tmp_path / "report.txt"
    path.write_text(CHINESE, encoding="utf-8")
    out = tmp_path / "c.xlsx"
    result = run("extract", str(path), "--xlsx", str(out), "--publisher", "星图研究院")
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["facts"]
    values = list(book["facts"].iter_rows(values_only=True))
    assert list(values[0]) == XLSX_COLUMNS
    rows = [dict(zip(XLSX_COLUMNS, v, strict=True)) for v in values[1:]]
    by_value = {r["value"]: r for r in rows}
    pan = by_value[301000000]  # numbers are numbers in the sheet
    assert (pan["qualifier"], pan["period"], pan["stated_pct"], pan["accept"]) == (
        "=",
        "2019Q4",
        6.4,
        "yes",
    )
    assert "[３.０１亿]" in pan["evidence"]
    assert {r["source_publisher"] for r in rows} == {"星图研究院"}
    assert {r["source_published"] for r in rows} == {"2020-02-18"}
    assert by_value[3000000]["segment_zh"] == "新能源汽车充电"
    assert {r["accept"] for r in rows} <= {"yes", "no"}

    # The curator accepts every complete row and turns one down; ingest takes the file as is.
    ws = book["facts"]
    col = {name: i + 1 for i, name in enumerate(XLSX_COLUMNS)}
    for r in range(2, ws.max_row + 1):
        complete = all(ws.cell(r, col[c]).value for c in ("metric", "segment", "period"))
        ws.cell(r, col["accept"], "yes" if complete else "no")
        if ws.cell(r, col["value"]).value == 27000:
            ws.cell(r, col["accept"], "no")
    book.save(out)
    ing = run("ingest", str(out))
    assert ing.exit_code == 0, ing.output
    assert "4 rows — 4 added" in ing.output and "1 skipped" in ing.output
    answer = json.loads(run("ask", "--json", "新能源汽车充电 用户 2019年第四季度").stdout)
    assert answer["status"] == "answered"
    fact = answer["facts"][0]
    assert (fact["value"], fact["qualifier"], fact["period"]) == (3000000, ">", "2019Q4")
    assert fact["source"]["publisher"] == "星图研究院"
    dau = json.loads(run("ask", "--json", "aftermarket DAU 2019Q4").stdout)
    assert dau["status"] == "not_found"  # the row turned down was not stored


ENGLISH = """Q2 2020 Mini Program Report

Released by Yunshan Data on August 3, 2020.

In the second quarter, pan-car mini programs had 1,200 thousand daily active users, and Alipay's ride code reached 1.2k cities. Aftermarket mini programs had almost 400,000 monthly active users.
"""


def test_english_thousands_and_k(db_path, tmp_path) -> None:
    path = tmp_path / "r.md"
    path.write_text("# " + ENGLISH, encoding="utf-8")
    cands = candidates(path)
    assert find(cands, 1200000)["metric"] == "dau"
    cities = find(cands, 1200)
    assert (cities["unit"], cities["platform"], cities["period"]) == ("cities", "alipay", "2020Q2")
    assert find(cands, 400000)["qualifier"] == "<"  # "almost": just under


def _check_format(cands: list[dict], page: int | None = None) -> None:
    users = find(cands, 283000000)
    assert (users["metric"], users["segment"], users["period"]) == ("users", "pan_auto", "2019Q3")
    assert users["evidence"]["page"] == page


BODY = (
    "As of the third quarter of 2019, pan-car mini program users reached 283 million, "
    "up 42.2% from the second quarter."
)


def test_txt_md_html(db_path, tmp_path) -> None:
    (tmp_path / "a.txt").write_text(f"Q3 2019 report\n\n{BODY}\n", encoding="utf-8")
    (tmp_path / "a.md").write_text(f"# Q3 2019 report\n\n**{BODY}**\n", encoding="utf-8")
    html = (
        "<html><head><title>Q3 2019 report</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Q3 2019 report</h1><p>{BODY}</p><p>More text about the market "
        "and the quarter, long enough to be the main content of the page.</p></article>"
        "<footer>Copyright 2021</footer></body></html>"
    )
    (tmp_path / "a.html").write_text(html, encoding="utf-8")
    for name in ("a.txt", "a.md", "a.html"):
        _check_format(candidates(tmp_path / name))
        assert find(candidates(tmp_path / name), 283000000)["stated_pct"] == 42.2


def test_pdf_text_and_table_with_pages(db_path, tmp_path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Q3 2019 Mini Program Report")
    pdf.add_page()
    pdf.multi_cell(0, 6, BODY)
    with pdf.table() as table:
        for row in (
            ("Platform", "Ride code users", "Cities"),
            ("WeChat", "over 100 million", "120"),
        ):
            r = table.row()
            for cell in row:
                r.cell(cell)
    path = tmp_path / "r.pdf"
    pdf.output(str(path))
    cands = candidates(path)
    _check_format(cands, page=2)
    users = find(cands, 100000000)
    assert (users["qualifier"], users["segment"], users["platform"]) == (">", "ride_code", "wechat")
    cities = find(cands, 120)
    assert (cities["metric"], cities["platform"], cities["evidence"]["page"]) == (
        "cities",
        "wechat",
        2,
    )


def test_docx(db_path, tmp_path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Q3 2019 report", 0)
    d.add_paragraph(BODY)
    table = d.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Alipay ride code", "Cities"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Alipay ride code", "over 200"
    path = tmp_path / "r.docx"
    d.save(str(path))
    cands = candidates(path)
    _check_format(cands)
    cities = find(cands, 200)
    assert (cities["qualifier"], cities["metric"], cities["platform"]) == (">", "cities", "alipay")


def test_bad_input_one_line_errors(db_path, tmp_path) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "empty.txt").write_text("  \n\n ", encoding="utf-8")
    (tmp_path / "x.pptx").write_bytes(b"PK")
    (tmp_path / "bad.docx").write_bytes(b"not a zip")
    cases = {
        "missing.txt": "no such file",
        "x.pptx": "unsupported file type",
        "bad.pdf": "cannot read it as PDF",
        "bad.docx": "cannot read it as DOCX",
        "empty.txt": "no text found",
    }
    for name, words in cases.items():
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "extract", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, (name, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    usage = run("extract", str(SEED), "--published", "last week")
    assert usage.exit_code == 2


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, bot.cli; "
        "heavy = [m for m in ('pdfplumber', 'trafilatura', 'docx', 'cn2an') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_number_too_large_to_be_a_figure_is_no_candidate(db_path, tmp_path) -> None:
    """A 400-digit run (a pasted id, a hash) is read as no number: the review table and the
    CSV list the real figures, and the command does not fail."""
    path = tmp_path / "r.txt"
    path.write_text(f"Reference {'9' * 400}. {BODY}", encoding="utf-8")
    cands = candidates(path)
    assert all(c["value"] < 1e300 for c in cands)
    assert find(cands, 283000000)["period"] == "2019Q3"
    table = run("extract", str(path))
    assert table.exit_code == 0, table.output
    assert "283" in table.output and "unexpected" not in table.output
