"""Ingest with the files people really have, through `marketbot ingest`: sources that must not
change silently, misspelt keys, conflicting figures, encodings and separators, Excel's typed
cells and leftovers, size limits, the preview, and a store left byte-identical by every
rejection (issue 11 part 4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from bot import readers
from bot.cli import cli
from bot.db import open_store
from bot.ingest import plan_ingest
from bot.vocab import data_dir

HEADER = "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh"
NEW_SRC = "source_title,source_publisher,source_published"
SHIPPED_SRC = "aladdin-2019q3-pan-auto"


def run(*args: str):
    return CliRunner().invoke(cli, ["ingest", *args], catch_exceptions=False)


def ask_json(question: str) -> dict:
    out = CliRunner().invoke(cli, ["ask", "--json", question], catch_exceptions=False).output
    return json.loads(out)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store_file(db_path: Path) -> Path:
    """A built store, closed (checkpointed) so its file bytes can be compared."""
    open_store(db_path).close()
    return db_path


def csv_file(tmp_path: Path, lines: list[str], name: str = "figures.csv", **kw) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding=kw.get("encoding", "utf-8"))
    return path


# -- 1. no circular import; the answer path stays light ---------------------------------------


def test_store_builds_without_importing_ingest_pandas_or_sqlite_utils(tmp_path) -> None:
    code = (
        "import sys; from bot.db import open_store; import bot.answer, bot.cli\n"
        f"s = open_store({str(tmp_path / 'x.db')!r}); assert s.count_facts() == 14\n"
        "print(sorted(m for m in ('bot.ingest', 'pandas', 'sqlite_utils') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shipped_data_passes_ingest_validation(fresh_db) -> None:
    plan = plan_ingest(fresh_db, data_dir() / "facts.csv")
    assert plan.errors == [] and (plan.unchanged, plan.added, plan.updated) == (14, 0, 0)
    plan.discard()


# -- 3. existing sources cannot change silently ------------------------------------------------


def test_reusing_a_source_id_with_another_title_is_refused(store_file, tmp_path) -> None:
    path = csv_file(
        tmp_path,
        [
            f"{HEADER},{NEW_SRC}",
            f"users,pan_auto,,2019Q4,301000000,=,users,{SHIPPED_SRC},,,,Renamed,Someone,2019-11-11",
        ],
    )
    before = digest(store_file)
    result = run(str(path))
    assert result.exit_code == 1
    assert f"row 2: source '{SHIPPED_SRC}' already exists" in result.output
    assert "title 'Q3 2019 Pan-Automotive Industry Mini Program Report' → 'Renamed'" in (
        result.output
    )
    assert "--replace-source" in result.output
    assert digest(store_file) == before
    assert ask_json("aftermarket DAU Q3")["facts"][0]["source"]["title"].startswith("Q3 2019")

    replaced = run("--replace-source", str(path))
    assert replaced.exit_code == 0, replaced.output
    assert ask_json("aftermarket DAU Q3")["facts"][0]["source"]["publisher"] == "Someone"
    with sqlite3.connect(store_file) as conn:
        old = conn.execute("SELECT id, title, publisher, file FROM source_revisions").fetchall()
    assert old == [
        (
            SHIPPED_SRC,
            "Q3 2019 Pan-Automotive Industry Mini Program Report",
            "Aladdin Research Institute",
            "figures.csv",
        )
    ]


# -- 4. misspelt keys are refused; new keys are declared ---------------------------------------


def test_unknown_keys_are_refused_with_did_you_mean(store_file, tmp_path) -> None:
    src = "Report X,Publisher X,2020-02-01"
    path = csv_file(
        tmp_path,
        [
            f"{HEADER},{NEW_SRC}",
            f"userz,pan_auto,,2019Q4,1,=,users,x,,,,{src}",
            f"users,moonbase,,2019Q4,1,=,users,x,,,,{src}",
            f"users,pan_auto,wechatt,2019Q4,1,=,users,x,,,,{src}",
        ],
    )
    before = digest(store_file)
    result = run(str(path))
    assert result.exit_code == 1
    assert "row 2: userz: unknown metric; did you mean users?" in result.output
    assert "row 3: moonbase: unknown segment (a new one needs segment_en and segment_zh" in (
        result.output
    )
    assert "row 4: wechatt: unknown platform; did you mean wechat?" in result.output
    assert digest(store_file) == before

    # --new-keys takes them as they are.
    assert run("--new-keys", str(path)).exit_code == 0
    assert ask_json("moonbase users 2019Q4")["facts"][0]["value"] == 1


def test_declared_key_is_stored_with_names_and_askable_in_chinese(store_file, tmp_path) -> None:
    path = csv_file(
        tmp_path,
        [
            f"{HEADER},segment_en,segment_zh,{NEW_SRC},accept,evidence,confidence",
            "users,used_car,,2019Q4,5000000,>,users,uc,,,,Used cars,二手车,UC report,UC,"
            "2020-01-05,yes,page 3,0.9",
            "users,used_car,,2019Q3,9,=,users,uc,,,,,,UC report,UC,2020-01-05,no,,0.2",
            "mau,used_car,,2019Q4,300,=,users,uc,,,,,,UC report,UC,2020-01-05,,,",
        ],
    )
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "2 rows — 2 added, 0 updated, 0 unchanged, 1 skipped" in result.output
    assert "new segment: used_car (Used cars / 二手车)" in result.output
    zh = ask_json("二手车 用户")
    assert zh["status"] == "answered" and zh["facts"][0]["value"] == 5000000
    assert zh["facts"][0]["qualifier"] == ">" and zh["facts"][0]["period"] == "2019Q4"
    assert "二手车" in zh["text"]
    assert ask_json("used cars users")["facts"][0]["segment"] == "used_car"
    with sqlite3.connect(store_file) as conn:
        declared = "SELECT kind, key, en, zh FROM terms WHERE origin = 'file'"
        assert conn.execute(declared).fetchall() == [("segment", "used_car", "Used cars", "二手车")]
        periods = conn.execute("SELECT DISTINCT period FROM facts WHERE segment='used_car'")
        assert sorted(periods) == [("2019Q4",)]  # the accept=no row was left out


def test_accept_other_than_yes_or_no_is_refused_not_imported(store_file, tmp_path) -> None:
    """A curator who writes "n", 否 or "false" rejects the row; "nope" is refused, not read as yes."""
    src = "UC report,UC,2020-01-05"
    lines = [
        f"{HEADER},{NEW_SRC},accept",
        f"users,pan_auto,,2019Q4,5000000,=,users,uc,,,,{src},yes",
        f"mau,pan_auto,,2019Q4,11,=,users,uc,,,,{src},n",
        f"dau,pan_auto,,2019Q4,12,=,users,uc,,,,{src},否",
        f"mau,aftermarket,,2019Q4,13,=,users,uc,,,,{src},FALSE",
    ]
    before = digest(store_file)
    refused = run(
        str(csv_file(tmp_path, [*lines, f"dau,aftermarket,,2019Q4,14,=,users,uc,,,,{src},nope"]))
    )
    assert refused.exit_code == 1
    assert "row 6: accept must be yes or no, not 'nope'" in refused.output
    assert digest(store_file) == before
    result = run(str(csv_file(tmp_path, lines)))
    assert result.exit_code == 0, result.output
    assert "1 row — 1 added, 0 updated, 0 unchanged, 3 skipped" in result.output
    with sqlite3.connect(store_file) as conn:
        stored = conn.execute("SELECT value FROM facts WHERE source = 'uc'").fetchall()
    assert stored == [(5000000,)]


# -- 5. conflicting figures --------------------------------------------------------------------


def test_conflicting_sources_both_kept_newest_answered_other_named(store_file, tmp_path) -> None:
    path = csv_file(
        tmp_path,
        [
            f"{HEADER},{NEW_SRC}",
            "users,pan_auto,,2019Q3,301000000,=,users,research-a,,,,Research A,A Inc,2020-02-01",
        ],
    )
    result = run(str(path))
    assert result.exit_code == 0
    assert "1 row — 1 added" in result.output
    assert (
        "row 2: conflict: users of pan_auto in 2019Q3 is 301 million here, but Q3 2019 "
        "Pan-Automotive Industry Mini Program Report (2019-11-11) gives 283 million"
    ) in result.output
    obj = ask_json("pan-auto users Q3 2019")
    fact = obj["facts"][0]
    assert fact["value"] == 301000000 and fact["source"]["title"] == "Research A"
    assert [(a["value"], a["source"]["published"]) for a in fact["alternatives"]] == [
        (283000000, "2019-11-11")
    ]
    assert (
        "Also: Q3 2019 Pan-Automotive Industry Mini Program Report (2019-11-11) gives "
        "283 million users"
    ) in obj["text"]
    with sqlite3.connect(store_file) as conn:
        n = "SELECT count(*) FROM facts WHERE metric='users' AND segment='pan_auto' AND period='2019Q3'"
        assert conn.execute(n).fetchone() == (2,)


# -- 6. encodings and separators ---------------------------------------------------------------

ROWS_ZH = [
    f"{HEADER},{NEW_SRC}",
    "dau,aftermarket,,2019Q4,26900,=,users,zh-src,,平均,单个后市场小程序平均,中文报告,研究院,2020-02-01",
]


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("gb18030", ","), ("utf-16", "\t"), ("utf-8-sig", ";"), ("utf-8", ",")],
)
def test_chinese_exports_are_read(store_file, tmp_path, encoding, sep) -> None:
    lines = [line.replace(",", sep) for line in ROWS_ZH]
    path = tmp_path / "zh.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    result = run(str(path))
    assert result.exit_code == 0, result.output
    fact = ask_json("后市场 日活 2019Q4")["facts"][0]
    assert fact["value"] == 26900 and fact["note"] == "平均"
    assert fact["source"]["title"] == "中文报告"


def test_undecidable_file_is_refused_with_save_as_utf8(store_file, tmp_path) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes(range(128, 256)) * 8)
    before = digest(store_file)
    result = run(str(path))
    assert result.exit_code == 1
    assert "noise.csv:" in result.output and "save it as “CSV UTF-8”" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1
    assert digest(store_file) == before


# -- 7. Excel typed cells and leftovers --------------------------------------------------------


def workbook(path: Path, header: list[str], rows: list[list], *, sheet: str = "facts") -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    book.save(path)
    return path


XL_HEADER = [*HEADER.split(","), *NEW_SRC.split(",")]


def test_excel_percent_and_date_cells_are_read_by_type(store_file, tmp_path) -> None:
    path = tmp_path / "typed.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "facts"
    ws.append(XL_HEADER)
    ws.append(
        [
            "users",
            "pan_auto",
            None,
            "2019Q4",
            300000000,
            "=",
            "users",
            "xl",
            0.06,
            None,
            None,
            "XL Report",
            "XL",
            dt.datetime(2024, 5, 1),
        ]
    )
    ws["I2"].number_format = "0.0%"  # stated_pct 6.0%
    ws["N2"].number_format = "yyyy-mm-dd"
    for _ in range(3):  # Excel's leftovers: formatted but empty rows
        ws.append([None] * len(XL_HEADER))
    book.save(path)
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "1 row — 1 added" in result.output
    obj = ask_json("pan-auto users Q3 vs Q4 2019")
    q4 = next(f for f in obj["facts"] if f["period"] == "2019Q4")
    assert q4["source"]["published"] == "2024-05-01"
    assert "the report states +6.0%" in obj["text"]


def test_trailing_bare_commas_are_ignored(store_file, tmp_path) -> None:
    path = csv_file(
        tmp_path,
        [
            f"{HEADER},{NEW_SRC},,",
            "users,pan_auto,,2019Q4,301000000,=,users,s4,,,,Report 4,P,2020-02-01,,",
            ",,,,,,,,,,,,,,,",
            ",,,,,,,,,,,,,,,",
        ],
    )
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "1 row — 1 added" in result.output


def test_excel_leftovers_refused_clearly(store_file, tmp_path) -> None:
    before = digest(store_file)
    dup = workbook(
        tmp_path / "dup.xlsx", [*XL_HEADER, "Value"], [["users", "pan_auto", None, "2019Q4", 1]]
    )
    result = run(str(dup))
    assert result.exit_code == 1
    assert "dup.xlsx facts sheet: columns 'value' and 'Value' are the same column" in (
        result.output
    )
    nosheet = workbook(tmp_path / "nofacts.xlsx", XL_HEADER, [], sheet="Sheet1")
    book = openpyxl.load_workbook(nosheet)
    book.create_sheet("Notes")
    book.save(nosheet)
    result = run(str(nosheet))
    assert "nofacts.xlsx: no sheet named “facts” (it has: Sheet1, Notes)" in result.output
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    result = run(str(xls))
    assert (
        result.exit_code == 1
        and "old.xls:" in result.output
        and "save it as .xlsx" in (result.output)
    )
    assert "calamine" not in result.output
    assert digest(store_file) == before


# -- 8. size limits before reading it all ------------------------------------------------------


def test_zip_bomb_xlsx_fails_fast_without_unzipping(store_file, tmp_path) -> None:
    path = tmp_path / "bomb.xlsx"
    row = '<row><c t="inlineStr"><is><t>users</t></is></c></row>'
    xml = "<worksheet><sheetData>" + row * (53_000_000 // len(row)) + "</sheetData></worksheet>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", xml)
    assert path.stat().st_size < 400_000
    before = digest(store_file)
    result = run(str(path))
    assert result.exit_code == 1
    assert "bomb.xlsx: the workbook unpacks to 53 MB, over the 52 MB limit" in result.output
    assert digest(store_file) == before


def test_row_and_byte_limits(store_file, tmp_path, monkeypatch) -> None:
    lines = [f"{HEADER},{NEW_SRC}"] + [
        f"users,pan_auto,,{y}Q{q},1,=,users,lim,,,,L,P,2020-01-01"
        for y in range(2001, 2004)
        for q in range(1, 5)
    ]
    path = csv_file(tmp_path, lines)
    monkeypatch.setattr(readers, "MAX_ROWS", 10)
    result = run(str(path))
    assert result.exit_code == 1 and "figures.csv: more than 10 rows; split the file" in (
        result.output
    )
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    result = run(str(path))
    assert result.exit_code == 1 and "figures.csv: " in result.output
    assert "MB limit for one file; split it" in result.output


# -- 9. all or nothing, byte-identical ---------------------------------------------------------


def test_failure_part_way_through_the_write_rolls_back(store_file, tmp_path) -> None:
    with sqlite3.connect(store_file) as conn:  # the 5th new figure cannot be written
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON facts_all WHEN (SELECT count(*) FROM facts) >= 18 "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    conn.close()
    before = digest(store_file)
    lines = [f"{HEADER},{NEW_SRC}"] + [
        f"users,pan_auto,,{y}Q1,{y},=,users,partial,,,,P,P,2020-01-01" for y in range(2001, 2011)
    ]
    result = run(str(csv_file(tmp_path, lines)))
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: figures.csv: writing failed (disk says no); nothing was changed"
    )
    assert digest(store_file) == before
    with sqlite3.connect(store_file) as conn:
        assert conn.execute("SELECT count(*) FROM facts").fetchone() == (14,)
        assert conn.execute("SELECT count(*) FROM sources WHERE id='partial'").fetchone() == (0,)


# -- 11. the preview ---------------------------------------------------------------------------


def test_dry_run_previews_and_writes_nothing(store_file) -> None:
    sample = Path(__file__).resolve().parent.parent / "data" / "sample-ingest.csv"
    before = digest(store_file)
    result = run("--dry-run", str(sample))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "sample-ingest.csv: 3 rows — 3 added, 0 updated, 0 unchanged; new period: 2019Q4"
    )
    assert "row 2: pan_auto users 2019Q4 = 301 million users (sample-2019q4)" in result.output
    assert "(dry run: nothing was written)" in result.output
    assert digest(store_file) == before


def test_plan_then_apply_and_a_stale_plan_is_refused(fresh_db, tmp_path) -> None:
    from bot.ingest import IngestError, apply_ingest, ingest_file

    sample = Path(__file__).resolve().parent.parent / "data" / "sample-ingest.csv"
    plan = plan_ingest(fresh_db, sample)
    assert (plan.file, plan.rows, plan.added, plan.new_periods) == (
        "sample-ingest.csv",
        3,
        3,
        ["2019Q4"],
    )
    assert [s["row"] for s in plan.samples] == [2, 3, 4] and plan.errors == []
    assert fresh_db.count_facts() == 14  # planning wrote nothing
    other = csv_file(
        tmp_path,
        [f"{HEADER},{NEW_SRC}", "users,pan_auto,,2018Q4,1,=,users,o,,,,O,O,2019-01-01"],
    )
    ingest_file(fresh_db, other)  # the store moves on
    with pytest.raises(IngestError, match="the store changed since it was checked"):
        apply_ingest(fresh_db, plan)
    assert fresh_db.count_facts() == 15
    again = plan_ingest(fresh_db, sample)
    assert apply_ingest(fresh_db, again).added == 3 and fresh_db.count_facts() == 18
